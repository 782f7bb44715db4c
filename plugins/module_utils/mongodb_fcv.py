# -*- coding: utf-8 -*-
# Copyright: quorum.mongodb contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fcv module's conversation with the set: read every member's binary and the FCV,
then (through the primary) set the FCV as replicaset_versions.fcv_decision says.

Also ``member_versions``, which the replicaset module uses to refuse a reconfig
while the members run different releases.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from concurrent.futures import ThreadPoolExecutor

from ansible_collections.quorum.mongodb.plugins.module_utils.mongodb_common import MongoModuleError
from ansible_collections.quorum.mongodb.plugins.module_utils.replicaset_config import canonical_host
from ansible_collections.quorum.mongodb.plugins.module_utils.replicaset_status import STATE_NAMES
from ansible_collections.quorum.mongodb.plugins.module_utils.replicaset_versions import (
    VersionError,
    describe_fcv,
    fcv_decision,
    fcv_state,
    upgrade_decision,
)


def build_versions(connector, hosts):
    """{host: (version or None, error or None)} from buildInfo (no authentication needed), in parallel."""
    def ask(host):
        reply, error = connector.try_command(host, "buildInfo", with_credentials=False)
        return (reply.get("version"), None) if reply is not None else (None, error)
    if not hosts:
        return {}
    with ThreadPoolExecutor(max_workers=min(16, len(hosts))) as pool:
        return dict(zip(hosts, pool.map(ask, hosts)))


def member_versions(connector, config):
    """[{host, arbiter, version, error}] of every member of a replSetGetConfig document."""
    hosts = [canonical_host(m["host"]) for m in config["members"]]
    versions = build_versions(connector, hosts)
    return [{"host": canonical_host(m["host"]), "arbiter": bool(m.get("arbiterOnly")),
             "version": versions[canonical_host(m["host"])][0], "error": versions[canonical_host(m["host"])][1]}
            for m in config["members"]]


def upgrade_report(connector, status, config, target, allow_downgrade=False, with_credentials=True,
                   member_targets=None):
    """Whether the binaries may move to ``target`` now, and in which order (replicaset_info's RV upgrade).

    ``status`` and ``config`` are the replSetGetStatus and replSetGetConfig replies of one member; the FCV is
    read on the primary (never on an arbiter), every member's binary with buildInfo. ``member_targets`` maps
    members (host:port) to the exact version each is to run, where it differs from ``target``.
    """
    member_targets = {canonical_host(host): version for host, version in (member_targets or {}).items()}
    members = member_versions(connector, config)
    states = {canonical_host(m["name"]): m for m in status.get("members", [])}
    primary = None
    for m in members:
        entry = states.get(m["host"]) or {}
        m["state"] = STATE_NAMES.get(entry.get("state"), entry.get("stateStr") or "UNKNOWN")
        if entry.get("health") == 0 and not entry.get("self"):
            m["error"] = m.get("error") or entry.get("lastHeartbeatMessage") or "not reachable from %s" % (
                [canonical_host(e["name"]) for e in status.get("members", []) if e.get("self")] or ["the member"])[0]
        if m["state"] == "PRIMARY":
            primary = m["host"]
        m["fcv"] = None
    fcv = None
    if primary is not None:
        fcv = connector.command(primary, {"getParameter": 1, "featureCompatibilityVersion": 1},
                                "getParameter featureCompatibilityVersion",
                                with_credentials=with_credentials)["featureCompatibilityVersion"]
        for m in members:
            if m["host"] == primary:
                m["fcv"] = fcv
    try:
        decision = upgrade_decision(members, target, member_targets, allow_downgrade)
    except VersionError as exc:
        decision = {"problems": [str(exc)], "order": [], "deferred": []}
    return {
        "target": target,
        "feature_compatibility_version": fcv,
        "versions": [{"host": m["host"], "version": m["version"], "state": m["state"], "arbiter": m["arbiter"]}
                     for m in members],
        "problems": decision["problems"],
        "order": decision["order"],
        "deferred": decision["deferred"],
    }


class FCVRun:
    """One run of quorum.mongodb.fcv; ``run()`` returns the module's result."""

    def __init__(self, connector, declared, check_mode=False, wait_timeout=600):
        self.connector = connector
        self.declared = declared
        self.check_mode = check_mode
        self.wait_timeout = wait_timeout
        self.login = connector.login_address()
        self.with_credentials = bool(connector.params.get("login_user"))
        self.sent = False  # whether setFeatureCompatibilityVersion was sent

    def find_primary(self):
        hello = self.connector.command(self.login, "hello", "hello", with_credentials=False)
        if not hello.get("setName"):
            raise MongoModuleError("%s is not a member of an initiated replica set (hello has no setName)"
                                   % self.login, member=self.login)
        if hello.get("isWritablePrimary"):
            return canonical_host(hello.get("me") or self.login)
        if not hello.get("primary"):
            raise MongoModuleError("the set %s has no primary now (asked %s): the feature compatibility version "
                                   "is changed through the primary" % (hello["setName"], self.login),
                                   member=self.login)
        return canonical_host(hello["primary"])

    def _on_primary(self, primary, command, what, **kwargs):
        return self.connector.command(primary, command, what, with_credentials=self.with_credentials, **kwargs)

    def read(self, primary):
        """The members (host, state, arbiter, version, fcv, error) and the primary's FCV."""
        config = self._on_primary(primary, "replSetGetConfig", "replSetGetConfig")["config"]
        status = self._on_primary(primary, "replSetGetStatus", "replSetGetStatus")
        states = {canonical_host(m["name"]): m for m in status.get("members", [])}
        members = member_versions(self.connector, config)
        fcv = self.read_fcv(primary)
        for m in members:
            entry = states.get(m["host"]) or {}
            m["state"] = STATE_NAMES.get(entry.get("state"), entry.get("stateStr") or "UNKNOWN")
            m["fcv"] = fcv if m["host"] == primary else None
        return members, fcv

    def read_fcv(self, primary):
        reply = self._on_primary(primary, {"getParameter": 1, "featureCompatibilityVersion": 1},
                                 "getParameter featureCompatibilityVersion")
        return reply["featureCompatibilityVersion"]

    def run(self):
        primary = self.find_primary()
        members, fcv = self.read(primary)
        report = [{"host": m["host"], "state": m["state"], "version": m["version"], "arbiter": m["arbiter"]}
                  for m in members]
        result = {"changed": False, "primary": primary, "members": report, "command": None,
                  "before": dict(fcv), "feature_compatibility_version": dict(fcv)}
        try:
            decision = fcv_decision(self.declared, members)
        except VersionError as exc:
            raise MongoModuleError("%s. The feature compatibility version is %s; nothing was changed"
                                   % (str(exc).rstrip("."), describe_fcv(fcv)), member=primary) from exc
        result["reason"] = decision["reason"]
        if decision["action"] == "none":
            return result
        command = dict(decision["command"])
        result["command"] = dict(command)
        result["changed"] = True
        if self.check_mode:
            result["feature_compatibility_version"] = {"version": self.declared}
            return result
        command["writeConcern"] = {"w": "majority", "wtimeout": int(self.wait_timeout * 1000)}
        self.sent = True
        try:
            reply = self._on_primary(primary, command, "setFeatureCompatibilityVersion %s" % self.declared)
        except MongoModuleError as exc:
            raise MongoModuleError("%s. The feature compatibility version is now %s; %s"
                                   % (exc.msg, self._describe_after(primary), self._advice()),
                                   **exc.details) from exc
        concern_error = reply.get("writeConcernError")
        after = self.read_fcv(primary)
        result["feature_compatibility_version"] = after
        if concern_error or fcv_state(after) != ("steady", self.declared, self.declared):
            raise MongoModuleError(
                "setFeatureCompatibilityVersion %s on %s did not finish%s: the feature compatibility version is %s; "
                "%s" % (self.declared, primary,
                        " (a majority did not confirm it within wait_timeout, %ss: %s)"
                        % (self.wait_timeout, concern_error.get("errmsg", concern_error)) if concern_error else "",
                        describe_fcv(after), self._advice()), member=primary)
        return result

    def _describe_after(self, primary):
        try:
            return describe_fcv(self.read_fcv(primary))
        except MongoModuleError as exc:
            return "unknown (%s)" % exc.msg

    def _advice(self):
        return ("run again with the same feature_compatibility_version to finish the change (mongod lets an "
                "interrupted change be finished by repeating it)")
