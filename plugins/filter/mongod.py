# -*- coding: utf-8 -*-
# Copyright: quorum.mongodb contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Filters the mongod role uses to build and check mongod.conf and the keyFile.

* ``mongod_conf`` merges the role's settings with the user's free-form
  ``mongod_config_extra`` and drops every unset (``None``) value and every
  section left empty, so ``to_nice_yaml`` of the result is exactly the file.
  A ``None`` in the extra dict removes a key the role would otherwise write.
* ``mongod_conf_problems`` lists the options in a rendered configuration that
  the chosen MongoDB release refuses at start-up (removed options, keys that
  are not allowed in a config file, contradictory settings), so the role fails
  in preflight instead of leaving a member that cannot start.
* ``mongod_keyfile_problems`` applies mongod's keyFile content rules.
* ``mongod_conf_restart_digest`` fingerprints a rendered configuration
  without the settings the role applies to a running mongod instead
  (``RUNTIME_SETTINGS``), so that a change of only those needs no restart.
* ``mongod_unit_properties`` and ``mongod_files_changed_since`` read
  ``systemctl show`` and ``stat`` output to find files that changed after the
  running mongod started, i.e. members that run an outdated configuration.
"""

from __future__ import annotations

import calendar
import hashlib
import json
import re
import time

from ansible.errors import AnsibleFilterError

# (dotted key, first release series that refuses it, why / what instead).
# Sources: MongoDB's configuration-file option mapping and its changelog; see
# tests/mongosim/SEMANTICS.md section 10 (options releases removed).
REMOVED_OPTIONS = (
    ("storage.mmapv1", (4, 2), "MMAPv1 was removed in 4.2"),
    ("storage.repairPath", (4, 2), "removed in 4.2"),
    ("replication.secondaryIndexPrefetch", (4, 2), "removed with MMAPv1 in 4.2"),
    ("storage.indexBuildRetry", (4, 4), "removed in 4.4"),
    ("net.serviceExecutor", (5, 0), "removed in 5.0"),
    ("storage.journal.enabled", (6, 1), "journaling is always on since 6.1; remove the key"),
)
# Keys mongod never accepts in a config file, whatever the release.
FORBIDDEN_IN_FILE = (
    ("security.enableLocalhostAuthBypass", "set it under setParameter instead"),
    ("security.authSchemaVersion", "it cannot be set in a config file"),
)
# Settings of mongod.conf that the role applies to a running mongod, so that changing only them needs no
# restart (tests/mongosim/SEMANTICS.md section 11.1): the oplog's size is resized with replSetResizeOplog
# and is read from the file only when the oplog is created; the minimum retention is sent with it.
RUNTIME_SETTINGS = (
    "replication.oplogSizeMB",
    "storage.oplogMinRetentionHours",
)
BASE64_KEY = re.compile(r"^[A-Za-z0-9+/=]*$")
KEY_WHITESPACE = re.compile(r"[\t\n\v\f\r ]")


def _merge(base, extra):
    if not isinstance(extra, dict):
        raise AnsibleFilterError("mongod_conf: mongod_config_extra must be a dictionary, got %s" % type(extra).__name__)
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _prune(value):
    if isinstance(value, dict):
        pruned = {}
        for key, raw in value.items():
            item = _prune(raw)
            if item is None or (isinstance(item, dict) and not item):
                continue
            pruned[key] = item
        return pruned
    if isinstance(value, (list, tuple)):
        return [_prune(item) for item in value]
    return value


def mongod_conf(settings, extra=None):
    """Settings merged with the free-form extra dict, unset values and empty sections dropped."""
    if not isinstance(settings, dict):
        raise AnsibleFilterError("mongod_conf: expected a dictionary of settings, got %s" % type(settings).__name__)
    return _prune(_merge(settings, extra if extra is not None else {}))


def _series(version):
    match = re.match(r"^\s*(\d+)\.(\d+)", str(version))
    if not match:
        raise AnsibleFilterError("mongod_conf_problems: cannot read a MongoDB release series from %r "
                                 "(expected X.Y such as 8.0)" % (version,))
    return int(match.group(1)), int(match.group(2))


def _lookup(conf, dotted):
    node = conf
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def mongod_conf_problems(conf, version, variable="mongod_config_extra"):
    """Options in ``conf`` that mongod ``version`` refuses to start with, as messages."""
    series = _series(version)
    problems = []
    for dotted, since, why in REMOVED_OPTIONS:
        present, _value = _lookup(conf, dotted)
        if present and series >= since:
            problems.append("%s is not accepted by MongoDB %d.%d (%s): remove it from %s"
                            % (dotted, series[0], series[1], why, variable))
    for dotted, why in FORBIDDEN_IN_FILE:
        if _lookup(conf, dotted)[0]:
            problems.append("%s is refused in mongod.conf (%s): remove it from %s" % (dotted, why, variable))
    present, value = _lookup(conf, "replication.enableMajorityReadConcern")
    if present and value is not True and series >= (5, 0):
        problems.append("replication.enableMajorityReadConcern can only be true since MongoDB 5.0: remove it from %s"
                        % variable)
    if _lookup(conf, "net.bindIp")[0] and _lookup(conf, "net.bindIpAll")[1] is True:
        problems.append("net.bindIp and net.bindIpAll are both set: use mongod_bind_ip, or mongod_bind_ip_all: true, "
                        "not both")
    present, value = _lookup(conf, "processManagement.fork")
    if present and value is True:
        problems.append("processManagement.fork: true would make mongod leave the foreground and systemd would "
                        "see the service exit: remove it from %s" % variable)
    present, value = _lookup(conf, "replication.oplogSizeMB")
    if present and (isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0):
        problems.append("replication.oplogSizeMB must be a number greater than 0 (mongod_oplog_size_mb), got %r"
                        % (value,))
    return problems


def mongod_keyfile_problems(content, variable="mongod_keyfile_content"):
    """mongod's keyFile rules for ``content`` (one key, or a list of keys during a rotation)."""
    if content is None or (isinstance(content, str) and not content.strip()):
        return ["%s is empty: give a key of 6 to 1024 base64 characters (for example the output of "
                "'openssl rand -base64 756')" % variable]
    keys = content if isinstance(content, (list, tuple)) else [content]
    if not keys:
        return ["%s is an empty list: give at least one key" % variable]
    problems = []
    for index, key in enumerate(keys):
        where = variable if len(keys) == 1 and not isinstance(content, (list, tuple)) else "%s[%d]" % (variable, index)
        if not isinstance(key, str):
            problems.append("%s must be a string" % where)
            continue
        stripped = KEY_WHITESPACE.sub("", key)
        if not BASE64_KEY.match(stripped):
            problems.append("%s has characters outside the base64 alphabet (A-Z a-z 0-9 + / =); mongod refuses "
                            "such a key" % where)
        if not 6 <= len(stripped) <= 1024:
            problems.append("%s is %d characters long without whitespace; mongod needs 6 to 1024"
                            % (where, len(stripped)))
    return problems


def mongod_unit_properties(text):
    """``systemctl show`` output (``Key=Value`` lines) as a dictionary."""
    properties = {}
    for line in str(text).splitlines():
        key, sep, value = line.partition("=")
        if sep and key:
            properties[key.strip()] = value
    return properties


def _systemd_utc_seconds(timestamp):
    """Seconds since the epoch of a ``systemctl show`` timestamp printed with TZ=UTC."""
    match = re.match(r"^(?:[A-Za-z]{3} )?(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) UTC$", str(timestamp).strip())
    if not match:
        return None
    return calendar.timegm(time.strptime(match.group(1), "%Y-%m-%d %H:%M:%S"))


def mongod_files_changed_since(stat_lines, started):
    """Paths whose change time is later than the start of the running mongod.

    ``stat_lines`` are ``stat --format='%Z %n'`` lines (change time in whole
    seconds, then the path); ``started`` is the service's
    ``ExecMainStartTimestamp`` as ``systemctl show`` prints it with ``TZ=UTC``.
    Only files changed in a later second count, so a file written in the very
    second mongod started is not reported (the role's own writes are tracked
    separately). An unreadable timestamp reports nothing rather than guessing.
    """
    start = _systemd_utc_seconds(started)
    if start is None:
        return []
    changed = []
    for line in stat_lines or []:
        seconds, sep, path = str(line).partition(" ")
        if not sep or not seconds.isdigit():
            continue
        if int(seconds) > start:
            changed.append(path)
    return changed


def _without(conf, dotted):
    """A copy of ``conf`` without the nested key ``dotted`` (sections left empty are dropped)."""
    head, _sep, rest = dotted.partition(".")
    if not isinstance(conf, dict) or head not in conf:
        return conf
    out = dict(conf)
    if rest:
        inner = _without(conf[head], rest)
        if isinstance(inner, dict) and not inner:
            del out[head]
        else:
            out[head] = inner
    else:
        del out[head]
    return out


def mongod_conf_restart_digest(conf):
    """sha256 of ``conf`` (a rendered mongod.conf, as a dict) without RUNTIME_SETTINGS: equal digests mean
    a mongod started with one file runs as the other asks, once the runtime settings are applied."""
    if not isinstance(conf, dict):
        raise AnsibleFilterError("mongod_conf_restart_digest: expected the configuration as a dictionary, got %s"
                                 % type(conf).__name__)
    for dotted in RUNTIME_SETTINGS:
        conf = _without(conf, dotted)
    return hashlib.sha256(json.dumps(conf, sort_keys=True, default=str).encode("utf-8")).hexdigest()


class FilterModule:
    """mongod.conf and keyFile filters for the quorum.mongodb roles."""

    def filters(self):
        return {
            "mongod_conf": mongod_conf,
            "mongod_conf_restart_digest": mongod_conf_restart_digest,
            "mongod_conf_problems": mongod_conf_problems,
            "mongod_keyfile_problems": mongod_keyfile_problems,
            "mongod_unit_properties": mongod_unit_properties,
            "mongod_files_changed_since": mongod_files_changed_since,
        }
