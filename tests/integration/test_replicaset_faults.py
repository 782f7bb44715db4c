"""quorum.mongodb.replicaset when something is wrong: one member declared under two
names, a member that never joins, a member down while the set is changed, a run
that fails after it changed the set.

Each case runs the module through ansible-playbook against mongosim members on
loopback and reads the live config back with pymongo. The failing runs use a
small wait_timeout so that they fail fast. Verified against mongosim, not a
real mongod.
"""

from conftest import FAST, wait_for
from mongosim.cluster import free_ports

SETTINGS = {"election_timeout_millis": FAST["electionTimeoutMillis"],
            "heartbeat_interval_millis": FAST["heartbeatIntervalMillis"]}
# Long enough for a healthy set on a loaded machine, short enough for a failing wait.
SHORT_WAIT = 6


def task(cluster, members, name="Converge the set", login_host=None, **options):
    args = cluster.login_args(login_host)
    args.update(name="rs0", members=members, wait_timeout=120, step_down_secs=10, connect_timeout_ms=2000)
    args.setdefault("settings", SETTINGS)
    args.update(options)
    return {"name": name, "quorum.mongodb.replicaset": args}


def live_config(cluster, host=None):
    return cluster.command(host or cluster.primary(), "replSetGetConfig")["config"]


def hosts_of(config):
    return [m["host"] for m in config["members"]]


def initiated(mongosim_cluster, run_playbook, n):
    """n members, initiated by the module itself as a user would."""
    cluster = mongosim_cluster(n)
    run_playbook([task(cluster, [{"host": h} for h in cluster.hosts])])
    return cluster


def health_seen_by(cluster, observer, host):
    members = cluster.command(observer, "replSetGetStatus")["members"]
    return {m["name"]: m["health"] for m in members}[host]


def other_name(host):
    """The same member under the other loopback name (localhost and 127.0.0.1 are the same address here)."""
    name, port = host.rsplit(":", 1)
    return "%s:%s" % ("localhost" if name == "127.0.0.1" else "127.0.0.1", port)


# ---------------------------------------------------------------- one member under two names


def test_one_member_under_two_names_is_refused_on_a_new_set(mongosim_cluster, run_playbook):
    # Members without a config: their hello has no `me`, only topologyVersion.processId tells them apart.
    cluster = mongosim_cluster(2)
    a, b = cluster.hosts
    alias = other_name(b)
    members = [{"host": a}, {"host": b}, {"host": alias}]
    for check in (True, False):
        failed = run_playbook([task(cluster, members)], check=check, expect_failure=True).results[0]
        assert b in failed["msg"] and alias in failed["msg"], failed["msg"]
        assert "same mongod" in failed["msg"], failed["msg"]
        assert failed["changed"] is False and failed["steps"] == []
    for host in cluster.hosts:
        assert not cluster.hello(host).get("setName"), "%s was initiated" % host


def test_one_member_under_two_names_is_refused_on_a_live_set(mongosim_cluster, run_playbook):
    cluster = initiated(mongosim_cluster, run_playbook, 3)
    before = live_config(cluster)
    c = cluster.hosts[2]
    alias = other_name(c)
    members = [{"host": h} for h in cluster.hosts] + [{"host": alias}]
    for check in (True, False):
        failed = run_playbook([task(cluster, members)], check=check, expect_failure=True).results[0]
        assert c in failed["msg"] and alias in failed["msg"], failed["msg"]
        assert failed["changed"] is False and failed["steps"] == []
    after = live_config(cluster)
    assert after["version"] == before["version"] and hosts_of(after) == cluster.hosts
    # The set is untouched: the same declaration without the alias has nothing to do.
    again = run_playbook([task(cluster, [{"host": h} for h in cluster.hosts])]).results[0]
    assert again["changed"] is False


# ---------------------------------------------------------------- a member that never joins


def test_a_member_that_never_joins_does_not_wedge_the_run_that_removes_it(mongosim_cluster, run_playbook):
    cluster = initiated(mongosim_cluster, run_playbook, 3)
    ghost = "127.0.0.1:%d" % free_ports(1)[0]  # declared, but nothing listens there
    members = [{"host": h} for h in cluster.hosts]

    added = run_playbook([task(cluster, members + [{"host": ghost}], wait_timeout=SHORT_WAIT)],
                         expect_failure=True).results[0]
    # The member was added (mongod accepts a member it cannot reach yet), then the wait for its
    # initial sync timed out: the run changed the set and says so.
    assert ghost in hosts_of(live_config(cluster))
    assert added["changed"] is True, added
    assert [s["reasons"] for s in added["steps"]] == [["add %s" % ghost]]
    assert ghost in added["msg"] and "initial sync" in added["msg"], added["msg"]
    assert "applied and committed" in added["msg"], added["msg"]
    assert "remove them from members" in added["msg"], added["msg"]

    # The run that removes it must not wait for it, and needs no force.
    removed = run_playbook([task(cluster, members, wait_timeout=60)]).results[0]
    assert removed["changed"] is True
    assert [s["reasons"] for s in removed["steps"]] == [["remove %s" % ghost]]
    assert hosts_of(live_config(cluster)) == cluster.hosts
    for check in (True, False):
        again = run_playbook([task(cluster, members)], check=check).results[0]
        assert again["changed"] is False and again["steps"] == []


# ---------------------------------------------------------------- a member down during a change


def test_member_down_during_an_unrelated_change(mongosim_cluster, run_playbook):
    cluster = initiated(mongosim_cluster, run_playbook, 3)
    primary = cluster.primary()
    down = [h for h in cluster.hosts if h != primary][-1]
    cluster.kill(int(down.rsplit(":", 1)[1]))
    wait_for(lambda: health_seen_by(cluster, primary, down) == 0, what="the primary to see %s down" % down)
    before = live_config(cluster, primary)
    settings = dict(SETTINGS, heartbeat_timeout_secs=7)
    failed = run_playbook([task(cluster, [{"host": h} for h in cluster.hosts], settings=settings,
                                wait_timeout=SHORT_WAIT)], expect_failure=True).results[0]
    # Two of three voters commit the change; the wait for health then fails, naming the member.
    after = live_config(cluster, primary)
    assert after["version"] > before["version"] and after["settings"]["heartbeatTimeoutSecs"] == 7
    assert failed["changed"] is True
    assert [s["action"] for s in failed["steps"]] == ["reconfig"]
    assert "applied and committed" in failed["msg"], failed["msg"]
    assert "%s is DOWN" % down in failed["msg"], failed["msg"]


# ---------------------------------------------------------------- changed after a failure


def test_a_run_that_fails_after_stepping_down_the_primary_says_it_changed_the_set(mongosim_cluster, run_playbook):
    # Remove the primary while one survivor is down: the primary steps down (a change), a survivor
    # is elected, and the reconfig removing the old primary cannot reach a majority of the new config.
    cluster = initiated(mongosim_cluster, run_playbook, 3)
    primary = cluster.primary()
    survivors = [h for h in cluster.hosts if h != primary]
    cluster.kill(int(survivors[1].rsplit(":", 1)[1]))
    wait_for(lambda: health_seen_by(cluster, primary, survivors[1]) == 0,
             what="the primary to see %s down" % survivors[1])
    failed = run_playbook([task(cluster, [{"host": h} for h in survivors], wait_timeout=SHORT_WAIT)],
                          expect_failure=True).results[0]
    assert failed["changed"] is True, failed
    assert [s["action"] for s in failed["steps"]][:1] == ["step_down"], failed["steps"]
    assert "replSetStepDown of the primary %s: applied" % primary in failed["msg"], failed["msg"]
    assert not cluster.hello(primary).get("isWritablePrimary")
