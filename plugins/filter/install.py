# -*- coding: utf-8 -*-
# Copyright: quorum.mongodb contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Filters for the install role's choices that other plays need too.

* ``install_archive_version``: the MongoDB version an official archive's name
  carries (mongodb-linux-x86_64-debian12-8.0.4.tgz is 8.0.4), so the install
  role's preflight can check it against install_mongodb_version and the version
  check in playbooks/site.yml can tell a patch upgrade from nothing to do.
"""

from __future__ import annotations

import posixpath
import re

from ansible.errors import AnsibleFilterError

# MongoDB's archive names end in -<major>.<minor>.<patch>[-rcN] before .tgz (or .tar.gz), and the archive's
# top directory is the same name without the extension.
_ARCHIVE_VERSION = re.compile(r"-(\d+\.\d+\.\d+(?:-rc\d+)?)(?:\.tgz|\.tar\.gz)?$")


def install_archive_version(name):
    if not isinstance(name, str):
        raise AnsibleFilterError("install_archive_version expects an archive's file name, URL or top directory, "
                                 "got %r" % (name,))
    match = _ARCHIVE_VERSION.search(posixpath.basename(name.rstrip("/")))
    return match.group(1) if match else ""


class FilterModule:
    """Filters over the install role's variables."""

    def filters(self):
        return {
            "install_archive_version": install_archive_version,
        }
