# -*- coding: utf-8 -*-
# Copyright: quorum.mongodb contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a host has now, read once, and whether it already is what a task would make it.

The roles read the state of the paths, users and groups they manage in one call
of ``quorum.mongodb.host_info`` and skip a task whose target already matches
(``path_matches``, ``user_matches``). A skipped task is one that would have
reported "ok": the comparison is of the same attributes the task sets (type,
owner, group, mode, content, link target), so whenever anything differs the
task runs as before, in check and diff mode too. Unit-tested in
tests/unit/plugins/module_utils/test_host_state.py.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import grp
import hashlib
import os
import pwd
import re
import stat

CHUNK = 1024 * 1024


def _name_of(lookup, number):
    try:
        return lookup(number)[0]
    except KeyError:
        return str(number)


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def path_state(path, checksum=True):
    """The path as the file tasks see it, without following a link at the end."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return {"exists": False}
    if stat.S_ISLNK(info.st_mode):
        kind = "link"
    elif stat.S_ISDIR(info.st_mode):
        kind = "directory"
    elif stat.S_ISREG(info.st_mode):
        kind = "file"
    else:
        kind = "other"
    state = {
        "exists": True,
        "type": kind,
        "mode": "%04o" % stat.S_IMODE(info.st_mode),
        "owner": _name_of(pwd.getpwuid, info.st_uid),
        "group": _name_of(grp.getgrgid, info.st_gid),
    }
    if kind == "link":
        state["src"] = os.readlink(path)
    elif kind == "file" and checksum:
        state["checksum"] = _sha256(path)
    return state


def user_state(name):
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return {"exists": False}
    return {
        "exists": True,
        "uid": entry.pw_uid,
        "group": _name_of(grp.getgrgid, entry.pw_gid),
        "home": entry.pw_dir,
        "shell": entry.pw_shell,
        "comment": entry.pw_gecos,
    }


def group_state(name):
    try:
        entry = grp.getgrnam(name)
    except KeyError:
        return {"exists": False}
    return {"exists": True, "gid": entry.gr_gid}


def secret_path_state(path, expected):
    """A path whose content must not be output: its state with, instead of its digest, whether it is ``expected``."""
    state = path_state(path)
    digest = state.pop("checksum", None)
    if state.get("type") == "file":
        state["checksum_matches"] = digest == str(expected).lower()
    return state


# A file read whole (read_paths) is a small record, never data: larger ones are refused.
MAX_READ = 64 * 1024


def change_time(path):
    """The change time of ``path`` in whole seconds, a link at the end followed (``stat --dereference``); None if
    there is no such path."""
    try:
        return int(os.stat(path).st_ctime)
    except FileNotFoundError:
        return None


def _read_bounded(path, limit):
    """A file's bytes, at most ``limit`` of them (ValueError beyond), or None if there is no such file."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except FileNotFoundError:
        return None
    if len(data) > limit:
        raise ValueError("%s is larger than %d bytes" % (path, limit))
    return data


def read_text(path):
    """The content of a small text file, or None if there is no such file."""
    data = _read_bounded(path, MAX_READ)
    return None if data is None else data.decode("utf-8", "replace")


MAX_PEM = 4 * 1024 * 1024
_PEM_CERTIFICATE = re.compile(r"-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+?-----END CERTIFICATE-----")


def read_certificates(path):
    """The PEM certificate blocks of a file (a CA bundle, or a certificate with its private key), in order, or
    None if there is no such file. Nothing else of the file is returned: a private key in it stays on the host."""
    data = _read_bounded(path, MAX_PEM)
    return None if data is None else _PEM_CERTIFICATE.findall(data.decode("ascii", "replace"))


def read_secret(path):
    with open(path, "rb") as handle:
        return handle.read().decode("utf-8", "replace")


def _distribution_name(name):
    """A distribution's name as its installed .dist-info directory spells it (PEP 503, then PEP 427's escape)."""
    return re.sub(r"[-_.]+", "-", name).lower().replace("-", "_")


def _metadata_version(path):
    """The Version header of an installed distribution's METADATA file, or None."""
    try:
        with open(path, "rb") as handle:
            for raw in handle:
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                if not line:
                    return None
                if line.lower().startswith("version:"):
                    return line.split(":", 1)[1].strip() or None
    except OSError:
        return None
    return None


def python_environment(root, names):
    """What a Python virtual environment at ``root`` has: whether its ``bin/python`` runs (exists once links
    are followed, and is executable) and the installed version of each distribution of ``names`` (None when
    not installed), read from the .dist-info METADATA that pip writes, without starting Python."""
    python = os.path.join(root, "bin", "python")
    wanted = dict((_distribution_name(name), name) for name in names)
    versions = dict((name, None) for name in names)
    for info in sorted(glob.glob(os.path.join(glob.escape(root), "lib", "python*", "site-packages", "*.dist-info"))):
        stem = os.path.basename(info)[:-len(".dist-info")]
        name = _distribution_name(stem.rsplit("-", 1)[0]) if "-" in stem else None
        if name in wanted and versions[wanted[name]] is None:
            versions[wanted[name]] = _metadata_version(os.path.join(info, "METADATA"))
    return {"python": os.path.isfile(python) and os.access(python, os.X_OK), "versions": versions}


def read_host(paths=(), users=(), groups=(), checksum=True, secret_checksums=None, differing_secrets=False,
              ctime_paths=(), read_paths=(), python_packages=None, certificate_paths=()):
    """The paths, users and groups; with ``differing_secrets``, also the content of each secret file that is
    not what ``secret_checksums`` expects (``secrets``: the caller must keep it out of the output); the change
    times of ``ctime_paths``, the contents of the small files ``read_paths`` and, for each virtual environment
    of ``python_packages`` (its directory to distribution names), what python_environment reports; the
    certificates (never the keys) of the PEM files ``certificate_paths``."""
    found = dict((path, path_state(path, checksum)) for path in paths)
    secrets = {}
    for path, expected in (secret_checksums or {}).items():
        found[path] = secret_path_state(path, expected)
        if differing_secrets and found[path].get("checksum_matches") is False:
            secrets[path] = read_secret(path)
    result = {
        "paths": found,
        "users": dict((name, user_state(name)) for name in users),
        "groups": dict((name, group_state(name)) for name in groups),
        "ctimes": dict((path, change_time(path)) for path in ctime_paths),
        "contents": dict((path, read_text(path)) for path in read_paths),
        "python_packages": dict((root, python_environment(root, names))
                                for root, names in (python_packages or {}).items()),
        "certificates": dict((path, read_certificates(path)) for path in certificate_paths),
    }
    if differing_secrets:
        result["secrets"] = secrets
    return result


def _mode(value):
    """A mode as the file tasks take it ("0644", "644", 420) in the form path_state reports."""
    if value is None:
        return None
    if isinstance(value, int):
        return "%04o" % value
    text = str(value).strip()
    if not text or any(char not in "01234567" for char in text):
        # A symbolic mode (u=rw,...): only the task can apply it, so never claim a match.
        return "symbolic"
    return "%04o" % int(text, 8)


def path_matches(state, kind, owner=None, group=None, mode=None, content=None, checksum=None, src=None):
    """True when a path's state is already what a task with these arguments makes it.

    ``kind`` is ``directory``, ``file`` or ``link``. A file is compared by the
    SHA-256 of ``content`` (text the task writes) or by ``checksum`` (of the
    file it copies), or, given neither, by the host's own comparison of a
    secret (``checksum_matches``); a link by its target ``src``. Unset arguments are not
    compared, as the tasks leave them alone.
    """
    if not state or not state.get("exists") or state.get("type") != kind:
        return False
    if owner is not None and state.get("owner") != str(owner):
        return False
    if group is not None and state.get("group") != str(group):
        return False
    wanted_mode = _mode(mode)
    if wanted_mode is not None and state.get("mode") != wanted_mode:
        return False
    if kind == "file":
        if content is not None:
            checksum = hashlib.sha256(content.encode("utf-8")).hexdigest()
        if checksum is None:
            # A secret's content was compared on the host (secret_path_state).
            if state.get("checksum_matches") is not True:
                return False
        elif state.get("checksum") != str(checksum).lower():
            return False
    if kind == "link" and (src is None or state.get("src") != src):
        return False
    return True


def user_matches(state, group=None, home=None, shell=None, comment=None):
    """True when a user exists with these attributes (unset ones are not compared)."""
    if not state or not state.get("exists"):
        return False
    wanted = {"group": group, "home": home, "shell": shell, "comment": comment}
    return all(value is None or state.get(key) == value for key, value in wanted.items())
