"""Unit tests for plugins/filter/install.py."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.quorum.mongodb.plugins.filter.install import install_archive_version


@pytest.mark.parametrize("name, version", [
    ("mongodb-linux-x86_64-debian12-8.0.4.tgz", "8.0.4"),
    ("https://fastdl.mongodb.org/linux/mongodb-linux-aarch64-ubuntu2204-7.0.14.tgz", "7.0.14"),
    ("/srv/files/mongodb-linux-x86_64-rhel93-8.0.0-rc3.tar.gz", "8.0.0-rc3"),
    ("mongodb-linux-x86_64-debian12-8.0.4", "8.0.4"),
    ("/opt/mongodb/mongodb-linux-x86_64-debian12-8.0.4/", "8.0.4"),
    # The distribution's digits are not a version; a name without one gives nothing.
    ("mongodb-linux-x86_64-debian12.tgz", ""),
    ("mongod-custom-build.tgz", ""),
    ("", ""),
])
def test_install_archive_version(name, version):
    assert install_archive_version(name) == version


def test_install_archive_version_refuses_what_is_not_a_name():
    with pytest.raises(AnsibleFilterError, match="archive's file name"):
        install_archive_version(None)
