"""quorum.mongodb.member's certificate rotation through ansible-playbook against a requireTLS mongosim
set: the CA rotation in its stages (the bundle of old and new CA, then the new leaf certificates), each
applied with rotateCertificates and no restart; a bad file fails naming the member, which keeps its
certificate. Verified against mongosim."""

import shutil
import socket
import ssl

import pytest

from conftest import IntegrationCluster
from mongosim import testing
from mongosim.cluster import free_ports

ADMIN = "admin"
ADMIN_PASSWORD = "Adm1n-rotation-secret"


def issuer_of(port, ca_file, client_pem):
    context = ssl.create_default_context(cafile=ca_file)
    context.check_hostname = False
    context.load_cert_chain(client_pem)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with context.wrap_socket(raw) as tls:
            return dict(item[0] for item in tls.getpeercert()["issuer"])["commonName"]


@pytest.fixture
def rotating_set(tmp_path):
    old = testing.make_test_pki(tmp_path / "old", ["member"], ca_name="old CA")
    new = testing.make_test_pki(tmp_path / "new", ["member"], ca_name="new CA")
    live = tmp_path / "live"
    live.mkdir()
    files = {"pem": str(live / "server.pem"), "ca": str(live / "ca.pem")}
    shutil.copy(old["member"], files["pem"])
    shutil.copy(old["ca"], files["ca"])
    cluster = IntegrationCluster(tmp_path / "cluster", free_ports(3), auth=False,
                                 tls={"mode": "requireTLS", "cert": files["pem"], "ca": files["ca"]})
    cluster.tls_files = files
    cluster.start()
    try:
        cluster.initiate()
        cluster.command(cluster.primary(), "createUser", ADMIN, pwd=ADMIN_PASSWORD, roles=["root"],
                        writeConcern={"w": "majority"})
        yield cluster, old, new
    finally:
        cluster.kill()


def rotate_tasks(cluster):
    return [{"name": "rotate %s" % host, "quorum.mongodb.member": cluster.login_args(
        host, login_user=ADMIN, login_password=ADMIN_PASSWORD, rotate_certificates=True,
        tls_allow_invalid_hostnames=True)} for host in cluster.hosts]


def test_ca_rotation_in_stages_without_a_restart(rotating_set, run_playbook):
    cluster, old, new = rotating_set
    pids = [cluster.member(port).pid() for port in cluster.ports]
    bundle = open(old["ca"]).read() + open(new["ca"]).read()

    # The bundle first: every member trusts both CAs, still presenting the old certificate.
    open(cluster.tls_files["ca"], "w").write(bundle)
    check = run_playbook(rotate_tasks(cluster), check=True)
    assert [r["certificates_rotated"] for r in check.results] == [True, True, True]
    run = run_playbook(rotate_tasks(cluster))
    assert [r["changed"] for r in run.results] == [True, True, True]
    # Then the new leaf certificate: new connections get it, the old CA's clients still get in.
    shutil.copy(new["member"], cluster.tls_files["pem"])
    run_playbook(rotate_tasks(cluster))
    for port in cluster.ports:
        assert issuer_of(port, cluster.tls_files["ca"], old["member"]) == "new CA"
    assert [cluster.member(port).pid() for port in cluster.ports] == pids, "a member was restarted"
    cluster.wait_settled()


def test_a_bad_file_fails_naming_the_member_which_keeps_its_certificate(rotating_set, run_playbook):
    cluster, old, _new = rotating_set
    host = cluster.hosts[0]
    # The client connection reads the CA and its own certificate before the server file is broken.
    client_pem = str(cluster.tls_files["pem"]) + ".client"
    shutil.copy(old["member"], client_pem)
    task = rotate_tasks(cluster)[0]
    task["quorum.mongodb.member"]["tls_certificate_key_file"] = client_pem
    open(cluster.tls_files["pem"], "w").write("not a certificate\n")
    failed = run_playbook([task], expect_failure=True).results[0]
    assert "rotateCertificates on %s failed: code 140" % host in failed["msg"]
    assert "%s keeps the certificate it runs with" % host in failed["msg"]
    assert issuer_of(cluster.ports[0], cluster.tls_files["ca"], old["member"]) == "old CA"
