"""quorum.mongodb.member through ansible-playbook against mongosim sets: the member's state, the login
decision in each of its four answers, and the step-down in the order users run it (check, apply, check
again, apply again). Verified against mongosim."""

from conftest import wait_for
from mongosim.cluster import free_ports

ADMIN = "admin"
ADMIN_PASSWORD = "Adm1n-member-secret"


def member_task(cluster, host, name="Ask the member", **options):
    args = cluster.login_args(host)
    args.update(options)
    return {"name": name, "quorum.mongodb.member": args}


def test_state_and_the_four_logins(mongosim_cluster, run_playbook):
    cluster = mongosim_cluster(3, auth=True, keyfile=True, initiate=True)
    primary = cluster.primary()
    secondary = next(host for host in cluster.hosts if host != primary)

    # No user yet: the localhost exception, with or without the credentials of the user to come.
    run = run_playbook([
        member_task(cluster, primary, "without credentials"),
        member_task(cluster, primary, "with the admin to come", login_user=ADMIN, login_password=ADMIN_PASSWORD),
        member_task(cluster, secondary, "a secondary, for polling", check_login=False),
    ])
    first = run.result("without credentials")
    assert first["changed"] is False
    assert (first["state"], first["login"], first["set_name"]) == ("PRIMARY", "localhost_exception", "rs0")
    assert first["primary"] == primary and sorted(first["hosts"]) == sorted(cluster.hosts)
    assert first["can_step_down"] is False and first["stepped_down"] is False
    assert run.result("with the admin to come")["login"] == "localhost_exception"
    polled = run.result("a secondary, for polling")
    assert (polled["state"], polled["primary"], polled["login"]) == ("SECONDARY", primary, None)

    cluster.command(primary, "createUser", ADMIN, pwd=ADMIN_PASSWORD, roles=["root"],
                    writeConcern={"w": "majority"})
    run = run_playbook([
        member_task(cluster, primary, "no credentials"),
        member_task(cluster, primary, "wrong password", login_user=ADMIN, login_password="not-the-Adm1n-pw"),
        member_task(cluster, primary, "the admin", login_user=ADMIN, login_password=ADMIN_PASSWORD),
    ])
    assert run.result("no credentials")["login"] == "refused"
    wrong = run.result("wrong password")
    assert wrong["login"] == "refused" and "its password is wrong" in wrong["login_msg"]
    assert wrong["login_roles"] is None
    admin = run.result("the admin")
    assert admin["login"] == "credentials" and admin["can_step_down"] is True
    # The roles the member grants the login (connectionStatus), for the replicaset role's comparison.
    assert admin["login_roles"] == [{"role": "root", "db": "admin"}]


def test_no_authorization(mongosim_cluster, run_playbook):
    cluster = mongosim_cluster(1, initiate=True)
    result = run_playbook([member_task(cluster, cluster.hosts[0])]).results[0]
    assert (result["state"], result["login"]) == ("PRIMARY", "no_authorization")
    # Alone in its set: nobody to hand over to, so no step-down.
    assert result["can_step_down"] is False
    failed = run_playbook([member_task(cluster, cluster.hosts[0], step_down=True)], expect_failure=True).results[0]
    assert "no other member can be elected" in failed["msg"]
    assert cluster.hello(cluster.hosts[0])["isWritablePrimary"] is True


def test_a_member_that_does_not_answer_is_reported(run_playbook):
    port = free_ports(1)[0]
    args = {"login_host": "127.0.0.1", "login_port": port, "connect_timeout_ms": 500, "service_name": "quorum-none"}
    task = {"name": "Ask nobody", "quorum.mongodb.member": args}
    result = run_playbook([task]).results[0]
    assert result["state"] == "UNREACHABLE" and result["login"] is None
    assert result["error"] and result["service_state"]
    # No such service runs: no process to compare a later read with.
    assert result["service_main_pid"] == 0


def test_step_down_four_ways(mongosim_cluster, run_playbook):
    cluster = mongosim_cluster(3, auth=True, keyfile=True, initiate=True)
    primary = cluster.primary()
    cluster.command(primary, "createUser", ADMIN, pwd=ADMIN_PASSWORD, roles=["root"],
                    writeConcern={"w": "majority"})
    task = member_task(cluster, primary, "Step down", step_down=True, step_down_secs=30, catch_up_secs=10,
                       login_user=ADMIN, login_password=ADMIN_PASSWORD)

    check = run_playbook([task], check=True, diff=True).results[0]
    assert check["changed"] is True and check["stepped_down"] is True
    assert check["diff"] == {"before": "state: PRIMARY\n", "after": "state: SECONDARY\n"}
    assert cluster.hello(primary)["isWritablePrimary"] is True

    apply = run_playbook([task]).results[0]
    assert apply["changed"] is True and apply["stepped_down"] is True
    assert apply["state"] != "PRIMARY"
    assert cluster.hello(primary)["isWritablePrimary"] is False
    new_primary = wait_for(lambda: next((h for h in cluster.hosts if h != primary
                                         and cluster.hello(h).get("isWritablePrimary")), None),
                           what="another primary")
    assert new_primary != primary

    for result in (run_playbook([task], check=True).results[0], run_playbook([task]).results[0]):
        assert result["changed"] is False and result["stepped_down"] is False
        assert result["state"] == "SECONDARY"
    assert cluster.primary() == new_primary


def test_step_down_without_a_user_is_refused(mongosim_cluster, run_playbook):
    cluster = mongosim_cluster(3, auth=True, keyfile=True, initiate=True)
    primary = cluster.primary()
    failed = run_playbook([member_task(cluster, primary, step_down=True)], expect_failure=True).results[0]
    assert "the localhost exception does not allow replSetStepDown" in failed["msg"]
    assert cluster.hello(primary)["isWritablePrimary"] is True


def _lag_seen_by(cluster, host):
    """The primary's optimeDate minus ``host``'s own, as ``host``'s replSetGetStatus has them (seconds)."""
    members = cluster.command(host, "replSetGetStatus", username=ADMIN, password=ADMIN_PASSWORD)["members"]
    me = next(m for m in members if m.get("self"))
    primary = next(m for m in members if m["stateStr"] == "PRIMARY")
    return (primary["optimeDate"] - me["optimeDate"]).total_seconds()


def test_replication_lag_of_a_secondary_that_stopped_replicating(mongosim_cluster, run_playbook):
    cluster = mongosim_cluster(3, auth=True, keyfile=True, initiate=True, parameters={"enableTestCommands": 1})
    primary = cluster.primary()
    secondary = next(host for host in cluster.hosts if host != primary)
    cluster.command(primary, "createUser", ADMIN, pwd=ADMIN_PASSWORD, roles=["root"],
                    writeConcern={"w": "majority"})
    login = {"login_user": ADMIN, "login_password": ADMIN_PASSWORD, "check_login": False}
    cluster.command(secondary, "configureFailPoint", "stopReplProducer", mode="alwaysOn",
                    username=ADMIN, password=ADMIN_PASSWORD)
    writer = cluster.client(primary, username=ADMIN, password=ADMIN_PASSWORD)
    try:
        # Writes on the primary until the secondary, which no longer fetches them, is 3 s behind as it sees it.
        wait_for(lambda: writer.lagtest.docs.insert_one({"at": "now"}) and _lag_seen_by(cluster, secondary) >= 3,
                 timeout=120, interval=0.2, what="the secondary 3 s behind")
        run = run_playbook([
            member_task(cluster, secondary, "lagging, 1 s allowed", max_lag_secs=1, **login),
            member_task(cluster, secondary, "lagging, an hour allowed", max_lag_secs=3600, **login),
            member_task(cluster, primary, "the primary", max_lag_secs=0, **login),
        ])
        tight = run.result("lagging, 1 s allowed")
        assert tight["state"] == "SECONDARY" and tight["caught_up"] is False and tight["changed"] is False
        assert tight["lag_secs"] >= 3 and tight["lag_msg"] is None
        assert run.result("lagging, an hour allowed")["caught_up"] is True
        top = run.result("the primary")
        assert (top["lag_secs"], top["caught_up"]) == (0.0, True)
        # Alone in its playbook: the failure shows the task's source lines, and no password is near them.
        refused = run_playbook([member_task(cluster, secondary, "without credentials", max_lag_secs=1,
                                            check_login=False)], expect_failure=True).result("without credentials")
        assert refused["failed"] and "clusterMonitor" in refused["msg"] and secondary.split(":")[1] in refused["msg"]

        # Replicating again, it catches up: the wait a rolling restart does, polled.
        cluster.command(secondary, "configureFailPoint", "stopReplProducer", mode="off",
                        username=ADMIN, password=ADMIN_PASSWORD)
        wait_for(lambda: _lag_seen_by(cluster, secondary) <= 1, timeout=120, what="the secondary caught up")
        again = run_playbook([member_task(cluster, secondary, "caught up", max_lag_secs=1, **login)])
        caught = again.result("caught up")
        assert caught["caught_up"] is True and caught["lag_secs"] <= 1
    finally:
        writer.close()
