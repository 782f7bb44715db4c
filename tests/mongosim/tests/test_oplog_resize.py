"""replSetResizeOplog and what reports the oplog's size (SEMANTICS.md section 11.1): the IDL checks and
their codes per release, the size recorded with the oplog (it outlives restarts, whatever oplogSizeMB
says), minRetentionHours (not persisted), and no replication of either."""

import pytest

from conftest import FAST, direct, error_of, primary_of, wait_for

MB = 1024 * 1024


def _max_size(host):
    return direct(host).local.command("collStats", "oplog.rs")["maxSize"]


def _max_size_from_aggregate(host):
    docs = list(direct(host).local["oplog.rs"].aggregate([{"$collStats": {"storageStats": {}}}]))
    assert len(docs) == 1
    return docs[0]["storageStats"]["maxSize"]


def _retention(host):
    return direct(host).admin.command("serverStatus")["oplogTruncation"]["oplogMinRetentionHours"]


@pytest.fixture
def rs2(make_cluster):
    cluster = make_cluster(2, oplog_size_mb=50, extra_conf={"storage": {"oplogMinRetentionHours": 24.0}})
    direct(cluster.hosts[0]).admin.command("replSetInitiate", cluster.initiate_config(**FAST))
    primary = primary_of(cluster.hosts)
    secondary = next(h for h in cluster.hosts if h != primary)
    wait_for(lambda: direct(secondary).admin.command("hello").get("secondary"), what="a secondary")
    return cluster, primary, secondary


def test_the_oplog_reports_the_size_it_was_created_with(rs2):
    cluster, primary, secondary = rs2
    for host in cluster.hosts:
        assert _max_size(host) == 50 * MB
        assert _max_size_from_aggregate(host) == 50 * MB
        assert _retention(host) == 24.0
        stats = direct(host).local.command("collStats", "oplog.rs", scale=MB)
        assert (stats["capped"], stats["maxSize"], stats["scaleFactor"]) == (True, 50, MB)


@pytest.mark.parametrize("version, code", [("7.0.14", 51024), ("8.0.4", 2)])
def test_the_idl_refuses_what_is_out_of_range(make_cluster, version, code):
    cluster = make_cluster(1, version=version)
    admin = direct(cluster.hosts[0]).admin
    admin.command("replSetInitiate", cluster.initiate_config(**FAST))
    primary_of(cluster.hosts)
    assert error_of(lambda: admin.command("replSetResizeOplog", 1, size=900.0)) == (
        code, "BSON field 'replSetResizeOplog.size' value must be >= 990, actual value '900'")
    assert error_of(lambda: admin.command("replSetResizeOplog", 1, size=2.0 ** 31))[0] == code
    assert error_of(lambda: admin.command("replSetResizeOplog", 1, size=990.0, minRetentionHours=-1.0)) == (
        code, "BSON field 'replSetResizeOplog.minRetentionHours' value must be >= 0, actual value '-1'")
    # The fields are IDL doubles: an integer is the wrong type (drivers must send 2048.0, as mongosh does).
    assert error_of(lambda: admin.command("replSetResizeOplog", 1, size=2048)) == (
        14, "BSON field 'replSetResizeOplog.size' is the wrong type 'int', expected type 'double'")
    # Nothing was changed by the refusals; the smallest size is accepted.
    assert _max_size(cluster.hosts[0]) == 990 * MB
    admin.command("replSetResizeOplog", 1, size=990.0)
    assert _max_size(cluster.hosts[0]) == 990 * MB


def test_not_before_the_oplog_exists(make_cluster):
    cluster = make_cluster(1)
    assert error_of(lambda: direct(cluster.hosts[0]).admin.command("replSetResizeOplog", 1, size=2048.0)) == (
        26, "oplog does not exist")


def test_resize_applies_on_the_member_asked_only_and_outlives_a_restart(rs2):
    cluster, primary, secondary = rs2
    direct(secondary).admin.command("replSetResizeOplog", 1, size=2048.0, minRetentionHours=1.5)
    assert _max_size(secondary) == 2048 * MB
    assert _retention(secondary) == 1.5
    # It does not replicate: the primary keeps its own size until asked too.
    direct(primary).admin.command("insert", "probe", documents=[{"_id": 1}])
    assert _max_size(primary) == 50 * MB
    assert _retention(primary) == 24.0
    # Only minRetentionHours: the size stays.
    direct(primary).admin.command("replSetResizeOplog", 1, minRetentionHours=2.0)
    assert (_max_size(primary), _retention(primary)) == (50 * MB, 2.0)
    # After a restart (mongod.conf still says oplogSizeMB: 50 and 24 hours) the size is the resized one,
    # the retention the configured one.
    cluster.restart(int(secondary.rsplit(":", 1)[1]))
    wait_for(lambda: direct(secondary).admin.command("hello").get("secondary"), what="the secondary back")
    assert _max_size(secondary) == 2048 * MB
    assert _retention(secondary) == 24.0
