"""tests/mongosim/SEMANTICS.md section 12, row by row: what each command answers in each
situation (codes, names and message gist as mongod sends them)."""

import threading

import pytest
from bson.objectid import ObjectId
from pymongo.errors import OperationFailure

from conftest import FAST, direct, error_of, free_ports, primary_of, wait_for


def config_of(host):
    return direct(host).admin.command("replSetGetConfig")["config"]


def reconfig(host, config, **kwargs):
    return direct(host).admin.command("replSetReconfig", config, **kwargs)


def secondary_of(cluster, primary):
    return next(h for h in cluster.hosts if h != primary)


def test_hello_before_initiate_is_the_ghost_shape(make_cluster):
    cluster = make_cluster(1)
    hello = direct(cluster.hosts[0]).admin.command("hello")
    assert list(hello)[:5] == ["topologyVersion", "isWritablePrimary", "secondary", "info", "isreplicaset"]
    assert hello["isWritablePrimary"] is False and hello["secondary"] is False
    assert hello["info"] == "Does not have a valid replica set config"
    assert hello["isreplicaset"] is True
    assert "setName" not in hello and "hosts" not in hello and "me" not in hello
    legacy = direct(cluster.hosts[0]).admin.command("isMaster")
    assert legacy["ismaster"] is False and "isWritablePrimary" not in legacy


@pytest.mark.parametrize("command", ["replSetGetStatus", "replSetGetConfig"])
def test_status_and_config_before_initiate(command, make_cluster):
    cluster = make_cluster(1)
    code, msg = error_of(lambda: direct(cluster.hosts[0]).admin.command(command))
    assert (code, msg) == (94, "no replset config has been received")


@pytest.mark.parametrize("command", ["replSetGetStatus", "replSetGetConfig", "replSetFreeze", "replSetStepDown"])
def test_repl_commands_on_a_standalone(command, make_cluster):
    cluster = make_cluster(1, repl_set=None)
    code, msg = error_of(lambda: direct(cluster.hosts[0]).admin.command(command, 1))
    assert (code, msg) == (76, "not running with --replSet")
    hello = direct(cluster.hosts[0]).admin.command("hello")
    assert hello["isWritablePrimary"] is True and "setName" not in hello and "isreplicaset" not in hello


def test_initiate_twice(rs3):
    primary = primary_of(rs3.hosts)
    for host in rs3.hosts:
        code, msg = error_of(lambda h=host: direct(h).admin.command("replSetInitiate", rs3.initiate_config()))
        assert (code, msg) == (23, "already initialized")
    assert primary_of(rs3.hosts) == primary


def test_initiate_without_arguments_uses_a_default_config(make_cluster):
    cluster = make_cluster(1)
    reply = direct(cluster.hosts[0]).admin.command("replSetInitiate")
    assert reply["info2"] == "no configuration specified. Using a default configuration for the set"
    assert reply["me"] == cluster.hosts[0]
    config = config_of(cluster.hosts[0])
    assert [m["host"] for m in config["members"]] == [cluster.hosts[0]]
    wait_for(lambda: direct(cluster.hosts[0]).admin.command("hello")["isWritablePrimary"], what="self-election")


def test_initiate_with_another_set_name(make_cluster):
    cluster = make_cluster(1)
    config = cluster.initiate_config()
    config["_id"] = "other"
    code, msg = error_of(lambda: direct(cluster.hosts[0]).admin.command("replSetInitiate", config))
    assert code == 93
    assert "Rejecting initiate with a set name that differs from command line set name, initiate set name: other, " \
           "command line set name: rs0" == msg


def test_initiate_config_lacking_self(make_cluster):
    cluster = make_cluster(2)
    config = {"_id": "rs0", "members": [{"_id": 0, "host": cluster.hosts[1]}]}
    code, msg = error_of(lambda: direct(cluster.hosts[0]).admin.command("replSetInitiate", config))
    assert code == 93
    assert msg.startswith("No host described in new configuration with {version: 1, term: 0} for replica set rs0 "
                          "maps to this node")


def test_initiate_with_an_unreachable_member(make_cluster):
    cluster = make_cluster(1)
    dead = "127.0.0.1:%d" % free_ports(1)[0]
    config = {"_id": "rs0", "members": [{"_id": 0, "host": cluster.hosts[0]}, {"_id": 1, "host": dead}]}
    code, msg = error_of(lambda: direct(cluster.hosts[0]).admin.command("replSetInitiate", config))
    assert code == 74
    assert msg.startswith("replSetInitiate quorum check failed because not all proposed set members responded "
                          "affirmatively: %s failed with" % dead)
    code, _errmsg = error_of(lambda: direct(cluster.hosts[0]).admin.command("replSetGetStatus"))
    assert code == 94


def test_initiate_eight_voters(make_cluster):
    cluster = make_cluster(1)
    members = [{"_id": 0, "host": cluster.hosts[0]}] + [
        {"_id": i, "host": "127.0.0.1:%d" % (40000 + i)} for i in range(1, 8)]
    code, msg = error_of(lambda: direct(cluster.hosts[0]).admin.command(
        "replSetInitiate", {"_id": "rs0", "members": members}))
    assert code == 93
    assert msg == "Replica set configuration contains 8 voting members, but must be at least 1 and no more than 7"


@pytest.mark.parametrize("member, message", [
    ({"priority": 1, "hidden": True}, "priority must be 0 when hidden=true"),
    ({"votes": 0}, "priority must be 0 when non-voting (votes:0)"),
    ({"secondaryDelaySecs": 10}, "priority must be 0 when secondaryDelaySecs is used"),
    ({"buildIndexes": False}, "priority must be 0 when buildIndexes=false"),
    ({"slaveDelay": 10, "priority": 0}, "BSON field 'MemberConfig.slaveDelay' is an unknown field."),
    ({"arbiterOnly": True, "votes": 0}, "Arbiter must vote (cannot have 0 votes)"),
    ({"tags": {"dc": 1}}, "tags.dc field has non-string value of type int"),
    ({"votes": 2}, "votes field value is 2 but must be 0 or 1"),
])
def test_initiate_member_rules(member, message, make_cluster):
    cluster = make_cluster(2)
    second = dict({"_id": 1, "host": cluster.hosts[1]}, **member)
    config = {"_id": "rs0", "members": [{"_id": 0, "host": cluster.hosts[0]}, second]}
    code, msg = error_of(lambda: direct(cluster.hosts[0]).admin.command("replSetInitiate", config))
    assert code == 93
    assert message in msg


def test_initiate_localhost_mixing(make_cluster):
    cluster = make_cluster(1)
    config = {"_id": "rs0", "members": [{"_id": 0, "host": cluster.hosts[0]}, {"_id": 1, "host": "db2.example:27017"}]}
    code, msg = error_of(lambda: direct(cluster.hosts[0]).admin.command("replSetInitiate", config))
    assert code == 93
    assert msg == "Either all host names in a replica set configuration must be localhost references, or none " \
                  "must be; found 1 out of 2"


def test_reconfig_on_a_secondary(rs3):
    primary = primary_of(rs3.hosts)
    secondary = secondary_of(rs3, primary)
    config = config_of(primary)
    config["version"] += 1
    code, msg = error_of(lambda: reconfig(secondary, config))
    assert code == 10107
    assert "replSetReconfig should only be run on a writable PRIMARY. Current state SECONDARY" in msg


def test_reconfig_with_the_same_version(rs3):
    primary = primary_of(rs3.hosts)
    config = config_of(primary)
    code, msg = error_of(lambda: reconfig(primary, config))
    assert code == 103
    assert msg.startswith("New replica set configuration version and term must be greater than old, but {version: 1, "
                          "term: ")


def test_reconfig_removing_two_voters(make_cluster):
    cluster = make_cluster(5)
    direct(cluster.hosts[0]).admin.command("replSetInitiate", cluster.initiate_config(**FAST))
    primary = primary_of(cluster.hosts)
    config = config_of(primary)
    config["version"] += 1
    config["members"] = [m for m in config["members"] if m["host"] == primary][:1] + \
        [m for m in config["members"] if m["host"] != primary][:2]
    code, msg = error_of(lambda: reconfig(primary, config))
    assert (code, msg) == (103, "Non force replica set reconfig can only add or remove at most 1 voting member.")
    assert len(config_of(primary)["members"]) == 5


def test_reconfig_adding_two_new_voters(make_cluster):
    cluster = make_cluster(5)
    config = {"_id": "rs0", "members": [{"_id": i, "host": h} for i, h in enumerate(cluster.hosts[:3])],
              "settings": FAST}
    direct(cluster.hosts[0]).admin.command("replSetInitiate", config)
    primary = primary_of(cluster.hosts[:3])
    config = config_of(primary)
    version = config["version"]
    config["version"] += 1
    config["members"] += [{"_id": 3, "host": cluster.hosts[3]}, {"_id": 4, "host": cluster.hosts[4]}]
    assert reconfig(primary, config)["ok"] == 1.0
    stored = config_of(primary)
    assert "newlyAdded" not in str(stored)  # replSetGetConfig hides it
    assert stored["version"] == version + 1
    status = direct(primary).admin.command("replSetGetStatus")
    assert status["votingMembersCount"] in (3, 4, 5)
    wait_for(lambda: direct(primary).admin.command("replSetGetStatus")["votingMembersCount"] == 5,
             what="newlyAdded members to be promoted")
    # One automatic reconfig per member (_reconfigToRemoveNewlyAddedField removes one member's
    # flag), each bumping the version by one.
    assert config_of(primary)["version"] == version + 3
    metrics = direct(primary).admin.command("serverStatus")["metrics"]
    assert metrics["repl"]["reconfig"]["numAutoReconfigsForRemovalOfNewlyAddedFields"] == 2


def test_add_one_voter_like_rs_add(make_cluster):
    cluster = make_cluster(4)
    config = {"_id": "rs0", "members": [{"_id": i, "host": h} for i, h in enumerate(cluster.hosts[:3])],
              "settings": FAST}
    direct(cluster.hosts[0]).admin.command("replSetInitiate", config)
    primary = primary_of(cluster.hosts[:3])
    config = config_of(primary)
    version = config["version"]
    config["version"] += 1
    config["members"].append({"_id": 3, "host": cluster.hosts[3]})
    reconfig(primary, config)
    assert config_of(primary)["version"] == version + 1
    wait_for(lambda: config_of(primary)["version"] == version + 2, what="automatic newlyAdded removal")
    assert direct(primary).admin.command("replSetGetStatus")["votingMembersCount"] == 4
    assert direct(cluster.hosts[3]).admin.command("replSetGetStatus")["myState"] == 2


def test_reconfig_making_the_primary_priority_0(rs3):
    primary = primary_of(rs3.hosts)
    config = config_of(primary)
    config["version"] += 1
    me = next(m for m in config["members"] if m["host"] == primary)
    me["priority"] = 0
    code, msg = error_of(lambda: reconfig(primary, config))
    assert code == 104
    assert msg.startswith("This node, %s, with _id %d is not electable under the new configuration" % (primary,
                                                                                                       me["_id"]))


def test_force_reconfig_on_a_secondary(rs3):
    primary = primary_of(rs3.hosts)
    secondary = secondary_of(rs3, primary)
    config = config_of(secondary)
    old_version = config["version"]
    config["version"] += 1
    for m in config["members"]:
        if m["host"] == primary:
            m["priority"] = 0.5
    assert reconfig(secondary, config, force=True)["ok"] == 1.0
    stored = config_of(secondary)
    assert old_version + 10001 <= stored["version"] <= old_version + 1 + 10000 + 99999
    assert "term" not in stored


def test_reconfig_during_another_reconfig(rs3):
    """A member that accepts connections but never answers keeps the first
    reconfig in its quorum check; a second one meanwhile gets 109."""
    import socket
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    silent = "127.0.0.1:%d" % listener.getsockname()[1]
    primary = primary_of(rs3.hosts)
    try:
        config = config_of(primary)
        config["version"] += 1
        config["members"].append({"_id": 9, "host": silent, "priority": 0, "votes": 0})
        errors = []

        def first():
            try:
                reconfig(primary, config)
            except OperationFailure as exc:
                errors.append(exc.code)

        thread = threading.Thread(target=first)
        thread.start()
        listener.settimeout(10)
        accepted, _address = listener.accept()  # the first reconfig's quorum check is now waiting on us
        second = config_of(primary)
        second["version"] += 1
        code, msg = error_of(lambda: reconfig(primary, second))
        assert code == 109
        assert msg == "Cannot run replSetReconfig because the node is currently updating its configuration"
        accepted.close()
        thread.join(30)
        assert not thread.is_alive()
    finally:
        listener.close()


def test_reconfig_times_out_propagating_then_next_one_is_not_committed(make_cluster):
    cluster = make_cluster(3, parameters={"enableTestCommands": 1})
    direct(cluster.hosts[0]).admin.command("replSetInitiate", cluster.initiate_config(**FAST))
    primary = primary_of(cluster.hosts)
    for host in cluster.hosts:
        if host != primary:
            direct(host).admin.command("configureFailPoint", "blockHeartbeatReconfigFinish", mode="alwaysOn")
    config = config_of(primary)
    config["version"] += 1
    config["settings"]["chainingAllowed"] = False
    code, msg = error_of(lambda: reconfig(primary, config, maxTimeMS=1000))
    assert code == 50
    assert msg.startswith("Reconfig finished but failed to propagate to a majority")
    assert config_of(primary)["settings"]["chainingAllowed"] is False  # the config stays installed
    again = config_of(primary)
    again["version"] += 1
    code, msg = error_of(lambda: reconfig(primary, again, maxTimeMS=1000))
    assert code == 308
    assert msg.startswith("Cannot run replSetReconfig because the current config: {version: ")
    for host in cluster.hosts:
        if host != primary:
            direct(host).admin.command("configureFailPoint", "blockHeartbeatReconfigFinish", mode="off")
    wait_for(lambda: direct(primary).admin.command("replSetGetConfig", commitmentStatus=True)["commitmentStatus"],
             what="the config to commit once members may install it")
    assert reconfig(primary, again, maxTimeMS=10000)["ok"] == 1.0


def test_step_down_on_a_secondary(rs3):
    primary = primary_of(rs3.hosts)
    code, msg = error_of(lambda: direct(secondary_of(rs3, primary)).admin.command("replSetStepDown", 60))
    assert (code, msg) == (10107, "not primary so can't step down")


def test_freeze_on_the_primary(rs3):
    primary = primary_of(rs3.hosts)
    code, msg = error_of(lambda: direct(primary).admin.command("replSetFreeze", 30))
    assert code == 95
    assert msg.startswith("Cannot freeze node when primary or running for election")


def test_freeze_replies(rs3):
    secondary = secondary_of(rs3, primary_of(rs3.hosts))
    assert direct(secondary).admin.command("replSetFreeze", 1)["warning"] == \
        "you really want to freeze for only 1 second?"
    assert direct(secondary).admin.command("replSetFreeze", 0)["info"] == "unfreezing"


@pytest.mark.parametrize("series, target", [("8.0.4", "8.0"), ("7.0.14", "7.0"), ("8.0.4", "7.0")])
def test_set_fcv_needs_confirm(series, target, make_cluster):
    cluster = make_cluster(1, version=series)
    direct(cluster.hosts[0]).admin.command("replSetInitiate")
    primary = primary_of(cluster.hosts)
    code, _errmsg = error_of(lambda: direct(primary).admin.command("setFeatureCompatibilityVersion", target))
    assert code == 7369100
    assert direct(primary).admin.command("setFeatureCompatibilityVersion", target, confirm=True)["ok"] == 1.0
    fcv = direct(primary).admin.command("getParameter", 1, featureCompatibilityVersion=1)
    assert fcv["featureCompatibilityVersion"] == {"version": target}


def test_initiate_on_a_package_default_node(make_cluster):
    cluster = make_cluster(1, bind_ip="127.0.0.1")
    reply = direct(cluster.hosts[0]).admin.command("replSetInitiate")
    assert reply["me"] == "127.0.0.1:%d" % cluster.members[0].port


def test_removed_member_shape(make_cluster):
    cluster = make_cluster(4)
    config = {"_id": "rs0", "members": [{"_id": i, "host": h} for i, h in enumerate(cluster.hosts)],
              "settings": FAST}
    direct(cluster.hosts[0]).admin.command("replSetInitiate", config)
    primary = primary_of(cluster.hosts)
    victim = next(h for h in cluster.hosts if h != primary)
    new = config_of(primary)
    new["version"] += 1
    new["members"] = [m for m in new["members"] if m["host"] != victim]
    reconfig(primary, new)
    wait_for(lambda: "setName" not in direct(victim).admin.command("hello"), what="the removed member's ghost shape")
    hello = direct(victim).admin.command("hello")
    assert hello["isreplicaset"] is True and hello["info"] == "Does not have a valid replica set config"
    code, msg = error_of(lambda: direct(victim).admin.command("replSetGetStatus"))
    assert (code, msg) == (93, "Our replica set config is invalid or we are not a member of it")
    assert direct(victim).admin.command("replSetGetConfig")["config"]["_id"] == "rs0"
    assert victim not in [m["name"] for m in direct(primary).admin.command("replSetGetStatus")["members"]]


def test_unknown_command(make_cluster):
    cluster = make_cluster(1)
    code, msg = error_of(lambda: direct(cluster.hosts[0]).admin.command("noSuchThing"))
    assert (code, msg) == (59, "no such command: 'noSuchThing'")


def test_repl_commands_must_run_on_admin(make_cluster):
    cluster = make_cluster(1)
    code, msg = error_of(lambda: direct(cluster.hosts[0]).test.command("replSetGetStatus"))
    assert (code, msg) == (13, "replSetGetStatus may only be run against the admin database.")


def test_config_document_shape(rs3):
    primary = primary_of(rs3.hosts)
    config = config_of(primary)
    assert list(config) == ["_id", "version", "term", "members", "protocolVersion",
                            "writeConcernMajorityJournalDefault", "settings"]
    assert list(config["members"][0]) == ["_id", "host", "arbiterOnly", "buildIndexes", "hidden", "priority",
                                          "tags", "secondaryDelaySecs", "votes"]
    assert isinstance(config["members"][0]["priority"], float)
    assert isinstance(config["settings"]["replicaSetId"], ObjectId)
    assert list(config["settings"]) == ["chainingAllowed", "heartbeatIntervalMillis", "heartbeatTimeoutSecs",
                                        "electionTimeoutMillis", "catchUpTimeoutMillis",
                                        "catchUpTakeoverDelayMillis", "getLastErrorModes", "getLastErrorDefaults",
                                        "replicaSetId"]
    assert config["term"] >= 1


def _two_arbiter_config(cluster):
    config = cluster.initiate_config(**FAST)
    for member in config["members"][2:]:
        member["arbiterOnly"] = True
    return config


def test_second_arbiter_refused_unless_allowed(make_cluster):
    # 5.3+: a config with more than one arbiter is refused unless every member runs
    # with allowMultipleArbiters=true.
    cluster = make_cluster(4)
    config = _two_arbiter_config(cluster)
    code, msg = error_of(lambda: direct(cluster.hosts[0]).admin.command("replSetInitiate", config))
    assert code == 93
    assert msg.startswith("Multiple arbiters are not allowed unless all nodes were started with")
    allowed = make_cluster(4, parameters={"allowMultipleArbiters": True})
    direct(allowed.hosts[0]).admin.command("replSetInitiate", _two_arbiter_config(allowed))
    primary_of(allowed.hosts[:2])
