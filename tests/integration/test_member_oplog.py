"""quorum.mongodb.member's oplog resize through ansible-playbook against a mongosim set, in the order users
run it (check, apply, check again, apply again), member by member, secondaries first; and its refusals,
before anything is sent. Verified against mongosim."""

from conftest import wait_for

ADMIN = "admin"
ADMIN_PASSWORD = "Adm1n-oplog-secret"
MB = 1024 * 1024


def resize_task(cluster, host, **options):
    args = cluster.login_args(host, login_user=ADMIN, login_password=ADMIN_PASSWORD)
    args.update(options)
    return {"name": "resize %s" % host, "quorum.mongodb.member": args}


def live_oplog(cluster, host):
    client = cluster.client(host, username=ADMIN, password=ADMIN_PASSWORD)
    stats = list(client.local["oplog.rs"].aggregate([{"$collStats": {"storageStats": {}}}]))[0]["storageStats"]
    status = client.admin.command("serverStatus")
    return stats["maxSize"] // MB, status["oplogTruncation"]["oplogMinRetentionHours"]


def test_resize_every_member_check_apply_idempotent(mongosim_cluster, run_playbook):
    cluster = mongosim_cluster(3, auth=True, initiate=True)
    primary = cluster.primary()
    cluster.command(primary, "createUser", ADMIN, pwd=ADMIN_PASSWORD, roles=["root"], writeConcern={"w": "majority"})
    order = [host for host in cluster.hosts if host != primary] + [primary]
    tasks = [resize_task(cluster, host, oplog_size_mb=2048, oplog_min_retention_hours=12) for host in order]
    for host in cluster.hosts:
        assert live_oplog(cluster, host) == (990, 0.0)

    check = run_playbook(tasks, check=True, diff=True)
    assert [r["oplog_resized"] for r in check.results] == [True, True, True]
    assert check.results[0]["oplog"] == {"size_mb": 2048.0, "min_retention_hours": 12.0}
    assert "oplog_size_mb: 990.0" in check.results[0]["diff"]["before"]
    assert "oplog_size_mb: 2048.0" in check.results[0]["diff"]["after"]
    for host in cluster.hosts:
        assert live_oplog(cluster, host) == (990, 0.0), "check mode changed %s" % host

    applied = run_playbook(tasks)
    assert [r["changed"] for r in applied.results] == [True, True, True]
    for host in cluster.hosts:
        assert live_oplog(cluster, host) == (2048, 12.0)
    assert cluster.primary() == primary, "a resize needs no step-down"

    again_check = run_playbook(tasks, check=True)
    assert again_check.changed_count == 0
    again = run_playbook(tasks)
    assert again.changed_count == 0
    assert all(r["oplog"] == {"size_mb": 2048.0, "min_retention_hours": 12.0} for r in again.results)

    # Only the retention: the size is left as it is.
    run = run_playbook([resize_task(cluster, order[0], oplog_min_retention_hours=0)])
    assert run.results[0]["changed"] is True
    assert live_oplog(cluster, order[0]) == (2048, 0.0)


def test_refusals_come_before_anything_is_sent(mongosim_cluster, run_playbook):
    cluster = mongosim_cluster(1, auth=True, initiate=True)
    host = cluster.hosts[0]
    # No user yet: the localhost exception does not allow replSetResizeOplog.
    failed = run_playbook([resize_task(cluster, host, oplog_size_mb=2048)], expect_failure=True).results[0]
    assert "cannot resize the oplog of %s" % host in failed["msg"] and "no user yet" in failed["msg"]
    cluster.command(host, "createUser", ADMIN, pwd=ADMIN_PASSWORD, roles=["root"])
    wait_for(lambda: cluster.client(host, username=ADMIN, password=ADMIN_PASSWORD).admin.command("ping"),
             what="the admin to log in")
    small = run_playbook([resize_task(cluster, host, oplog_size_mb=512)], expect_failure=True).results[0]
    assert "oplog_size_mb is 512" in small["msg"] and "990" in small["msg"] and host in small["msg"]
    negative = run_playbook([resize_task(cluster, host, oplog_min_retention_hours=-1)],
                            expect_failure=True).results[0]
    assert "oplog_min_retention_hours is -1" in negative["msg"]
    assert live_oplog(cluster, host) == (990, 0.0)


def test_a_member_without_an_oplog_is_left_alone(mongosim_cluster, run_playbook):
    cluster = mongosim_cluster(1)
    args = cluster.login_args(cluster.hosts[0], oplog_size_mb=2048)
    result = run_playbook([{"name": "not initiated", "quorum.mongodb.member": args}]).results[0]
    assert (result["state"], result["changed"], result["oplog"]) == ("NO_CONFIG", False, None)
