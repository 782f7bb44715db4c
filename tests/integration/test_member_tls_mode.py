"""quorum.mongodb.member's TLS mode through ansible-playbook against a mongosim set started in allowTLS: read,
raised at run time to preferTLS on every member, then to requireTLS (no restart), under a w:majority writer;
a move mongod does not make (allowTLS straight to requireTLS, or down) fails naming the member and changes
nothing. Verified against mongosim (whose setParameter follows mongod's ssl_parameters.cpp)."""

import pytest
from pymongo import MongoClient
from pymongo.errors import PyMongoError

from conftest import IntegrationCluster
from mongosim.cluster import free_ports


@pytest.fixture
def allow_tls_set(tmp_path, mongosim_pki):
    cluster = IntegrationCluster(tmp_path / "cluster", free_ports(3), auth=False,
                                 tls={"mode": "allowTLS", "cert": mongosim_pki["pem"], "ca": mongosim_pki["ca"]})
    # The test's own clients (and the writer's) use TLS, which every mode from allowTLS accepts.
    cluster.tls_files = {"pem": mongosim_pki["pem"], "ca": mongosim_pki["ca"]}
    cluster.start()
    try:
        cluster.initiate()
        yield cluster
    finally:
        cluster.kill()


def tls_tasks(cluster, tls=False, **extra):
    """One task per member, connected plain (tls false) or with TLS, the way the member accepts now."""
    return [{"name": "tls mode of %s" % host, "quorum.mongodb.member": dict(
        cluster.login_args(host, tls_allow_invalid_hostnames=True, **extra), tls=tls)} for host in cluster.hosts]


def plain_refused(host):
    client = MongoClient(host, directConnection=True, serverSelectionTimeoutMS=1500)
    try:
        client.admin.command("ping")
    except PyMongoError:
        return True
    finally:
        client.close()
    return False


def test_every_member_is_raised_one_mode_at_a_time_without_a_restart(allow_tls_set, run_playbook, majority_writer):
    cluster = allow_tls_set
    pids = [cluster.member(port).pid() for port in cluster.ports]
    writer = majority_writer(cluster)
    writer.wait_for_acknowledged(20)

    assert not any(plain_refused(host) for host in cluster.hosts)
    read = run_playbook(tls_tasks(cluster, read_tls_mode=True, tls_fallback=True))
    assert [(r["tls"], r["tls_mode"]) for r in read.results] == [(False, "allowTLS")] * 3
    assert not any(r["changed"] for r in read.results)

    check = run_playbook(tls_tasks(cluster, tls_mode="preferTLS"), check=True, diff=True)
    assert [r["tls_mode_changed"] for r in check.results] == [True] * 3
    assert check.results[0]["diff"] == {"before": "tls_mode: allowTLS\n", "after": "tls_mode: preferTLS\n"}
    assert cluster.command(cluster.hosts[0], "getParameter", 1, tlsMode=1)["tlsMode"] == "allowTLS"

    # allowTLS to requireTLS in one move is not one mongod makes: refused, naming the member, nothing changed.
    refused = run_playbook(tls_tasks(cluster, tls_mode="requireTLS")[:1], expect_failure=True).results[0]
    assert "cannot set the tlsMode of %s from allowTLS to requireTLS" % cluster.hosts[0] in refused["msg"]
    assert cluster.command(cluster.hosts[0], "getParameter", 1, tlsMode=1)["tlsMode"] == "allowTLS"

    for mode in ("preferTLS", "requireTLS"):
        run = run_playbook(tls_tasks(cluster, tls_mode=mode))
        assert [r["changed"] for r in run.results] == [True] * 3, mode
        assert [r["tls_mode"] for r in run.results] == [mode] * 3
        writer.wait_for_acknowledged(20)
    assert all(plain_refused(host) for host in cluster.hosts)

    # A caller that cannot tell which way a member accepts connections asks plain, then over TLS.
    found = run_playbook(tls_tasks(cluster, tls_fallback=True, read_tls_mode=True))
    assert [(r["tls"], r["tls_mode"]) for r in found.results] == [(True, "requireTLS")] * 3
    again = run_playbook(tls_tasks(cluster, tls=True, tls_mode="requireTLS"))
    assert not any(r["changed"] for r in again.results)
    down = run_playbook(tls_tasks(cluster, tls=True, tls_mode="preferTLS")[:1], expect_failure=True).results[0]
    assert "from requireTLS to preferTLS at run time" in down["msg"] and "takes a restart" in down["msg"]

    assert [cluster.member(port).pid() for port in cluster.ports] == pids, "a member was restarted"
    cluster.wait_settled()
    writer.wait_for_acknowledged(20)
    writer.stop()
    writer.assert_no_acknowledged_write_lost()
