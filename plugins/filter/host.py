# -*- coding: utf-8 -*-
# Copyright: quorum.mongodb contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Filters that compare what quorum.mongodb.host_info read with what a task would make.

* ``path_matches``: a path is already the directory, file or link a task
  would make, with the same owner, group, mode and content or target;
* ``user_matches``: a user already exists with the attributes a task sets.

The comparison is module_utils/host_state.py's, shared with its unit tests.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.quorum.mongodb.plugins.module_utils.host_state import path_matches as _path_matches
from ansible_collections.quorum.mongodb.plugins.module_utils.host_state import user_matches as _user_matches

_KINDS = ("directory", "file", "link")


def path_matches(state, kind, owner=None, group=None, mode=None, content=None, checksum=None, src=None):
    if kind not in _KINDS:
        raise AnsibleFilterError("path_matches: kind must be one of %s, got %r" % (", ".join(_KINDS), kind))
    if state is not None and not isinstance(state, dict):
        raise AnsibleFilterError("path_matches expects one path's entry of quorum.mongodb.host_info, got %r" % (state,))
    # A file that is there was read either with its digest or, a secret, with the host's answer; one that is
    # not there simply does not match.
    if (kind == "file" and content is None and checksum is None and (state or {}).get("exists")
            and "checksum_matches" not in state):
        raise AnsibleFilterError("path_matches: a file needs content or checksum to compare, or an entry read with "
                                 "host_info's secret_checksums")
    return _path_matches(state, kind, owner=owner, group=group, mode=mode, content=content, checksum=checksum,
                         src=src)


def user_matches(state, group=None, home=None, shell=None, comment=None):
    if state is not None and not isinstance(state, dict):
        raise AnsibleFilterError("user_matches expects one user's entry of quorum.mongodb.host_info, got %r" % (state,))
    return _user_matches(state, group=group, home=home, shell=shell, comment=comment)


class FilterModule:
    """Filters over quorum.mongodb.host_info's answer."""

    def filters(self):
        return {
            "path_matches": path_matches,
            "user_matches": user_matches,
        }
