"""Unit tests for mongod_tls_problems and mongod_tls_rotation_problems (plugins/filter/mongod.py): a member's TLS
files are checked on the controller before anything is written - key and certificate belong together, the
certificate is valid now, a CA of the CA file signed it, it names the member - and so is whether the members can
take them one at a time. Certificates are made here with cryptography."""

import datetime
import ipaddress
import re

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from ansible.errors import AnsibleFilterError

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


# mongod_tls_rotation_problems: new TLS files are refused before any is written when rotating them in one member
# at a time would leave members refusing each other (a new CA and the certificates it issued in one run), and
# each stage of the staged CA change passes.
MEMBERS = ("db1", "db2", "db3")


def blocks(text):
    return re.findall(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", text, re.S)


@pytest.fixture
def pki(tmp_path):
    old, new = make_ca("old CA"), make_ca("new CA")
    # Another CA of the same name as the old one: its certificates must not pass for the old CA's.
    impostor = make_ca("old CA")
    files = {"old_ca": pem(old[1]), "new_ca": pem(new[1]), "bundle": pem(old[1]) + pem(new[1])}
    for member in MEMBERS:
        for label, ca in (("old", old), ("renewed", old), ("new", new), ("impostor", impostor)):
            key, cert = make_leaf(ca, names=(member, "localhost"))
            files["%s_%s" % (label, member)] = pem(cert, key)
    paths = {}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
        paths[name] = str(tmp_path / name)
    return files, paths


def members(pki, running_ca, running_leaf, new_ca=None, new_leaf=None, only=MEMBERS):
    """Every member running ``running_*`` (names in the pki), the members of ``only`` getting ``new_*``."""
    files, paths = pki
    found = []
    for member in MEMBERS:
        entry = {"member": member,
                 "running": {"ca": blocks(files[running_ca]),
                             "certificate_key": blocks(files["%s_%s" % (running_leaf, member)])},
                 "new": {}}
        if member in only:
            if new_ca:
                entry["new"]["ca"] = paths[new_ca]
            if new_leaf:
                entry["new"]["certificate_key"] = paths["%s_%s" % (new_leaf, member)]
        found.append(entry)
    return found


def test_a_new_ca_and_its_certificates_in_one_run_are_refused(mongod_filters, pki):
    found = mongod_filters.mongod_tls_rotation_problems(members(pki, "old_ca", "old", "new_ca", "new"))
    assert "db2's new certificate is issued by CN=new CA, which db1's current CA file does not hold" in found
    assert "db1's current certificate is issued by CN=old CA, which db2's new CA file does not hold" in found
    assert found[-1].startswith("the members take their new TLS files one at a time")
    assert "first mongod_tls_ca_file_src holding the old and the new CA on every member" in found[-1]


@pytest.mark.parametrize("stage", [
    # 1. the bundle of the old and the new CA, the certificates unchanged
    ("old_ca", "old", "bundle", None),
    # 2. the certificates issued by the new CA, the bundle kept
    ("bundle", "old", None, "new"),
    # 3. the new CA alone, once every member runs a certificate it issued
    ("bundle", "new", "new_ca", None),
    # a renewed certificate from the same CA (the usual rotation)
    ("old_ca", "old", None, "renewed"),
], ids=["bundle", "new certificates", "new CA alone", "renewal"])
def test_each_stage_of_the_staged_change_passes(mongod_filters, pki, stage):
    assert mongod_filters.mongod_tls_rotation_problems(members(pki, *stage)) == []


def test_a_certificate_of_another_ca_with_the_same_name_is_refused(mongod_filters, pki):
    found = mongod_filters.mongod_tls_rotation_problems(members(pki, "old_ca", "old", new_leaf="impostor"))
    assert "db1's new certificate is issued by CN=old CA, which db2's current CA file does not hold" in found


def test_one_member_moved_ahead_alone_is_refused_too(mongod_filters, pki):
    # Only db3 gets a certificate of the new CA while the others keep the old CA file.
    found = mongod_filters.mongod_tls_rotation_problems(members(pki, "old_ca", "old", new_leaf="new", only=("db3",)))
    assert "db3's new certificate is issued by CN=new CA, which db1's current CA file does not hold" in found
    assert not any(line.startswith("db1's") for line in found[:-1])


def test_members_without_certificates_now_are_not_constrained(mongod_filters, pki):
    # TLS files installed for the first time (a new set): nothing runs yet that could refuse them.
    files, paths = pki
    fresh = [{"member": m, "running": {"ca": None, "certificate_key": None},
              "new": {"ca": paths["new_ca"], "certificate_key": paths["new_" + m]}} for m in MEMBERS]
    assert mongod_filters.mongod_tls_rotation_problems(fresh) == []


def test_a_separate_cluster_certificate_is_checked_as_the_client_one(mongod_filters, pki):
    files, paths = pki
    found = members(pki, "old_ca", "old")
    found[0]["new"]["cluster"] = paths["new_db1"]
    problems = mongod_filters.mongod_tls_rotation_problems(found)
    assert "db1's new client certificate is issued by CN=new CA, which db2's current CA file does not hold" in problems
    assert not any("db1's new certificate " in line for line in problems)


def test_a_new_file_that_is_missing_or_holds_no_certificate_is_named(mongod_filters, pki, tmp_path):
    found = members(pki, "old_ca", "old", new_leaf="renewed")
    found[1]["new"]["certificate_key"] = str(tmp_path / "absent.pem")
    with pytest.raises(AnsibleFilterError, match=r"db2's new certificate_key file .*absent.pem cannot be read"):
        mongod_filters.mongod_tls_rotation_problems(found)
    (tmp_path / "empty.pem").write_text("not a certificate\n")
    found[1]["new"]["certificate_key"] = str(tmp_path / "empty.pem")
    with pytest.raises(AnsibleFilterError, match=r"db2's new certificate_key file .*empty.pem holds no PEM"):
        mongod_filters.mongod_tls_rotation_problems(found)
