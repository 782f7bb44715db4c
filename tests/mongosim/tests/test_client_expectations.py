"""What real clients (community.mongodb's modules among them) expect of mongod:
start-up flags mongod 8.0 accepts, the oplog's collStats, local.startup_log,
start-up-only server parameters, listDatabases under the localhost exception
(SEMANTICS.md sections 4.3, 10 and 11)."""

import os
import subprocess
import sys

import pytest
import yaml

from conftest import FAST, TESTS_DIR, direct, error_of, free_ports, make_keyfile, primary_of, run_mongosim, wait_for


@pytest.fixture
def start_argv(tmp_path):
    """Start ``python3 -m mongosim ARGV`` (a mongod command line) and wait until it listens."""
    procs = []

    def start(argv, port):
        env = dict(os.environ)
        env["PYTHONPATH"] = TESTS_DIR
        log = open(tmp_path / ("out%d.log" % len(procs)), "wb")
        proc = subprocess.Popen([sys.executable, "-m", "mongosim"] + argv, env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        procs.append(proc)
        wait_for(lambda: proc.poll() is None and _ping(port), what="mongosim on port %d" % port)
        return "127.0.0.1:%d" % port

    yield start
    for proc in procs:
        proc.kill()
        proc.wait()


def _ping(port):
    return direct("127.0.0.1:%d" % port, serverSelectionTimeoutMS=300).admin.command("ping")["ok"] == 1.0


def test_storage_engine_wired_tiger_config_string_and_shardsvr_flags(start_argv, tmp_path):
    port = free_ports(1)[0]
    db = tmp_path / "db"
    db.mkdir()
    host = start_argv(["--dbpath", str(db), "--port", str(port), "--replSet", "rs0", "--storageEngine",
                       "wiredTiger", "--wiredTigerEngineConfigString", "cache_size=256M", "--shardsvr"], port)
    parsed = direct(host).admin.command("getCmdLineOpts")["parsed"]
    assert parsed["storage"]["engine"] == "wiredTiger"
    assert parsed["storage"]["wiredTiger"] == {"engineConfig": {"configString": "cache_size=256M"}}
    assert parsed["sharding"] == {"clusterRole": "shardsvr"}


def test_shardsvr_default_port_is_27018(tmp_path):
    doc = {"storage": {"dbPath": str(tmp_path)}, "sharding": {"clusterRole": "shardsvr"},
           "replication": {"replSetName": "rs0"}}
    conf = tmp_path / "mongod.conf"
    conf.write_text(yaml.safe_dump(doc))
    from mongosim.options import load
    assert load(["-f", str(conf)]).port == 27018


def test_config_file_keys_for_the_same_flags(make_cluster):
    cluster = make_cluster(1, extra_conf={"storage": {"engine": "wiredTiger", "wiredTiger": {
        "engineConfig": {"configString": "eviction_target=80", "cacheSizeGB": 0.25}}},
        "sharding": {"clusterRole": "shardsvr"}})
    parsed = direct(cluster.hosts[0]).admin.command("getCmdLineOpts")["parsed"]
    assert parsed["storage"]["engine"] == "wiredTiger"
    assert parsed["storage"]["wiredTiger"]["engineConfig"]["configString"] == "eviction_target=80"
    assert parsed["sharding"]["clusterRole"] == "shardsvr"


@pytest.mark.parametrize("argv, code, message", [
    (["--storageEngine", "mmapv1"], 100, "Cannot start server with an unknown storage engine: mmapv1"),
    (["--storageEngine", "inMemory"], 100, "Cannot start server with an unknown storage engine: inMemory"),
    (["--shardsvr"], 2, "BadValue: Cannot start a shardsvr as a standalone server. Please use the option "
                        "--replSet to start the node as a replica set."),
])
def test_what_mongod_refuses_stays_refused(argv, code, message, tmp_path):
    result = run_mongosim(argv + ["--dbpath", str(tmp_path), "--port", str(free_ports(1)[0])])
    assert result.returncode == code, result.stderr
    assert message in result.stderr


def test_oplog_coll_stats_report_max_size(make_cluster):
    cluster = make_cluster(1, oplog_size_mb=990)
    host = cluster.hosts[0]
    client = direct(host)
    client.admin.command("replSetInitiate", cluster.initiate_config(**FAST))
    primary_of([host])
    client.app.things.insert_many([{"i": i} for i in range(5)])
    local = client.local
    stats = local.command("collStats", "oplog.rs")
    count = local["oplog.rs"].count_documents({})
    assert stats["capped"] is True
    assert stats["maxSize"] == 990 * 1024 * 1024
    assert stats["count"] >= count >= 6
    assert 0 < stats["size"]
    (agg,) = local["oplog.rs"].aggregate([{"$collStats": {"storageStats": {}}}])
    assert agg["ns"] == "local.oplog.rs"
    assert agg["storageStats"]["maxSize"] == 990 * 1024 * 1024
    assert agg["storageStats"]["count"] >= count
    client.admin.command("replSetResizeOplog", 1, size=2048.5)
    assert local.command("collStats", "oplog.rs")["maxSize"] == int(2048.5 * 1024 * 1024)


def test_startup_log_gets_a_document_per_start(make_cluster):
    cluster = make_cluster(1)
    member = cluster.members[0]
    client = direct(member.host)
    docs = list(client.local.startup_log.find())
    assert len(docs) == 1
    doc = docs[0]
    assert set(doc) == {"_id", "hostname", "startTime", "startTimeLocal", "cmdLine", "pid", "buildinfo"}
    assert doc["_id"].startswith(doc["hostname"] + "-")
    assert doc["cmdLine"] == client.admin.command("getCmdLineOpts")["parsed"]
    assert doc["pid"] == member.pid()
    assert doc["buildinfo"]["version"] == client.admin.command("buildInfo")["version"]
    options = next(c for c in client.local.list_collections() if c["name"] == "startup_log")["options"]
    assert options == {"capped": True, "size": 10 * 1024 * 1024}
    member.restart()
    assert direct(member.host).local.startup_log.count_documents({}) == 2


def test_authentication_mechanisms_is_startup_only(make_cluster):
    cluster = make_cluster(1, parameters={"authenticationMechanisms": "SCRAM-SHA-256"})
    client = direct(cluster.hosts[0])
    assert error_of(lambda: client.admin.command("setParameter", 1, authenticationMechanisms="SCRAM-SHA-1")) == (
        20, "not allowed to change [authenticationMechanisms] at runtime")
    assert error_of(lambda: client.admin.command("setParameter", 1, enableLocalhostAuthBypass=False)) == (
        20, "not allowed to change [enableLocalhostAuthBypass] at runtime")
    assert client.admin.command("setParameter", 1, logLevel=1)["was"] == 0


def test_list_databases_under_the_localhost_exception(make_cluster, tmp_path):
    cluster = make_cluster(1, keyfile=make_keyfile(tmp_path / "keyfile"), auth=True)
    host = cluster.hosts[0]
    client = direct(host)
    client.admin.command("replSetInitiate", cluster.initiate_config(**FAST))
    primary_of([host])
    # No user yet: allowed, and it lists what the bootstrap privileges cover
    # (createUser/grantRole on admin), not local.
    names = [d["name"] for d in client.admin.command("listDatabases")["databases"]]
    assert names == ["admin"]
    assert error_of(lambda: client.admin.command("listDatabases", authorizedDatabases=False)) == (
        13, "Insufficient permissions to list all databases")
    client.admin.command("createUser", "root", pwd="pw", roles=["root"])
    assert error_of(lambda: client.admin.command("listDatabases")) == (
        13, "Command listDatabases requires authentication")
    root = direct(host, username="root", password="pw")
    assert "local" in [d["name"] for d in root.admin.command("listDatabases")["databases"]]


def test_reads_on_a_recovering_member_say_so(rs3):
    primary = primary_of(rs3.hosts)
    secondary = next(h for h in rs3.hosts if h != primary)
    client = direct(secondary)
    client.admin.command("replSetMaintenance", True)
    assert error_of(lambda: client.admin.command("listDatabases")) == (13436, "node is recovering")
    client.admin.command("replSetMaintenance", False)
    wait_for(lambda: client.admin.command("replSetGetStatus")["myState"] == 2, what="SECONDARY again")
    assert "admin" in [d["name"] for d in client.admin.command("listDatabases")["databases"]]


def test_user_admin_any_database_covers_local_and_config(make_cluster, tmp_path):
    # db/auth/builtin_roles.yml: userAdmin's actions on local and config too.
    cluster = make_cluster(1, keyfile=make_keyfile(tmp_path / "keyfile"), auth=True)
    host = cluster.hosts[0]
    direct(host).admin.command("replSetInitiate", cluster.initiate_config(**FAST))
    primary_of([host])
    direct(host).admin.command("createUser", "ua", pwd="pw", roles=["userAdminAnyDatabase"])
    ua = direct(host, username="ua", password="pw")
    assert ua.local.command("usersInfo", 1)["users"] == []
    assert ua.config.command("rolesInfo", 1)["roles"] == []
    assert error_of(ua.local.startup_log.find_one)[0] == 13


def test_initial_sync_keeps_the_startup_log(rs3):
    # local is not replicated: an initial sync clones and drops only the other databases.
    primary = primary_of(rs3.hosts)
    direct(primary).app.things.insert_one({"x": 1})
    for host in rs3.hosts:
        client = direct(host)
        wait_for(lambda c=client: c.admin.command("replSetGetStatus")["myState"] in (1, 2), what="%s up" % host)
        assert client.local.startup_log.count_documents({}) == 1
