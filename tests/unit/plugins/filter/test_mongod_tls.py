"""Unit tests for mongod_tls_problems (plugins/filter/mongod.py): a member's TLS files are checked on the
controller before anything is written - key and certificate belong together, the certificate is valid now,
a CA of the CA file signed it, it names the member. Certificates are made here with cryptography."""

import datetime
import ipaddress

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

NOW = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=datetime.timezone.utc)
DAY = datetime.timedelta(days=1)


def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_ca(cn):
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(cn)).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(NOW - DAY).not_valid_after(NOW + 30 * DAY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return key, cert


def make_leaf(ca, names=("db1.example.com", "localhost", "127.0.0.1"), start=NOW - DAY, end=NOW + 10 * DAY):
    ca_key, ca_cert = ca
    key = ec.generate_private_key(ec.SECP256R1())
    sans = []
    for name in names:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            sans.append(x509.DNSName(name))
    cert = (x509.CertificateBuilder().subject_name(_name("member")).issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(end)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False).sign(ca_key, hashes.SHA256()))
    return key, cert


def pem(cert=None, key=None):
    out = b""
    if cert is not None:
        out += cert.public_bytes(serialization.Encoding.PEM)
    if key is not None:
        out += key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())
    return out.decode("ascii")


@pytest.fixture
def write(tmp_path):
    def write_file(name, text):
        path = tmp_path / name
        path.write_text(text)
        return str(path)
    return write_file


@pytest.fixture
def ca():
    return make_ca("old CA")


def problems(mongod_filters, files, names=("db1.example.com", "localhost")):
    return mongod_filters.mongod_tls_problems(files, "db1", names=list(names), now=NOW)


def test_good_files_pass(mongod_filters, write, ca):
    key, cert = make_leaf(ca)
    files = {"certificate_key": write("server.pem", pem(cert, key)), "ca": write("ca.pem", pem(ca[1]))}
    assert problems(mongod_filters, files, names=["db1.example.com", "localhost", "127.0.0.1"]) == []


def test_a_bundle_of_old_and_new_ca_verifies_either_leaf(mongod_filters, write, ca):
    new_ca = make_ca("new CA")
    bundle = write("bundle.pem", pem(ca[1]) + pem(new_ca[1]))
    for issuer in (ca, new_ca):
        key, cert = make_leaf(issuer)
        files = {"certificate_key": write("server.pem", pem(cert, key)), "ca": bundle}
        assert problems(mongod_filters, files) == []


@pytest.mark.parametrize("case, words", [
    ("key of another certificate", "private key that does not belong to its certificate"),
    ("expired", "not now (2026-12-01T12:00:00+00:00)"),
    ("not yet valid", "valid from 2026-12-03"),
    ("other CA", "which no CA of mongod_tls_ca_file_src"),
    ("missing name", "does not name db1.example.com"),
    ("no key", "must hold the member's certificate and its private key"),
])
def test_each_problem_is_named_with_member_and_variable(mongod_filters, write, ca, case, words):
    key, cert = make_leaf(ca)
    ca_file = write("ca.pem", pem(ca[1]))
    if case == "key of another certificate":
        text = pem(cert, make_leaf(ca)[0])
    elif case == "expired":
        key, cert = make_leaf(ca, start=NOW - 10 * DAY, end=NOW - DAY)
        text = pem(cert, key)
    elif case == "not yet valid":
        key, cert = make_leaf(ca, start=NOW + 2 * DAY, end=NOW + 10 * DAY)
        text = pem(cert, key)
    elif case == "other CA":
        key, cert = make_leaf(make_ca("old CA"))  # same name, another key: the signature decides
        text = pem(cert, key)
    elif case == "missing name":
        key, cert = make_leaf(ca, names=("db2.example.com", "localhost"))
        text = pem(cert, key)
    else:
        text = pem(cert)
    found = problems(mongod_filters, {"certificate_key": write("server.pem", text), "ca": ca_file})
    assert len(found) == 1, found
    assert found[0].startswith("db1: mongod_tls_certificate_key_file_src (")
    assert words in found[0]


def test_a_wildcard_names_one_level(mongod_filters, write, ca):
    key, cert = make_leaf(ca, names=("*.example.com", "localhost"))
    files = {"certificate_key": write("server.pem", pem(cert, key)), "ca": write("ca.pem", pem(ca[1]))}
    assert problems(mongod_filters, files, names=["db1.example.com"]) == []
    assert "does not name a.b.example.com" in problems(mongod_filters, files, names=["a.b.example.com"])[0]
