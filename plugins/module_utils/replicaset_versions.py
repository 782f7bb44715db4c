# -*- coding: utf-8 -*-
# Copyright: quorum.mongodb contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure decisions of a rolling version upgrade: versions, preflight, order, FCV.

Inputs are what the members report (``buildInfo.version``, ``getParameter
featureCompatibilityVersion``, the member state) as plain dicts; nothing here
connects anywhere. Unit-tested in
tests/unit/plugins/module_utils/test_replicaset_versions.py.

mongod's rules relied on (tests/mongosim/SEMANTICS.md section 11.1, with their
MongoDB source and manual pages):

* a binary of release L works on data whose FCV is L or the last LTS before it;
  anything else stops it at start-up (exit code 62), so binaries move one major
  release at a time, each followed by the FCV;
* ``setFeatureCompatibilityVersion`` takes ``confirm: true`` from 7.0 on; it
  writes a transitional document first (``targetVersion``, and
  ``previousVersion`` while downgrading) that stays if the command is
  interrupted, and repeating the command finishes it; from a downgrade in
  progress the FCV can go back up, from an upgrade in progress only on;
* mongod does not refuse an FCV above an older member's binary: it cuts that
  member off (arbiters too). So the gate here is every member's binary;
* arbiters report their binary's last LTS whatever the set's FCV, so their
  FCV is never read as the set's;
* no reconfig while the members run different releases (MongoDB's upgrade
  procedure for replica sets).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

# The release series this collection handles, and the last LTS before each (mongod's kLastLTS).
LAST_LTS = {"6.0": "5.0", "7.0": "6.0", "8.0": "7.0"}
SUPPORTED = ("6.0", "7.0", "8.0")
HEALTHY = ("PRIMARY", "SECONDARY", "ARBITER")

_VERSION = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?(?:-[0-9A-Za-z.-]+)?$")


class VersionError(Exception):
    """A refusal: the message names the members, versions and the rule; nothing was changed."""


def parse_version(text, what="version"):
    """(major, minor, patch or None) of "8.0", "8.0.4" or "8.0.4-rc0"; VersionError otherwise."""
    match = _VERSION.match(str(text).strip()) if text is not None else None
    if not match:
        raise VersionError("%s: %r is not a MongoDB version (like 8.0 or 8.0.4)" % (what, text))
    patch = match.group(3)
    return int(match.group(1)), int(match.group(2)), int(patch) if patch is not None else None


def series(text, what="version"):
    """The release series of a version: "8.0.4" -> "8.0"."""
    major, minor, _patch = parse_version(text, what)
    return "%d.%d" % (major, minor)


def _key(series_text):
    major, minor, _patch = parse_version(series_text)
    return (major, minor)


def next_major(series_text):
    """The next major release after a series: 7.0 -> 8.0 (also 7.3 -> 8.0)."""
    return "%d.0" % (_key(series_text)[0] + 1)


def fcv_state(parameter):
    """("steady"|"upgrading"|"downgrading", version, target) from getParameter's featureCompatibilityVersion."""
    if not parameter or "version" not in parameter:
        return None
    version = parameter["version"]
    target = parameter.get("targetVersion")
    if target is None:
        return ("steady", version, version)
    if parameter.get("previousVersion"):
        return ("downgrading", parameter["previousVersion"], target)
    return ("upgrading", version, target)


def describe_fcv(parameter):
    state = fcv_state(parameter)
    if state is None:
        return "unknown"
    kind, start, target = state
    if kind == "steady":
        return start
    return "%s from %s to %s (interrupted)" % (kind, start, target)


def _data(members):
    return [m for m in members if not m.get("arbiter")]


def _members_text(members):
    return ", ".join("%s runs %s" % (m["host"], m.get("version") or "an unknown version")
                     for m in sorted(members, key=lambda m: m["host"]))


def health_problems(members):
    """Members that are not PRIMARY, SECONDARY or ARBITER (or did not answer), each named with its state."""
    problems = []
    for m in sorted(members, key=lambda m: m["host"]):
        if m.get("error"):
            problems.append("%s did not answer: %s" % (m["host"], m["error"]))
        elif m.get("state") not in HEALTHY:
            problems.append("%s is %s (must be PRIMARY, SECONDARY or ARBITER)" % (m["host"], m.get("state")))
    if members and not [m for m in members if m.get("state") == "PRIMARY"]:
        problems.append("no member is PRIMARY")
    return problems


def live_fcv(members):
    """The set's FCV: the primary's, else any data member's (arbiters never count). None if unknown."""
    ordered = sorted(_data(members), key=lambda m: (m.get("state") != "PRIMARY", m["host"]))
    for m in ordered:
        if m.get("fcv"):
            return m["fcv"]
    return None


def mixed_versions(members):
    """A refusal message when the members run more than one release series, else None."""
    found = {}
    for m in members:
        if m.get("version"):
            found.setdefault(series(m["version"], "%s's version" % m["host"]), []).append(m)
    if len(found) < 2:
        return None
    return ("the members run different MongoDB releases (%s): no replica-set reconfig while a version upgrade is "
            "half done (MongoDB's rolling-upgrade procedure). Finish the upgrade first (install_mongodb_version the "
            "same on every member, then run the playbook), then change the members"
            % _members_text(members))


def binary_preflight(members, target, allow_downgrade=False):
    """Every reason the binaries may not move to ``target`` now (a list; empty when they may).

    ``members``: dicts with host, state, arbiter, version (buildInfo), fcv (getParameter's
    featureCompatibilityVersion, None for arbiters), error (when it did not answer).
    """
    problems = health_problems(members)
    goal = series(target, "install_mongodb_version")
    if goal not in SUPPORTED:
        problems.append("install_mongodb_version %s: supported releases are %s" % (target, ", ".join(SUPPORTED)))
        return problems
    fcv = live_fcv(members)
    state = fcv_state(fcv)
    if state is None:
        if not problems:
            problems.append("the feature compatibility version could not be read from any data member")
        return problems
    kind, start, end = state
    if kind != "steady":
        problems.append("the feature compatibility version is %s: finish it first (set "
                        "replicaset_feature_compatibility_version to %s, or %s, and run the playbook), then change "
                        "the binaries" % (describe_fcv(fcv), end, start if kind == "downgrading" else end))
        return problems
    current = start
    versions = sorted({series(m["version"]) for m in members if m.get("version")}, key=_key)
    highest = versions[-1] if versions else current
    if _key(goal) > _key(current):
        if _key(goal) > _key(next_major(current)):
            step = next_major(current)
            if _key(highest) >= _key(step):
                # The binaries took the step already; only the FCV was left behind.
                way = ("The binaries run %s already: raise the FCV first (replicaset_feature_compatibility_version: "
                       "\"%s\", and run the playbook), then install_mongodb_version: \"%s\"" % (highest, step, goal))
            else:
                way = ("Go through %s: set install_mongodb_version: \"%s\" and run the playbook, then "
                       "replicaset_feature_compatibility_version: \"%s\" and run it again, then "
                       "install_mongodb_version: \"%s\"" % (step, step, step, goal))
            problems.append(
                "%s to %s skips a major release: the set's feature compatibility version is %s, and a %s binary "
                "refuses to start on it (exit code 62). %s" % (highest, goal, current, goal, way))
    elif _key(goal) < _key(highest):
        if _key(goal) < _key(current):
            problems.append(
                "%s to %s is a binary downgrade below the feature compatibility version %s: a %s binary refuses "
                "to start on that data (exit code 62). Lower the FCV first "
                "(replicaset_feature_compatibility_version: \"%s\"), and note that MongoDB supports binary "
                "downgrades from 7.0 on only with its support" % (highest, goal, current, goal, goal))
        elif not allow_downgrade:
            problems.append(
                "%s to %s is a binary downgrade: the feature compatibility version (%s) allows it, but MongoDB "
                "supports it from 7.0 on only with its support; say so with mongod_allow_binary_downgrade: true"
                % (highest, goal, current))
    return problems


def target_problems(target, member_targets):
    """Why per-member targets cannot be one upgrade: every member moves within one release series.

    ``member_targets`` maps a member (host:port) to the version it is to run (an archive names its patch
    release, a pinned package too); members not in it get ``target``. A list of problems, empty when the
    targets agree on the series.
    """
    goal = series(target, "install_mongodb_version")
    others = {}
    for host, version in sorted((member_targets or {}).items()):
        if series(version, "the version %s is to run" % host) != goal:
            others[host] = version
    if not others:
        return []
    return ["the members are to run different release series (%s, and %s for the others): one run moves the "
            "whole set to one series, so give every member the same install_mongodb_version and an archive or "
            "package of that series" % (", ".join("%s %s" % item for item in sorted(others.items())), target)]


def rolling_order(members, target, member_targets=None):
    """The members whose binary must change for ``target``, in the order to do them.

    Secondaries and arbiters first (by host), the primary last. A member already
    running its target (the series, and the patch when the target names one) is
    skipped, so a run that stopped half way resumes where it stopped. A member's
    target is ``member_targets[host]`` when given (its archive's or package's
    exact version), else ``target``.
    """
    targets = member_targets or {}
    parse_version(target, "install_mongodb_version")

    def done(m):
        goal = parse_version(targets.get(m["host"], target), "the version %s is to run" % m["host"])
        have = parse_version(m["version"], "%s's version" % m["host"]) if m.get("version") else None
        if have is None:
            return False
        return have[:2] == goal[:2] and (goal[2] is None or have[2] == goal[2])

    todo = [m for m in members if not done(m)]
    others = sorted((m for m in todo if m.get("state") != "PRIMARY"), key=lambda m: (not m.get("arbiter"), m["host"]))
    primary = [m for m in todo if m.get("state") == "PRIMARY"]
    return [m["host"] for m in others + primary]


def upgrade_decision(members, target, member_targets=None, allow_downgrade=False):
    """Whether and in what order the binaries move to ``target``: a dict of problems, order and deferred.

    The members' health and the FCV's rules guard a binary change, so they are problems only when a member that
    answers is to change. A member that did not answer has no known version and would count as to do; when
    such members are the only ones, nothing is replaced now and they come back as ``deferred`` (their binary
    is checked when they answer again): a set with one member down can still be re-run, or have that member
    removed, without a refusal about versions. ``target_problems`` (the targets themselves) apply always.
    """
    problems = target_problems(target, member_targets)
    order = rolling_order(members, target, member_targets)
    silent = set(m["host"] for m in members if m.get("error") or not m.get("version"))
    if not set(order) - silent:
        return {"problems": problems, "order": [], "deferred": order}
    return {"problems": problems + binary_preflight(members, target, allow_downgrade), "order": order,
            "deferred": []}


def fcv_decision(declared, members):
    """What to do about the FCV: {"action": "none"|"set", "command": {...}, "reason": ..., "before": ...}.

    ``declared`` is the FCV the user asks for ("8.0"), or None (leave it). VersionError
    when the change is not possible now, naming the members and versions.
    """
    fcv = live_fcv(members)
    before = describe_fcv(fcv)
    if declared is None:
        return {"action": "none", "before": before, "reason": "no feature compatibility version declared"}
    wanted = series(declared, "feature_compatibility_version")
    if wanted != str(declared).strip():
        raise VersionError("feature_compatibility_version %r: give the release series only, like \"%s\""
                           % (declared, wanted))
    state = fcv_state(fcv)
    if state is None:
        raise VersionError("the feature compatibility version could not be read from any data member (%s)"
                           % ", ".join(sorted(m["host"] for m in _data(members))))
    kind, start, end = state
    data = _data(members)
    # Every member's binary, arbiters included: their FCV is not the gate, but mongod cuts off any member of
    # an older release (arbiters too) once the FCV is past that release's range.
    unable = [m for m in members if m.get("version") and wanted not in (series(m["version"]),
                                                                        LAST_LTS.get(series(m["version"])))]
    unknown = [m for m in members if not m.get("version")]
    if unknown:
        raise VersionError("the binary version of %s is unknown (%s): every member must answer buildInfo "
                           "before the feature compatibility version changes"
                           % (", ".join(sorted(m["host"] for m in unknown)),
                              "; ".join(str(m.get("error")) for m in unknown)))
    if unable:
        raise VersionError(
            "feature_compatibility_version %s is not possible yet: every member must run a binary that "
            "supports it (%s or the release after it; mongod cuts older members, arbiters too, off the set), and "
            "%s. Upgrade their binaries first (install_mongodb_version), then set the feature compatibility version"
            % (wanted, wanted, _members_text(unable)))
    if kind == "steady":
        if wanted == start:
            return {"action": "none", "before": before, "reason": "the feature compatibility version is %s" % start}
        reason = "feature compatibility version %s to %s" % (start, wanted)
    elif wanted == end:
        reason = "finish the interrupted %s from %s to %s" % (kind, start, end)
    elif kind == "downgrading" and wanted == start:
        reason = "revert the interrupted downgrade from %s to %s: back up to %s" % (start, end, start)
    else:
        raise VersionError(
            "the feature compatibility version is %s, and mongod allows only finishing an interrupted upgrade "
            "(feature_compatibility_version: \"%s\"); lower it afterwards if you must" % (before, end))
    command = {"setFeatureCompatibilityVersion": wanted}
    primary = [m for m in data if m.get("state") == "PRIMARY"]
    # 7.0 and later refuse the command without confirm; 6.0 does not know the field.
    if primary and _key(series(primary[0]["version"])) >= (7, 0):
        command["confirm"] = True
    return {"action": "set", "command": command, "before": before, "reason": reason}
