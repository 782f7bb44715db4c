"""The host filters: argument checks of their own, the comparison of module_utils/host_state.py."""

import pytest
from ansible.errors import AnsibleFilterError

DIRECTORY = {"exists": True, "type": "directory", "mode": "0755", "owner": "root", "group": "root"}


def test_path_matches_compares_through_host_state(host_filters):
    matches = host_filters.FilterModule().filters()["path_matches"]
    assert matches(DIRECTORY, "directory", "root", "root", "0755")
    assert not matches(DIRECTORY, "directory", "root", "root", "0750")
    assert not matches({}, "directory", "root", "root", "0755")


@pytest.mark.parametrize("args, words", [
    (({"exists": True}, "pipe"), "kind must be one of"),
    (("/etc/mongod.conf", "file"), "one path's entry"),
    (({"exists": True, "type": "file"}, "file"), "needs content or checksum"),
])
def test_path_matches_refuses_what_it_cannot_compare(host_filters, args, words):
    with pytest.raises(AnsibleFilterError, match=words):
        host_filters.path_matches(*args)


def test_user_matches(host_filters):
    matches = host_filters.FilterModule().filters()["user_matches"]
    user = {"exists": True, "group": "mongodb", "home": "/nonexistent", "shell": "/usr/sbin/nologin"}
    assert matches(user, group="mongodb", home="/nonexistent")
    assert not matches(user, shell="/bin/sh")
    with pytest.raises(AnsibleFilterError, match="one user's entry"):
        matches("mongodb")


def test_a_secret_that_is_not_there_yet_does_not_match(host_filters):
    # A new host: host_info's secret_checksums reads a keyFile that does not exist yet.
    assert not host_filters.path_matches({"exists": False}, "file", "mongodb", "mongodb", "0400")
    assert not host_filters.path_matches({}, "file", "mongodb", "mongodb", "0400")
