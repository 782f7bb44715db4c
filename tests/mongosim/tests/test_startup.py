"""Start-up behaviour: options mongod accepts or refuses, keyFile checks,
dbPath locking, --version and the selectable server version."""

import os
import socket

import pytest
import yaml

from conftest import direct, free_ports, make_keyfile, run_mongosim
from mongosim import cluster as cluster_module
from mongosim.cluster import Cluster


def write_conf(tmp_path, doc):
    path = tmp_path / "mongod.conf"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


@pytest.mark.parametrize("series, wire", [("8.0.4", 25), ("7.0.14", 21), ("6.0.19", 17)])
def test_version_is_selectable(series, wire, make_cluster, monkeypatch):
    monkeypatch.setenv("MONGOSIM_VERSION", series)
    result = run_mongosim(["--version"], env={"MONGOSIM_VERSION": series})
    assert result.returncode == 0
    assert result.stdout.splitlines()[0] == "db version v%s" % series
    cluster = make_cluster(1, version=series)
    client = direct(cluster.hosts[0])
    assert client.admin.command("hello")["maxWireVersion"] == wire
    info = client.admin.command("buildInfo")
    assert info["version"] == series
    assert info["versionArray"][:3] == [int(p) for p in series.split(".")]


def test_default_version_is_8_0():
    result = run_mongosim(["--version"])
    assert result.stdout.startswith("db version v8.0.")


@pytest.mark.parametrize("argv, message", [
    (["--smallfiles"], "Error parsing command line: unrecognised option '--smallfiles'"),
    (["--journal"], "Error parsing command line: unrecognised option '--journal'"),
    (["--nojournal"], "Error parsing command line: unrecognised option '--nojournal'"),
    (["--oplogSize", "0", "--replSet", "rs0"], "BadValue: bad --oplogSize, arg must be greater than 0, found: 0"),
])
def test_refused_command_line_options(argv, message, tmp_path):
    result = run_mongosim(argv + ["--dbpath", str(tmp_path)])
    assert result.returncode == 2
    assert message in result.stderr
    assert "try 'mongod --help' for more information" in result.stderr


@pytest.mark.parametrize("doc, message", [
    ({"storage": {"journal": {"enabled": True}}}, "Unrecognized option: storage.journal.enabled"),
    ({"net": {"serviceExecutor": "adaptive"}}, "Unrecognized option: net.serviceExecutor"),
    ({"storage": {"mmapv1": {"smallFiles": True}}}, "Unrecognized option: storage.mmapv1.smallFiles"),
    ({"net": {"portt": 1}}, "Unrecognized option: net.portt"),
    ({"replication": {"replSetName": "rs0", "enableMajorityReadConcern": False}},
     "enableMajorityReadConcern:false is no longer supported"),
    ({"security": {"enableLocalhostAuthBypass": False}},
     "security.enableLocalhostAuthBypass is currently not supported in config files"),
    ({"replication": {"replSetName": "rs0"}, "security": {"authorization": "enabled"}},
     "BadValue: security.keyFile is required when authorization is enabled with replica sets"),
])
def test_refused_config_file_options(doc, message, tmp_path):
    doc = dict(doc)
    doc.setdefault("storage", {})["dbPath"] = str(tmp_path)
    result = run_mongosim(["-f", write_conf(tmp_path, doc)])
    assert result.returncode == 2, result.stderr
    assert message in result.stderr


def test_journal_enabled_still_accepted_by_6_0(tmp_path):
    port = free_ports(1)[0]
    doc = {"storage": {"dbPath": str(tmp_path), "journal": {"enabled": True}}, "net": {"port": port}}
    # --version after a successful parse proves the option was accepted.
    result = run_mongosim(["-f", write_conf(tmp_path, doc), "--version"], env={"MONGOSIM_VERSION": "6.0.19"})
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("content, mode, message", [
    ("c2VjcmV0a2V5Zm9ydGVzdHM=", 0o644, "permissions on {path} are too open"),
    ("c2VjcmV0a2V5Zm9ydGVzdHM=", 0o440, "permissions on {path} are too open"),
    ("bad!key#chars", 0o400, "invalid char in key file {path}"),
    ("abc", 0o400, " security key in {path} has length 3, must be between 6 and 1024 chars"),
    ("a" * 1025, 0o600, " security key in {path} has length 1025, must be between 6 and 1024 chars"),
])
def test_keyfile_checks(content, mode, message, tmp_path):
    path = make_keyfile(tmp_path / "key", content, mode)
    port = free_ports(1)[0]
    result = run_mongosim(["--dbpath", str(tmp_path), "--port", str(port), "--replSet", "rs0", "--keyFile", path])
    assert result.returncode != 0
    assert message.format(path=path) in result.stderr + result.stdout


def test_keyfile_yaml_sequence_is_accepted(make_cluster, tmp_path):
    path = tmp_path / "keys"
    path.write_text("- c2VjcmV0a2V5Zm9ydGVzdHM=\n- bmV3a2V5Zm9ydGVzdHM=\n")
    os.chmod(path, 0o400)
    cluster = make_cluster(1, keyfile=str(path), auth=True)
    assert direct(cluster.hosts[0]).admin.command("ping")["ok"] == 1.0


def test_missing_dbpath(tmp_path):
    missing = tmp_path / "nope"
    result = run_mongosim(["--dbpath", str(missing), "--port", str(free_ports(1)[0])])
    assert result.returncode == 100
    assert "NonExistentPath: Data directory %s not found." % missing in result.stderr


def test_second_process_on_same_dbpath_refuses_to_start(make_cluster):
    cluster = make_cluster(1)
    member = cluster.members[0]
    result = run_mongosim(["--dbpath", member.dbpath, "--port", str(free_ports(1)[0])])
    assert result.returncode == 100
    assert "DBPathInUse: Unable to lock the lock file" in result.stderr
    assert direct(member.host).admin.command("ping")["ok"] == 1.0


def test_port_in_use(make_cluster, tmp_path):
    cluster = make_cluster(1)
    result = run_mongosim(["--dbpath", str(tmp_path), "--port", str(cluster.members[0].port)])
    assert result.returncode == 48
    assert "Address already in use" in result.stdout + result.stderr


def test_get_cmd_line_opts_mirrors_the_config_file(make_cluster):
    cluster = make_cluster(1)
    member = cluster.members[0]
    reply = direct(member.host).admin.command("getCmdLineOpts")
    assert reply["argv"] == ["mongod", "-f", member.conf_path]
    parsed = reply["parsed"]
    assert parsed["config"] == member.conf_path
    assert parsed["net"] == {"port": member.port, "bindIp": "127.0.0.1"}
    assert parsed["replication"] == {"replSetName": "rs0"}
    assert parsed["storage"]["dbPath"] == member.dbpath


def test_log_is_structured_json_and_says_it_is_mongosim(make_cluster):
    import json
    cluster = make_cluster(1)
    with open(cluster.members[0].logpath, encoding="utf-8") as handle:
        lines = [json.loads(line) for line in handle if line.strip()]
    first = lines[0]
    assert set(first) >= {"t", "s", "c", "id", "ctx", "msg"}
    assert "$date" in first["t"]
    assert any("mongosim" in line["msg"] and "not MongoDB" in line["msg"] for line in lines)
    log = direct(cluster.hosts[0]).admin.command("getLog", "global")
    assert log["totalLinesWritten"] >= len(log["log"]) > 0
    assert json.loads(log["log"][0])["c"]


def test_fork_and_pid_file(tmp_path):
    import signal
    import time
    port = free_ports(1)[0]
    pid_file = tmp_path / "mongod.pid"
    db = tmp_path / "db"
    db.mkdir()
    result = run_mongosim(["--dbpath", str(db), "--port", str(port), "--fork", "--logpath",
                           str(tmp_path / "mongod.log"), "--pidfilepath", str(pid_file)])
    assert result.returncode == 0, result.stderr
    assert "child process started successfully, parent exiting" in result.stdout
    pid = int(pid_file.read_text())
    try:
        assert direct("127.0.0.1:%d" % port).admin.command("ping")["ok"] == 1.0
    finally:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        raise AssertionError("forked mongosim did not exit on SIGTERM")
    assert not pid_file.exists()


def test_fork_needs_a_log_destination(tmp_path):
    result = run_mongosim(["--dbpath", str(tmp_path), "--fork"])
    assert result.returncode == 2
    assert "BadValue: --fork has to be used with --logpath or --syslog" in result.stderr


def test_a_cluster_does_not_start_on_a_port_someone_else_listens_on(tmp_path):
    # A member whose port is taken exits (code 48); the cluster must say it did not start rather than take the
    # other listener for the member (concurrent test runs pick ports the same way).
    port = free_ports(1)[0]
    squatter = socket.socket()
    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    squatter.bind(("127.0.0.1", port))
    squatter.listen(1)
    cluster = Cluster(tmp_path / "taken", [port])
    try:
        with pytest.raises(RuntimeError, match="did not start"):
            cluster.start()
    finally:
        cluster.kill()
        squatter.close()
    assert "Address already in use" in (tmp_path / "taken").joinpath(str(port), "stdout.log").read_text() + \
        (tmp_path / "taken").joinpath(str(port), "mongod.log").read_text()


def test_free_ports_are_outside_the_kernels_ephemeral_range():
    low, _high = cluster_module._ephemeral_range()
    ports = free_ports(20)
    assert len(set(ports)) == 20
    assert all(port < low for port in ports)
