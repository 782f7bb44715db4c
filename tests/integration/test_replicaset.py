"""quorum.mongodb.replicaset through ansible-playbook against mongosim members on loopback.

Changes run as users run them: check mode (nothing may change), apply, check
again (nothing to do), apply again (nothing done). The live config is read back
with pymongo after each. Verified against mongosim, not a real mongod.
"""

import pytest

from conftest import FAST, wait_for

SETTINGS = {"election_timeout_millis": FAST["electionTimeoutMillis"],
            "heartbeat_interval_millis": FAST["heartbeatIntervalMillis"]}
ADMIN_PASSWORD = "rs-integration-admin-secret"


def task(cluster, members, name="Converge the set", login_host=None, **options):
    args = cluster.login_args(login_host)
    args.update(name="rs0", members=members, wait_timeout=120, step_down_secs=10)
    args.setdefault("settings", SETTINGS)
    args.update(options)
    return {"name": name, "quorum.mongodb.replicaset": args}


def live_config(cluster, **credentials):
    return cluster.command(cluster.primary(), "replSetGetConfig", **credentials)["config"]


def by_host(config):
    return {m["host"]: m for m in config["members"]}


def converge_like_a_user(run_playbook, tasks, cluster, expect_steps=None, **credentials):
    """check → apply → check → apply; returns the apply result. Check mode must change nothing."""
    before = live_config(cluster, **credentials)
    planned = run_playbook(tasks, check=True, diff=True)
    result = planned.results[-1]
    assert result["changed"] is True, planned.output()
    assert live_config(cluster, **credentials)["version"] == before["version"], "check mode changed the config"
    assert result["diff"]["before"]["version"] == before["version"]
    applied = run_playbook(tasks, diff=True)
    outcome = applied.results[-1]
    assert outcome["changed"] is True
    if expect_steps is not None:
        assert [s["action"] for s in outcome["steps"]] == expect_steps, [s["reasons"] for s in outcome["steps"]]
    # What check mode planned is what was done.
    assert [s["reasons"] for s in result["steps"]][:1] == [s["reasons"] for s in outcome["steps"]][:1]
    for mode in (True, False):
        again = run_playbook(tasks, check=mode)
        assert again.results[-1]["changed"] is False, again.results[-1]
        assert again.results[-1]["steps"] == []
    return outcome


def test_initiate_then_nothing_to_do(mongosim_cluster, run_playbook):
    cluster = mongosim_cluster(3)
    members = [{"host": h} for h in cluster.hosts]
    tasks = [task(cluster, members)]

    planned = run_playbook(tasks, check=True, diff=True).results[0]
    assert planned["changed"] and planned["steps"][0]["action"] == "initiate"
    assert not cluster.hello(cluster.hosts[0]).get("setName"), "check mode initiated the set"

    done = run_playbook(tasks).results[0]
    assert done["changed"] and done["primary"] in cluster.hosts
    assert sorted(m["state"] for m in done["members"]) == ["PRIMARY", "SECONDARY", "SECONDARY"]
    config = live_config(cluster)
    assert [m["host"] for m in config["members"]] == cluster.hosts
    assert config["settings"]["electionTimeoutMillis"] == FAST["electionTimeoutMillis"]

    for check in (True, False):
        again = run_playbook(tasks, check=check).results[0]
        assert again["changed"] is False and again["steps"] == []
    assert live_config(cluster)["version"] == config["version"]


def test_noop_run_sends_no_reconfig_and_one_config_read(mongosim_cluster, run_playbook):
    cluster = mongosim_cluster(3)
    tasks = [task(cluster, [{"host": h} for h in cluster.hosts])]
    run_playbook(tasks)
    primary = cluster.primary()

    def counts():
        commands = cluster.command(primary, "serverStatus")["metrics"]["commands"]
        names = ("replSetGetConfig", "replSetReconfig", "replSetGetStatus")
        return {name: commands.get(name, {}).get("total", 0) for name in names}
    before = counts()
    run_playbook(tasks)
    after = counts()
    # serverStatus itself is not counted here; the module read the config once and changed nothing.
    assert after["replSetReconfig"] == before["replSetReconfig"]
    assert after["replSetGetConfig"] - before["replSetGetConfig"] == 1
    assert after["replSetGetStatus"] == before["replSetGetStatus"]


def test_grow_three_to_five_with_hidden_delayed_and_arbiter_in_one_run(mongosim_cluster, run_playbook):
    cluster = mongosim_cluster(5)
    a, b, c, d, e = cluster.hosts
    run_playbook([task(cluster, [{"host": a}, {"host": b}, {"host": c}])])
    wanted = [{"host": a, "priority": 2, "tags": {"dc": "east"}}, {"host": b, "tags": {"dc": "east"}},
              {"host": c, "tags": {"dc": "west"}},
              {"host": d, "hidden": True, "secondary_delay_secs": 120, "tags": {"dc": "west"}},
              {"host": e, "arbiter_only": True}]
    outcome = converge_like_a_user(run_playbook, [task(cluster, wanted)], cluster)
    config = by_host(live_config(cluster))
    assert config[a]["priority"] == 2 and config[a]["tags"] == {"dc": "east"}
    assert config[d]["hidden"] is True and config[d]["secondaryDelaySecs"] == 120 and config[d]["priority"] == 0
    assert config[e]["arbiterOnly"] is True
    assert not any(m.get("newlyAdded") for m in config.values())
    states = {m["host"]: m["state"] for m in outcome["members"]}
    assert states[e] == "ARBITER" and states[d] == "SECONDARY"
    # The arbiter waited for the delayed member (mongod's implicit write-concern rule).
    assert outcome["steps"][-1]["reasons"] == ["add %s (arbiter)" % e]


def test_take_votes_from_two_members_then_remove_two_voters(mongosim_cluster, run_playbook):
    cluster = mongosim_cluster(5)
    hosts = cluster.hosts
    run_playbook([task(cluster, [{"host": h} for h in hosts])])
    primary = cluster.primary()
    keep = [primary] + [h for h in hosts if h != primary][:2]
    losers = [h for h in hosts if h not in keep]

    wanted = [{"host": h, "votes": 0} if h in losers else {"host": h} for h in hosts]
    converge_like_a_user(run_playbook, [task(cluster, wanted)], cluster, expect_steps=["reconfig", "reconfig"])
    config = by_host(live_config(cluster))
    assert [config[h]["votes"] for h in losers] == [0, 0]
    assert [config[h]["priority"] for h in losers] == [0, 0]
    assert [config[h]["votes"] for h in keep] == [1, 1, 1]

    # Give the votes back, then remove two voters, each in one run.
    run_playbook([task(cluster, [{"host": h} for h in hosts])])
    assert [by_host(live_config(cluster))[h]["votes"] for h in hosts] == [1] * 5
    converge_like_a_user(run_playbook, [task(cluster, [{"host": h} for h in keep])], cluster,
                         expect_steps=["reconfig", "reconfig"])
    assert sorted(m["host"] for m in live_config(cluster)["members"]) == sorted(keep)


@pytest.mark.parametrize("login_on", ["primary", "survivor"])
def test_remove_the_current_primary(mongosim_cluster, run_playbook, login_on):
    cluster = mongosim_cluster(4)
    run_playbook([task(cluster, [{"host": h} for h in cluster.hosts])])
    primary = cluster.primary()
    survivors = [h for h in cluster.hosts if h != primary]
    # On the primary itself, as the role does, the module must follow the new primary; on a
    # survivor, it must find the primary it was not told about (it is not declared any more).
    login_host = primary if login_on == "primary" else survivors[-1]
    outcome = converge_like_a_user(run_playbook, [task(cluster, [{"host": h} for h in survivors],
                                                       login_host=login_host)], cluster)
    assert [s["action"] for s in outcome["steps"]] == ["step_down", "reconfig"]
    assert outcome["primary"] in survivors
    new_primary = cluster.primary()
    assert new_primary in survivors
    assert sorted(m["host"] for m in live_config(cluster)["members"]) == sorted(survivors)
    wait_for(lambda: cluster.hello(primary).get("setName") is None, what="the removed member to leave the set")


def test_change_settings_and_priorities(mongosim_cluster, run_playbook):
    cluster = mongosim_cluster(3)
    members = [{"host": h} for h in cluster.hosts]
    run_playbook([task(cluster, members)])
    primary = cluster.primary()
    other = [h for h in cluster.hosts if h != primary][0]
    wanted = [dict(m, priority=5) if m["host"] == other else m for m in members]
    settings = dict(SETTINGS, chaining_allowed=False, heartbeat_timeout_secs=7)
    converge_like_a_user(run_playbook, [task(cluster, wanted, settings=settings)], cluster)
    config = live_config(cluster)
    assert config["settings"]["chainingAllowed"] is False
    assert config["settings"]["heartbeatTimeoutSecs"] == 7
    assert by_host(config)[other]["priority"] == 5
    # Priority takeover: the member with the highest priority becomes primary.
    wait_for(lambda: cluster.hello(other).get("isWritablePrimary"), timeout=60, what="priority takeover")


def test_auth_initiate_over_localhost_then_reconfigure_as_a_user(mongosim_cluster, run_playbook):
    cluster = mongosim_cluster(4, auth=True, keyfile=True)
    first = [{"host": h} for h in cluster.hosts[:3]]
    # A new secured set: initiated through the localhost exception, without credentials.
    done = run_playbook([task(cluster, first)]).results[0]
    assert done["changed"]
    primary = cluster.primary()
    cluster.command(primary, "createUser", "admin", pwd=ADMIN_PASSWORD, roles=["root"],
                    writeConcern={"w": "majority"})
    login = {"login_user": "admin", "login_password": ADMIN_PASSWORD}
    credentials = {"username": "admin", "password": ADMIN_PASSWORD}
    # Without credentials the set can no longer be read: a clear error, nothing changed.
    refused = run_playbook([task(cluster, first, login_host=primary)], expect_failure=True).results[0]
    assert "create the first user" in refused["msg"] or "refused" in refused["msg"], refused["msg"]
    outcome = converge_like_a_user(run_playbook, [task(cluster, [{"host": h} for h in cluster.hosts],
                                                       login_host=primary, **login)],
                                   cluster, **credentials)
    assert outcome["steps"][0]["reasons"] == ["add %s" % cluster.hosts[3]]
    assert len(live_config(cluster, **credentials)["members"]) == 4


def test_tls_required(mongosim_cluster, run_playbook):
    cluster = mongosim_cluster(3, tls=True)
    tasks = [task(cluster, [{"host": h} for h in cluster.hosts], tls_allow_invalid_hostnames=True)]
    done = run_playbook(tasks).results[0]
    assert done["changed"] and done["primary"] in cluster.hosts
    assert run_playbook(tasks).results[0]["changed"] is False
    without_tls = task(cluster, [{"host": h} for h in cluster.hosts])
    without_tls["quorum.mongodb.replicaset"]["tls"] = False
    failed = run_playbook([without_tls], expect_failure=True).results[0]
    assert cluster.hosts[0] in failed["msg"]


BAD = [
    ([{"host": "h1"}, {"host": "h2", "hidden": True, "priority": 1}],
     "member h2:27017: priority must be 0 (or unset) when hidden is true"),
    ([{"host": "h1"}, {"host": "H1:27017"}], "lists h1:27017 twice"),
    ([{"host": "h%d" % i} for i in range(8)], "8 voting members"),
    ([{"host": "h1"}, {"host": "h2", "arbiter_only": True, "secondary_delay_secs": 10}],
     "member h2:27017: an arbiter holds no data"),
    ([{"host": "h1", "priority": 0}], "no member that can become primary"),
    ([{"host": "localhost:1"}, {"host": "h2"}], "mixes localhost"),
    ([{"host": "h1", "tags": {"rack": 3}}], "tags.rack must be a string"),
]


@pytest.mark.parametrize("members, message", BAD)
def test_bad_declarations_fail_before_any_connection(run_playbook, members, message):
    # login_port points at a closed port: the error must be the rule, not a connection failure.
    args = {"name": "rs0", "members": members, "login_host": "127.0.0.1", "login_port": 9}
    bad = {"name": "Converge", "quorum.mongodb.replicaset": args}
    failed = run_playbook([bad], expect_failure=True).results[0]
    assert message in failed["msg"], failed["msg"]
    assert failed["steps"] == []


def test_bad_declaration_changes_nothing_on_a_live_set(mongosim_cluster, run_playbook):
    cluster = mongosim_cluster(3)
    run_playbook([task(cluster, [{"host": h} for h in cluster.hosts])])
    version = live_config(cluster)["version"]
    members = [{"host": h} for h in cluster.hosts] + [{"host": cluster.hosts[0]}]
    failed = run_playbook([task(cluster, members)], expect_failure=True).results[0]
    assert "twice" in failed["msg"]
    assert live_config(cluster)["version"] == version


def test_member_of_another_set_is_left_alone(mongosim_cluster, run_playbook):
    cluster = mongosim_cluster(2)
    run_playbook([task(cluster, [{"host": h} for h in cluster.hosts])])
    other = task(cluster, [{"host": h} for h in cluster.hosts])
    other["quorum.mongodb.replicaset"]["name"] = "other"
    failed = run_playbook([other], expect_failure=True).results[0]
    assert "belongs to replica set 'rs0', not 'other'" in failed["msg"]


def test_never_initiates_when_a_member_already_has_a_config(mongosim_cluster, run_playbook):
    cluster = mongosim_cluster(4)
    a, b, c, d = cluster.hosts
    run_playbook([task(cluster, [{"host": a}, {"host": b}, {"host": c}])])
    # Remove c: it now answers like a new member. Declaring only c and d must not
    # initiate a second set from them.
    run_playbook([task(cluster, [{"host": a}, {"host": b}])])
    wait_for(lambda: cluster.hello(c).get("setName") is None, what="c to leave the set")
    outcome = run_playbook([task(cluster, [{"host": a}, {"host": b}, {"host": c}, {"host": d}],
                                 login_host=c)]).results[0]
    assert outcome["steps"][0]["action"] == "reconfig", outcome["steps"]
    assert sorted(m["host"] for m in live_config(cluster)["members"]) == sorted(cluster.hosts)


def test_force_only_when_the_majority_is_lost(mongosim_cluster, run_playbook):
    cluster = mongosim_cluster(3)
    a, b, c = cluster.hosts
    run_playbook([task(cluster, [{"host": h} for h in cluster.hosts], settings=SETTINGS)])
    cluster.kill(cluster.members[1].port)
    cluster.kill(cluster.members[2].port)
    wait_for(lambda: not cluster.hello(a).get("isWritablePrimary"), what="a to lose its primary state")
    survivors = task(cluster, [{"host": a}], connect_timeout_ms=1000)
    refused = run_playbook([survivors], expect_failure=True).results[0]
    assert "force: true" in refused["msg"] and "only 1 of the 3 voting members" in refused["msg"], refused["msg"]
    assert live_config_of(cluster, a)["version"] < 10000

    forced = task(cluster, [{"host": a}], force=True, connect_timeout_ms=1000)
    outcome = run_playbook([forced]).results[0]
    assert outcome["changed"] and outcome["steps"][0]["action"] == "force_reconfig"
    assert outcome["primary"] == a
    assert [m["host"] for m in live_config_of(cluster, a)["members"]] == [a]
    # With a primary again, force is not needed and not used.
    again = run_playbook([forced]).results[0]
    assert again["changed"] is False


def live_config_of(cluster, host):
    return cluster.command(host, "replSetGetConfig")["config"]


def test_arbiter_added_to_primary_secondary_needs_a_default_write_concern(mongosim_cluster, run_playbook):
    cluster = mongosim_cluster(3)
    a, b, c = cluster.hosts
    run_playbook([task(cluster, [{"host": a}, {"host": b}])])
    version = live_config(cluster)["version"]
    wanted = [{"host": a}, {"host": b}, {"host": c, "arbiter_only": True}]
    # mongod refuses this reconfig while the default write concern is implicit: the
    # module says so before sending anything.
    refused = run_playbook([task(cluster, wanted)], expect_failure=True).results[0]
    assert "setDefaultRWConcern" in refused["msg"] and refused["steps"] == []
    assert live_config(cluster)["version"] == version

    outcome = converge_like_a_user(run_playbook, [task(cluster, wanted, default_write_concern={"w": "majority"})],
                                   cluster)
    assert [s["action"] for s in outcome["steps"]] == ["set_default_write_concern", "reconfig"]
    assert by_host(live_config(cluster))[c]["arbiterOnly"] is True
    concern = cluster.command(cluster.primary(), "getDefaultRWConcern")
    assert concern["defaultWriteConcernSource"] == "global"
    assert concern["defaultWriteConcern"]["w"] == "majority"
