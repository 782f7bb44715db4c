"""Unit tests for plugins/module_utils/host_state.py: reading paths and accounts, and the match rules.

The match rules decide whether a role skips a task, so each attribute a task
sets must, when it differs, make the path not match.
"""

import grp
import hashlib
import os
import pwd

import pytest

from ansible_collections.quorum.mongodb.plugins.module_utils import host_state as hs

ME = pwd.getpwuid(os.getuid()).pw_name
MY_GROUP = grp.getgrgid(os.getgid()).gr_name


@pytest.fixture
def tree(tmp_path):
    (tmp_path / "dir").mkdir(mode=0o750)
    os.chmod(tmp_path / "dir", 0o750)
    (tmp_path / "file").write_text("net:\n  port: 27017\n")
    os.chmod(tmp_path / "file", 0o640)
    os.symlink(str(tmp_path / "file"), str(tmp_path / "link"))
    return tmp_path


def test_reads_each_kind_without_following_a_link(tree):
    state = hs.read_host([str(tree / name) for name in ("dir", "file", "link", "none")])["paths"]
    assert state[str(tree / "dir")] == {"exists": True, "type": "directory", "mode": "0750", "owner": ME,
                                        "group": MY_GROUP}
    assert state[str(tree / "file")]["checksum"] == hashlib.sha256(b"net:\n  port: 27017\n").hexdigest()
    assert state[str(tree / "file")]["mode"] == "0640"
    assert state[str(tree / "link")]["type"] == "link"
    assert state[str(tree / "link")]["src"] == str(tree / "file")
    assert "checksum" not in state[str(tree / "link")]
    assert state[str(tree / "none")] == {"exists": False}


def test_checksum_can_be_left_out(tree):
    state = hs.read_host([str(tree / "file")], checksum=False)["paths"][str(tree / "file")]
    assert "checksum" not in state and state["type"] == "file"


def test_a_directory_matches_only_with_every_attribute_equal(tree):
    state = hs.path_state(str(tree / "dir"))
    assert hs.path_matches(state, "directory", ME, MY_GROUP, "0750")
    assert hs.path_matches(state, "directory", ME, MY_GROUP, "750")
    assert hs.path_matches(state, "directory", ME, MY_GROUP, 0o750)
    assert hs.path_matches(state, "directory")
    assert not hs.path_matches(state, "directory", ME, MY_GROUP, "0755")
    assert not hs.path_matches(state, "directory", "nobody-here", MY_GROUP, "0750")
    assert not hs.path_matches(state, "directory", ME, "nogroup-here", "0750")
    assert not hs.path_matches(state, "file", ME, MY_GROUP, "0750", content="")
    assert not hs.path_matches(state, "directory", ME, MY_GROUP, "u=rwx,g=rx")


def test_a_file_matches_only_with_the_same_content(tree):
    state = hs.path_state(str(tree / "file"))
    assert hs.path_matches(state, "file", ME, MY_GROUP, "0640", content="net:\n  port: 27017\n")
    assert not hs.path_matches(state, "file", ME, MY_GROUP, "0640", content="net:\n  port: 27018\n")
    # A trailing newline is content too.
    assert not hs.path_matches(state, "file", ME, MY_GROUP, "0640", content="net:\n  port: 27017")
    digest = hashlib.sha256(b"net:\n  port: 27017\n").hexdigest()
    assert hs.path_matches(state, "file", ME, MY_GROUP, "0640", checksum=digest.upper())
    assert not hs.path_matches(state, "file", ME, MY_GROUP, "0640", checksum="unknown")
    # Neither content nor checksum: nothing proves the content, so no match.
    assert not hs.path_matches(state, "file", ME, MY_GROUP, "0640")


def test_a_file_read_without_checksum_never_matches(tree):
    state = hs.path_state(str(tree / "file"), checksum=False)
    assert not hs.path_matches(state, "file", ME, MY_GROUP, "0640", content="net:\n  port: 27017\n")


def test_a_link_matches_only_with_the_same_target(tree):
    state = hs.path_state(str(tree / "link"))
    assert hs.path_matches(state, "link", src=str(tree / "file"))
    assert not hs.path_matches(state, "link", src=str(tree / "dir"))
    assert not hs.path_matches(state, "link")
    assert not hs.path_matches(hs.path_state(str(tree / "file")), "link", src=str(tree / "file"))


@pytest.mark.parametrize("state", [None, {}, {"exists": False}])
def test_nothing_there_never_matches(state):
    assert not hs.path_matches(state, "directory")
    assert not hs.user_matches(state)


def test_users_and_groups():
    me = pwd.getpwuid(os.getuid())
    answer = hs.read_host(users=[ME, "no-such-user-here"], groups=[MY_GROUP, "no-such-group-here"])
    user = answer["users"][ME]
    assert user["exists"] and user["uid"] == os.getuid() and user["home"] == me.pw_dir
    assert answer["users"]["no-such-user-here"] == {"exists": False}
    assert answer["groups"][MY_GROUP] == {"exists": True, "gid": os.getgid()}
    assert answer["groups"]["no-such-group-here"] == {"exists": False}
    assert hs.user_matches(user, group=MY_GROUP, home=me.pw_dir, shell=me.pw_shell, comment=me.pw_gecos)
    assert hs.user_matches(user)
    assert not hs.user_matches(user, shell="/no/such/shell")
    assert not hs.user_matches(user, home="/elsewhere")
    assert not hs.user_matches(user, group="nogroup-here")
    assert not hs.user_matches(user, comment=me.pw_gecos + "x")


def test_a_secret_is_compared_on_the_host_and_its_digest_not_returned(tree):
    path = str(tree / "file")
    right = hashlib.sha256(b"net:\n  port: 27017\n").hexdigest()
    state = hs.read_host(secret_checksums={path: right.upper()})["paths"][path]
    assert state["checksum_matches"] is True and "checksum" not in state
    assert hs.path_matches(state, "file", ME, MY_GROUP, "0640")
    assert not hs.path_matches(state, "file", ME, MY_GROUP, "0400")
    wrong = hs.read_host(secret_checksums={path: "0" * 64})["paths"][path]
    assert wrong["checksum_matches"] is False and "checksum" not in wrong
    assert not hs.path_matches(wrong, "file", ME, MY_GROUP, "0640")
    assert hs.read_host(secret_checksums={str(tree / "none"): right})["paths"][str(tree / "none")] == {"exists": False}


def test_change_times_follow_a_link_and_a_missing_path_is_null(tree):
    os.utime(str(tree / "file"), (1000, 1000))
    answer = hs.read_host(ctime_paths=[str(tree / "link"), str(tree / "none")])["ctimes"]
    # ctime is set by the kernel (utime cannot set it): the link's answer is its target's.
    assert answer[str(tree / "link")] == int(os.stat(str(tree / "file")).st_ctime)
    assert answer[str(tree / "none")] is None


def test_small_files_are_read_whole_and_large_ones_refused(tree):
    record = tree / "record.json"
    record.write_text('{"conf": "abc"}')
    answer = hs.read_host(read_paths=[str(record), str(tree / "none")])["contents"]
    assert answer == {str(record): '{"conf": "abc"}', str(tree / "none"): None}
    big = tree / "big"
    big.write_bytes(b"x" * (hs.MAX_READ + 1))
    with pytest.raises(ValueError, match="larger than"):
        hs.read_host(read_paths=[str(big)])


def test_a_differing_secret_is_read_only_when_asked_and_only_when_it_differs(tree):
    path = str(tree / "keyfile")
    with open(path, "w") as handle:
        handle.write("b2xka2V5")
    right = hashlib.sha256(b"b2xka2V5").hexdigest()
    assert "secrets" not in hs.read_host(secret_checksums={path: "0" * 64})
    assert hs.read_host(secret_checksums={path: "0" * 64}, differing_secrets=True)["secrets"] == {path: "b2xka2V5"}
    assert hs.read_host(secret_checksums={path: right}, differing_secrets=True)["secrets"] == {}
    missing = str(tree / "none")
    assert hs.read_host(secret_checksums={missing: right}, differing_secrets=True)["secrets"] == {}


def make_venv(root, python_target=None, distributions=()):
    """A virtual environment's layout as venv and pip leave it: bin/python (a link to the interpreter) and a
    .dist-info directory with METADATA per installed distribution."""
    (root / "bin").mkdir(parents=True)
    interpreter = root / "interpreter"
    interpreter.write_text("#!/bin/sh\n")
    os.chmod(interpreter, 0o755)
    os.symlink(str(python_target or interpreter), str(root / "bin" / "python"))
    site = root / "lib" / "python3.11" / "site-packages"
    site.mkdir(parents=True)
    for directory, version in distributions:
        (site / directory).mkdir()
        (site / directory / "METADATA").write_text(
            "Metadata-Version: 2.1\nName: x\nVersion: %s\nSummary: s\n\nVersion: 0.0 in the description\n" % version)
    return root


def test_a_python_environment_is_read_without_starting_its_python(tmp_path):
    venv = make_venv(tmp_path / "venv", distributions=[("pymongo-4.20.0.dist-info", "4.20.0"),
                                                       ("dns_python-2.6.1.dist-info", "2.6.1")])
    found = hs.read_host(python_packages={str(venv): ["pymongo", "dns.python", "cryptography"]})
    assert found["python_packages"] == {str(venv): {
        "python": True, "versions": {"pymongo": "4.20.0", "dns.python": "2.6.1", "cryptography": None}}}


def test_an_environment_whose_python_is_gone_or_missing_does_not_run(tmp_path):
    broken = make_venv(tmp_path / "broken", python_target=tmp_path / "python3.9-removed",
                       distributions=[("pymongo-4.20.0.dist-info", "4.20.0")])
    found = hs.read_host(python_packages={str(broken): ["pymongo"], str(tmp_path / "none"): ["pymongo"]})
    assert found["python_packages"][str(broken)]["python"] is False
    assert found["python_packages"][str(tmp_path / "none")] == {"python": False, "versions": {"pymongo": None}}


CERT_A = "-----BEGIN CERTIFICATE-----\nMIIBAAAA\nBBBB==\n-----END CERTIFICATE-----"
CERT_B = "-----BEGIN CERTIFICATE-----\nMIICCCCC\n-----END CERTIFICATE-----"
KEY = "-----BEGIN PRIVATE KEY-----\nMIIEsecret\n-----END PRIVATE KEY-----"


def test_only_the_certificates_of_a_pem_file_are_returned(tmp_path):
    (tmp_path / "member.pem").write_text("%s\n%s\n%s\n" % (CERT_A, KEY, CERT_B))
    (tmp_path / "ca.pem").write_text("subject=CN=ca\n%s\n" % CERT_B)
    found = hs.read_host(certificate_paths=[str(tmp_path / "member.pem"), str(tmp_path / "ca.pem"),
                                            str(tmp_path / "none.pem")])["certificates"]
    assert found == {str(tmp_path / "member.pem"): [CERT_A, CERT_B], str(tmp_path / "ca.pem"): [CERT_B],
                     str(tmp_path / "none.pem"): None}
    assert "secret" not in repr(found)
