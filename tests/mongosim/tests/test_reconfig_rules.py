"""Fidelity tests for reconfig rules whose details come from MongoDB's source:
the PSA rule, the automatic newlyAdded removal, default write concern checks,
the generic maxTimeMS argument and the prompt election of a one-member set."""

import json

from conftest import FAST, direct, error_of, primary_of, state_of, wait_for

PSA_MESSAGE = ("Rejecting reconfig where the new config has a PSA topology and the secondary is electable, but the "
               "old config contains only one writable node. Refer to https://docs.mongodb.com/manual/reference/"
               "method/rs.reconfigForPSASet/ for next steps on reconfiguring a PSA set.")


def config_of(host, **kwargs):
    return direct(host).admin.command("replSetGetConfig", **kwargs)["config"]


def reconfig(host, config, **kwargs):
    return direct(host).admin.command("replSetReconfig", config, **kwargs)


def member_status(host, member_id):
    status = direct(host).admin.command("replSetGetStatus")
    return next(m for m in status["members"] if m["_id"] == member_id)


def log_lines(host, log_id):
    lines = direct(host).admin.command("getLog", "global")["log"]
    return [entry for entry in (json.loads(line) for line in lines) if entry["id"] == log_id]


def auto_removals(host):
    metrics = direct(host).admin.command("serverStatus")["metrics"]
    return metrics["repl"]["reconfig"]["numAutoReconfigsForRemovalOfNewlyAddedFields"]


def test_psa_rule_counts_base_votes_and_priorities(make_cluster):
    """reconfig_fails_for_psa_set_shell.js: from P+A, adding S with votes 1 and priority 1
    is refused (force or not); with priority 0 it is accepted, and raising its priority
    afterwards is accepted too. S enters as newlyAdded, which must not hide its priority."""
    cluster = make_cluster(3)
    p, s, a = cluster.hosts
    direct(p).admin.command("replSetInitiate", {"_id": "rs0", "settings": FAST, "members": [
        {"_id": 0, "host": p}, {"_id": 2, "host": a, "arbiterOnly": True}]})
    assert primary_of([p]) == p
    wait_for(lambda: state_of(a) == 7, what="the arbiter")
    base = config_of(p)

    electable = dict(base, version=base["version"] + 1, members=base["members"] + [{"_id": 1, "host": s}])
    code, msg = error_of(lambda: reconfig(p, electable))
    assert (code, msg) == (103, PSA_MESSAGE)
    code, msg = error_of(lambda: reconfig(p, electable, force=True))
    assert (code, msg) == (103, PSA_MESSAGE)
    assert config_of(p)["version"] == base["version"]

    not_electable = dict(base, version=base["version"] + 1,
                         members=base["members"] + [{"_id": 1, "host": s, "votes": 1, "priority": 0}])
    assert reconfig(p, not_electable)["ok"] == 1.0

    raised = config_of(p)
    raised["version"] += 1
    next(m for m in raised["members"] if m["_id"] == 1)["priority"] = 1
    assert reconfig(p, raised)["ok"] == 1.0
    assert next(m for m in config_of(p)["members"] if m["_id"] == 1)["priority"] == 1.0


def test_newly_added_stays_until_the_implicit_write_concern_may_change(make_cluster):
    """_reconfigToRemoveNewlyAddedField goes through doReplSetReconfig(force=false): in P,S,S,A
    (implicit w:1) a fifth, data-bearing voter keeps newlyAdded, retried on every heartbeat,
    because clearing it would make the implicit default majority; once a cluster-wide write
    concern is set the next attempt removes it, with one automatic reconfig."""
    cluster = make_cluster(5, parameters={"enableTestCommands": 1})
    hosts = cluster.hosts
    members = [{"_id": i, "host": h} for i, h in enumerate(hosts[:3])] + [
        {"_id": 3, "host": hosts[3], "arbiterOnly": True}]
    direct(hosts[0]).admin.command("replSetInitiate", {"_id": "rs0", "members": members, "settings": FAST})
    primary = primary_of(hosts[:3])
    defaults = direct(primary).admin.command("getDefaultRWConcern")
    assert (defaults["defaultWriteConcern"]["w"], defaults["defaultWriteConcernSource"]) == (1, "implicit")

    config = config_of(primary)
    version = config["version"] + 1
    config["version"] = version
    config["members"].append({"_id": 4, "host": hosts[4]})
    assert reconfig(primary, config)["ok"] == 1.0

    wait_for(lambda: member_status(primary, 4)["stateStr"] == "SECONDARY", what="the new member to be SECONDARY")
    wait_for(lambda: len([e for e in log_lines(primary, 4634505) if e["attr"]["memberId"] == 4]) >= 3,
             what="repeated automatic attempts to remove newlyAdded")
    stored = config_of(primary, **{"$_internalIncludeNewlyAdded": True})
    assert stored["version"] == version
    assert next(m for m in stored["members"] if m["_id"] == 4).get("newlyAdded") is True
    assert direct(primary).admin.command("replSetGetStatus")["votingMembersCount"] == 4
    assert auto_removals(primary) == 0
    assert direct(primary).admin.command("getDefaultRWConcern")["defaultWriteConcern"]["w"] == 1

    direct(primary).admin.command("setDefaultRWConcern", defaultWriteConcern={"w": "majority"})
    wait_for(lambda: direct(primary).admin.command("replSetGetStatus")["votingMembersCount"] == 5,
             what="newlyAdded removal once a cluster-wide write concern is set")
    assert config_of(primary)["version"] == version + 1
    assert auto_removals(primary) == 1
    assert log_lines(primary, 4634504)[-1]["attr"] == {"memberId": 4}


def test_default_write_concern_must_name_a_mode_of_the_config(make_cluster):
    cluster = make_cluster(3)
    members = [{"_id": i, "host": h, "tags": {"dc": "dc%d" % i}} for i, h in enumerate(cluster.hosts)]
    settings = dict(FAST, getLastErrorModes={"twoDCs": {"dc": 2}})
    direct(cluster.hosts[0]).admin.command("replSetInitiate", {"_id": "rs0", "members": members,
                                                               "settings": settings})
    primary = primary_of(cluster.hosts)
    admin = direct(primary).admin

    code, msg = error_of(lambda: admin.command("setDefaultRWConcern", defaultWriteConcern={"w": "noSuchMode"}))
    assert (code, msg) == (79, "No write concern mode named 'noSuchMode' found in replica set configuration")
    assert admin.command("getDefaultRWConcern")["defaultWriteConcernSource"] == "implicit"

    reply = admin.command("setDefaultRWConcern", defaultWriteConcern={"w": "twoDCs"})
    assert reply["defaultWriteConcern"]["w"] == "twoDCs"
    assert direct(primary).test.c.insert_one({"x": 1}).acknowledged

    config = config_of(primary)
    config["version"] += 1
    config["settings"]["getLastErrorModes"] = {}
    code, msg = error_of(lambda: reconfig(primary, config))
    assert code == 103
    assert msg.startswith("May not remove custom write concern definition from config while it is in use as the "
                          "default write concern.")


def test_max_time_ms_is_checked_before_the_command_runs(rs3):
    primary = primary_of(rs3.hosts)
    config = config_of(primary)
    version = config["version"]
    config["version"] += 1
    config["settings"]["chainingAllowed"] = False
    code, msg = error_of(lambda: reconfig(primary, config, maxTimeMS=-1))
    assert (code, msg) == (2, "-1 value for maxTimeMS is out of range")
    assert config_of(primary)["version"] == version

    admin = direct(primary).admin
    for value, message in [(-5, "-5 value for maxTimeMS is out of range"),
                           (2 ** 31, "2147483648 value for maxTimeMS is out of range"),
                           (1.5, "maxTimeMS has non-integral value"),
                           ("10", "maxTimeMS must be a number")]:
        code, msg = error_of(lambda v=value: admin.command("ping", maxTimeMS=v))
        assert (code, msg) == (2, message)
    assert admin.command("ping", maxTimeMS=0)["ok"] == 1.0
    assert admin.command("ping", maxTimeMS=1000.0)["ok"] == 1.0


def test_member_left_alone_by_a_force_reconfig_elects_itself_at_once(make_cluster):
    """_setCurrentRSConfig starts an election when the installed config is an electable
    one-member set, instead of waiting for the (here one minute) election timeout."""
    cluster = make_cluster(3)
    settings = {"electionTimeoutMillis": 60000, "heartbeatIntervalMillis": 300}
    direct(cluster.hosts[0]).admin.command("replSetInitiate", cluster.initiate_config(**settings))
    wait_for(lambda: state_of(cluster.hosts[0]) == 2, what="SECONDARY before stepping up")
    wait_for(lambda: direct(cluster.hosts[0]).admin.command("replSetStepUp")["ok"] == 1.0, what="step-up")
    primary = primary_of(cluster.hosts)
    survivor = next(h for h in cluster.hosts if h != primary)
    wait_for(lambda: state_of(survivor) == 2, what="the survivor to be SECONDARY")
    for member in cluster.members:
        if member.host != survivor:
            member.kill()

    config = config_of(survivor)
    config["version"] += 1
    config["members"] = [m for m in config["members"] if m["host"] == survivor]
    assert reconfig(survivor, config, force=True)["ok"] == 1.0
    wait_for(lambda: direct(survivor).admin.command("hello")["isWritablePrimary"], timeout=20.0,
             what="the lone member to elect itself well before its 60 s election timeout")


def test_fail_point_keeps_newly_added(make_cluster):
    """doNotRemoveNewlyAddedOnHeartbeats (replication_coordinator_impl.cpp) stops the automatic
    removal; turned off, the next heartbeat removes the flag."""
    cluster = make_cluster(4, parameters={"enableTestCommands": 1})
    hosts = cluster.hosts
    direct(hosts[0]).admin.command("replSetInitiate", {"_id": "rs0", "settings": FAST, "members": [
        {"_id": i, "host": h} for i, h in enumerate(hosts[:3])]})
    primary = primary_of(hosts[:3])
    admin = direct(primary).admin
    admin.command("configureFailPoint", "doNotRemoveNewlyAddedOnHeartbeats", mode="alwaysOn")
    config = config_of(primary)
    config["version"] += 1
    config["members"].append({"_id": 3, "host": hosts[3]})
    reconfig(primary, config)
    wait_for(lambda: len([e for e in log_lines(primary, 4709200) if e["attr"]["memberId"] == 3]) >= 2,
             what="the fail point to stop the removal")
    assert member_status(primary, 3)["stateStr"] == "SECONDARY"
    assert admin.command("replSetGetStatus")["votingMembersCount"] == 3
    admin.command("configureFailPoint", "doNotRemoveNewlyAddedOnHeartbeats", mode="off")
    wait_for(lambda: admin.command("replSetGetStatus")["votingMembersCount"] == 4, what="the removal")
    assert auto_removals(primary) == 1
