"""quorum.mongodb.replicaset_info through ansible-playbook against mongosim sets.

Verified against mongosim: member states, health, lag, fault tolerance overall
and per tag, a killed member, check mode, and the status table filter.
"""

from pymongo.errors import PyMongoError

from conftest import wait_for

ADMIN_PASSWORD = "info-admin-integration-secret"


def info_task(cluster, host=None, **options):
    args = cluster.login_args(host or cluster.primary())
    args.update(options)
    return {"name": "Read the replica set's status", "quorum.mongodb.replicaset_info": args,
            "register": "status"}


TABLE_TASK = {"name": "Render the member table",
              "ansible.builtin.debug": {"msg": "{{ status | quorum.mongodb.replicaset_status_table }}"}}


def optime_seconds(member):
    return member["optime"]["ts"].time


def primary_status(cluster):
    return cluster.command(cluster.primary(), "replSetGetStatus")


def behind(cluster, member_id, seconds):
    """Write on the primary until member ``member_id`` is at least ``seconds`` behind it (polled, no sleep)."""
    client = cluster.client(cluster.primary())
    try:
        def check():
            client.test.ticks.insert_one({"tick": 1})
            members = {m["_id"]: m for m in primary_status(cluster)["members"]}
            primary = next(m for m in members.values() if m["stateStr"] == "PRIMARY")
            return optime_seconds(primary) - optime_seconds(members[member_id]) >= seconds
        wait_for(check, timeout=60, interval=0.25, what="member %d to be %ds behind" % (member_id, seconds))
    finally:
        client.close()


def test_healthy_set_with_a_delayed_member(mongosim_cluster, run_playbook):
    cluster = mongosim_cluster(3)
    config = cluster.initiate_config()
    config["members"][2].update(priority=0, hidden=True, secondaryDelaySecs=3600)
    cluster.command(cluster.hosts[0], "replSetInitiate", config)
    primary = cluster.wait_settled()
    behind(cluster, 2, 2)

    run = run_playbook([info_task(cluster, primary), TABLE_TASK])
    result, table = run.results
    assert result["changed"] is False
    assert result["member"] == primary
    assert result["set_name"] == "rs0"
    assert result["config_version"] >= 1 and isinstance(result["config_term"], int)
    assert result["primary"] == primary
    assert result["healthy"] is True
    members = result["members"]
    assert [m["name"] for m in members] == cluster.hosts
    assert [m["id"] for m in members] == [0, 1, 2]
    by_name = {m["name"]: m for m in members}
    assert by_name[primary]["state"] == "PRIMARY" and by_name[primary]["lag"] == 0
    assert by_name[primary]["self"] is True and by_name[primary]["ping_ms"] is None
    assert by_name[primary]["sync_source"] is None
    assert sum(1 for m in members if m["self"]) == 1
    for member in members:
        assert member["health"] == 1 and member["votes"] == 1 and isinstance(member["uptime"], int)
        assert member["state"] in ("PRIMARY", "SECONDARY")
        if not member["self"]:
            assert isinstance(member["ping_ms"], int) and member["ping_ms"] >= 0
    delayed = members[2]
    assert (delayed["hidden"], delayed["priority"], delayed["secondary_delay_secs"]) == (True, 0, 3600)
    assert delayed["lag"] >= 2
    assert delayed["arbiter_only"] is False and delayed["tags"] == {}
    assert result["fault_tolerance"]["overall"] == 1
    assert result["fault_tolerance"]["per_tag"] == {}
    assert result["fault_tolerance"]["current"] == 1

    lines = table["msg"]
    assert lines[0].split() == ["member", "state", "health", "lag", "(s)", "votes", "priority"]
    assert any(line.split()[:3] == [primary, "PRIMARY", "up"] for line in lines)
    assert "primary: %s" % primary in lines
    assert "fault tolerance: 1 voting member(s) can fail with a primary still elected" in lines

    # check mode reads the same (and changes nothing either way)
    checked = run_playbook([info_task(cluster, primary)], check=True).results[0]
    assert checked["changed"] is False
    assert checked["primary"] == primary and checked["fault_tolerance"]["overall"] == 1
    assert [m["name"] for m in checked["members"]] == cluster.hosts


def test_fault_tolerance_per_data_centre_with_auth(mongosim_cluster, run_playbook):
    cluster = mongosim_cluster(5, auth=True, keyfile=True)
    config = cluster.initiate_config()
    for member, dc in zip(config["members"], ["a", "a", "b", "b", "c"]):
        member["tags"] = {"dc": dc}
    config["members"][4]["tags"]["rack"] = "r9"
    config["members"][3].update(votes=0, priority=0)
    cluster.command(cluster.hosts[0], "replSetInitiate", config)
    primary = cluster.wait_settled()
    cluster.command(primary, "createUser", "admin", pwd=ADMIN_PASSWORD, roles=["clusterMonitor"],
                    writeConcern={"w": "majority"})

    # without credentials, replSetGetConfig is refused and the module says what to do
    failed = run_playbook([info_task(cluster, primary)], expect_failure=True).results[0]
    assert failed["msg"] == ("replSetGetStatus on %s failed: code 13 (Unauthorized): Command replSetGetStatus requires "
                             "authentication (set login_user and login_password: a user with the clusterMonitor role "
                             "is enough)" % primary)

    secondary = next(h for h in cluster.hosts if h != primary)
    result = run_playbook([info_task(cluster, secondary, login_user="admin", login_password=ADMIN_PASSWORD)],
                          check=True).results[0]
    assert result["member"] == secondary
    assert result["primary"] == primary
    tolerance = result["fault_tolerance"]
    # 4 voters (one member has votes: 0): majority 3, one may fail
    assert (tolerance["voting_members"], tolerance["majority"], tolerance["overall"]) == (4, 3, 1)
    assert tolerance["per_tag"]["dc"] == {
        "a": {"remaining_votes": 2, "majority_kept": False},
        "b": {"remaining_votes": 3, "majority_kept": True},
        "c": {"remaining_votes": 3, "majority_kept": True},
    }
    assert tolerance["per_tag"]["rack"] == {"r9": {"remaining_votes": 3, "majority_kept": True}}
    assert [m["tags"]["dc"] for m in result["members"]] == ["a", "a", "b", "b", "c"]
    assert result["members"][3]["votes"] == 0


def test_killed_member(mongosim_cluster, run_playbook):
    cluster = mongosim_cluster(3, initiate=True)
    primary = cluster.primary()
    victim = next(h for h in cluster.hosts if h != primary)
    cluster.member(int(victim.rsplit(":", 1)[1])).kill()

    def seen_down():
        try:
            members = primary_status(cluster)["members"]
        except PyMongoError:
            return False
        return any(m["name"] == victim and m["health"] == 0 for m in members)
    wait_for(seen_down, what="the primary to see %s down" % victim)
    assert cluster.primary() == primary

    run = run_playbook([info_task(cluster, primary), TABLE_TASK])
    result, table = run.results
    assert result["healthy"] is False
    assert result["primary"] == primary
    down = next(m for m in result["members"] if m["name"] == victim)
    assert (down["health"], down["state"], down["lag"]) == (0, "(not reachable/healthy)", None)
    tolerance = result["fault_tolerance"]
    assert tolerance["overall"] == 1
    assert (tolerance["reachable_voting_members"], tolerance["current"], tolerance["majority_available"]) == \
        (2, 0, True)
    assert any(line.startswith(victim) and "down" in line for line in table["msg"])


def test_uninitiated_member_fails_clearly(mongosim_cluster, run_playbook):
    cluster = mongosim_cluster(1)
    failed = run_playbook([info_task(cluster, cluster.hosts[0])], check=True, expect_failure=True).results[0]
    assert failed["msg"].startswith("replSetGetStatus on %s failed: code 94 (NotYetInitialized)" % cluster.hosts[0])


def test_over_tls(mongosim_cluster, run_playbook):
    cluster = mongosim_cluster(3, tls=True, initiate=True)
    primary = cluster.primary()
    task = info_task(cluster, primary)
    assert task["quorum.mongodb.replicaset_info"]["tls"] is True
    result = run_playbook([task], check=True).results[0]
    assert result["primary"] == primary and result["healthy"] is True

    plain = info_task(cluster, primary, tls=False, connect_timeout_ms=1500)
    failed = run_playbook([plain], expect_failure=True).results[0]
    assert failed["msg"].startswith("replSetGetStatus on %s failed: " % primary)
