"""rotateCertificates (SEMANTICS.md section 9.5): the files net.tls names are read again for new
connections, existing ones keep going, and a file that cannot be used fails the command and leaves the
running certificate in place."""

import shutil
import socket
import ssl

from mongosim import testing

from conftest import direct, error_of


def _issuer_presented(port, ca_bundle, client_pem):
    """The common name of the issuer of the certificate the server presents to a new TLS connection."""
    context = ssl.create_default_context(cafile=ca_bundle)
    context.check_hostname = False
    context.load_cert_chain(client_pem)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with context.wrap_socket(raw) as tls:
            issuer = dict(item[0] for item in tls.getpeercert()["issuer"])
    return issuer["commonName"]


def test_rotation_reads_the_files_again_and_a_bad_file_keeps_the_old(make_cluster, tmp_path):
    old = testing.make_test_pki(tmp_path / "old", ["member"], ca_name="old CA")
    new = testing.make_test_pki(tmp_path / "new", ["member"], ca_name="new CA")
    live = tmp_path / "live"
    live.mkdir()
    server_pem, ca_file = live / "server.pem", live / "ca.pem"
    shutil.copy(old["member"], server_pem)
    shutil.copy(old["ca"], ca_file)
    bundle = tmp_path / "bundle.pem"
    bundle.write_text(open(old["ca"]).read() + open(new["ca"]).read())

    cluster = make_cluster(1, tls={"mode": "requireTLS", "cert": str(server_pem), "ca": str(ca_file)})
    port = cluster.ports[0]
    client = direct(cluster.hosts[0], tls=True, tlsCAFile=str(bundle), tlsCertificateKeyFile=old["member"],
                    tlsAllowInvalidHostnames=True)
    assert client.admin.command("ping")["ok"] == 1.0
    assert _issuer_presented(port, str(bundle), old["member"]) == "old CA"

    # A file that is not a certificate and key: the command fails and the running certificate stays.
    server_pem.write_text("not a certificate\n")
    assert error_of(lambda: client.admin.command("rotateCertificates", 1)) == (140, "Can not set up PEM key file.")
    assert _issuer_presented(port, str(bundle), old["member"]) == "old CA"

    # The CA bundle of both CAs, then the new certificate: new connections get it, clients of either CA are
    # accepted, and the connection opened before the rotation keeps working.
    ca_file.write_text(bundle.read_text())
    shutil.copy(new["member"], server_pem)
    assert client.admin.command("rotateCertificates", 1, message="new CA")["ok"] == 1.0
    assert _issuer_presented(port, str(bundle), old["member"]) == "new CA"
    assert _issuer_presented(port, str(bundle), new["member"]) == "new CA"
    assert client.admin.command("ping")["ok"] == 1.0


def test_without_tls_there_is_nothing_to_rotate(make_cluster):
    cluster = make_cluster(1)
    assert direct(cluster.hosts[0]).admin.command("rotateCertificates", 1)["ok"] == 1.0
