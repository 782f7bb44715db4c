# -*- coding: utf-8 -*-
# Copyright: quorum.mongodb contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Drive a live replica set to the declared members: discovery, initiate, the
planned reconfig steps one at a time, step-down, force, and the waits.

The decisions are in replicaset_plan (pure); this file talks to the servers,
through mongodb_common's Connector, and keeps the conversation short: a no-op
run sends one ``hello`` per declared member (the login host counts as the member
it is) and one ``replSetGetConfig``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.quorum.mongodb.plugins.module_utils.mongodb_common import (
    NOT_PRIMARY_CODES,
    ErrorCode,
    MongoModuleError,
    member_state,
)
from ansible_collections.quorum.mongodb.plugins.module_utils.mongodb_fcv import member_versions
from ansible_collections.quorum.mongodb.plugins.module_utils.replicaset_config import (
    canonical_host,
    config_matches,
    full_member,
    majority,
    normalised_config,
)
from ansible_collections.quorum.mongodb.plugins.module_utils.replicaset_plan import (
    PlanError,
    forced_config,
    initial_config,
    plan,
)
from ansible_collections.quorum.mongodb.plugins.module_utils.replicaset_status import STATE_NAMES
from ansible_collections.quorum.mongodb.plugins.module_utils.replicaset_versions import mixed_versions

POLL_INTERVAL = 0.5
HEALTHY_STATES = ("PRIMARY", "SECONDARY", "ARBITER")
# mongod's text when a safe reconfig was installed on the primary but a majority did not
# confirm it in time (replication_coordinator_impl.cpp, processReplSetReconfig).
RECONFIG_NOT_COMMITTED = "Reconfig finished but failed to propagate"


def _describe_member(entry):
    """A member's state from its replSetGetStatus entry: "SECONDARY", "DOWN, not reachable: <why>"."""
    if entry is None:
        return "not in the config"
    state = STATE_NAMES.get(entry.get("state"), entry.get("stateStr") or "UNKNOWN")
    if entry.get("health") == 0 and not entry.get("self"):
        message = entry.get("lastHeartbeatMessage")
        return "%s, not reachable%s" % (state, (": %s" % message) if message else "")
    return state


def _describe_step(step):
    """What an applied step did, for a failure message after it."""
    action = step["action"]
    if action == "reconfig":
        done = "applied and committed by a majority"
        if step.get("committed") is False:
            done = "installed on the primary, not yet confirmed by a majority"
        reasons = "; ".join(step["reasons"])
        return "replSetReconfig to version %d (%s): %s" % (step["config"]["version"], reasons, done)
    if action == "step_down":
        return "replSetStepDown of the primary %s: applied" % step["member"]
    if action == "set_default_write_concern":
        done = "applied and committed by a majority"
        if step.get("committed") is False:
            done = "applied on the primary, not yet confirmed by a majority"
        return "setDefaultRWConcern %s: %s" % (step["write_concern"], done)
    if action == "initiate":
        document = step["config"]
        return "replSetInitiate of %s with %d members: applied" % (document["_id"], len(document["members"]))
    if action == "force_reconfig":
        return "forced replSetReconfig from %s to version %d: applied" % (step["member"], step["config"]["version"])
    return "%s: applied" % action


def _concern_text(concern):
    parts = ["w: %s" % concern.get("w")]
    if concern.get("j") is not None:
        parts.append("j: %s" % bool(concern["j"]))
    if concern.get("wtimeout"):
        parts.append("wtimeout: %s" % concern["wtimeout"])
    return "{%s}" % ", ".join(parts)


class Converger:
    """One run of the replicaset module. ``run()`` returns the module's result dict."""

    def __init__(self, connector, name, desired, settings, check_mode=False, force=False, wait=True,
                 wait_timeout=600, step_down_secs=60, warn=None, default_write_concern=None,
                 allow_multiple_arbiters=False):
        self.connector = connector
        self.name = name
        self.desired = desired
        self.settings = settings
        self.check_mode = check_mode
        self.force = force
        self.wait = wait
        self.wait_timeout = wait_timeout
        self.step_down_secs = step_down_secs
        self.warn = warn or (lambda message: None)
        self.default_write_concern = default_write_concern
        self.allow_multiple_arbiters = allow_multiple_arbiters
        self.login = connector.login_address()
        self.login_credentials = bool(connector.params.get("login_user"))
        self.hellos = {}
        self.login_member = None
        self.steps = []
        self.default_wc_set = None  # whether a cluster-wide default write concern is set, once asked

    # -- talking to members -------------------------------------------------

    def _hello(self, address):
        if address in (self.login_member, self.login):
            reply, error = self._login_hello()
        else:
            reply, error = self.connector.try_command(address, "hello", with_credentials=False)
        return reply, error

    def _login_hello(self):
        reply, error = self.connector.try_command(self.login, "hello", with_credentials=self.login_credentials)
        if reply is None and self.login_credentials and "code %d" % ErrorCode.AuthenticationFailed in (error or ""):
            # No such user yet (a new set, before its first user): hello needs none.
            self.login_credentials = False
            reply, error = self.connector.try_command(self.login, "hello", with_credentials=False)
        return reply, error

    def _member_command(self, member, command, what, **kwargs):
        """A command on a member: over the login connection when the login host is that member."""
        if member == self.login_member:
            return self.connector.command(self.login, command, what, with_credentials=self.login_credentials,
                                          **kwargs)
        return self.connector.command(member, command, what, with_credentials=True, **kwargs)

    def discover(self):
        """hello to the login host and every declared member (in parallel); {address: (reply, error)}."""
        hellos = {}
        reply, error = self._login_hello()
        if reply is not None and reply.get("me"):
            self.login_member = canonical_host(reply["me"])
            hellos[self.login_member] = (reply, None)
        else:
            hellos[self.login] = (reply, error)
        others = [m["host"] for m in self.desired if m["host"] not in hellos]
        if others:
            with ThreadPoolExecutor(max_workers=min(16, len(others))) as pool:
                for address, answer in zip(others, pool.map(self._hello, others)):
                    hellos[address] = answer
        self._ask_reported_primaries(hellos)
        self.hellos = hellos
        return hellos

    def refuse_one_member_under_two_names(self, hellos):
        """Fail when two declared addresses reach the same mongod (localhost:P and 127.0.0.1:P, say).

        mongod would accept both in a config (it compares host strings), and that member
        would then find itself twice in it. Evidence is in every hello reply: ``me`` (the
        member's name in the config, when it has one) and ``topologyVersion.processId``
        (MongoDB 4.4+: the ObjectId ``repl::instanceId`` a mongod draws once at startup, so
        two processes never share it; see the hello command's manual page and
        src/mongo/db/repl/replication_coordinator_impl.cpp, getTopologyVersion).
        """
        seen = {}
        for member in self.desired:
            address = member["host"]
            reply = hellos.get(address, (None, None))[0]
            if reply is None:
                continue
            evidence = []
            if reply.get("me"):
                evidence.append(("me", canonical_host(reply["me"]),
                                 "both answer hello as %s" % canonical_host(reply["me"])))
            process = (reply.get("topologyVersion") or {}).get("processId")
            if process is not None:
                evidence.append(("process", str(process),
                                 "both answer hello with the topologyVersion.processId %s" % process))
            for kind, value, why in evidence:
                first = seen.setdefault((kind, value), address)
                if first != address:
                    raise MongoModuleError(
                        "members %s and %s are the same mongod (%s): declare each member once, under the address "
                        "the other members reach it at. Nothing was changed" % (first, address, why),
                        member=address)

    def _ask_reported_primaries(self, hellos, exclude=None):
        """The primary may be a member that is not declared (one being removed): ask it too."""
        if self._primary_from_hellos(hellos, exclude):
            return
        reported = set()
        for reply, _error in list(hellos.values()):
            if reply and reply.get("primary"):
                reported.add(canonical_host(reply["primary"]))
        for address in sorted(reported - set(hellos)):
            hellos[address] = self._hello(address)

    def _primary_from_hellos(self, hellos, exclude=None):
        best = None
        for address, (reply, _error) in hellos.items():
            if reply and reply.get("isWritablePrimary") and reply.get("setName") and address != exclude:
                key = reply.get("electionId")
                if best is None or (key is not None and best[1] is not None and key > best[1]):
                    best = (canonical_host(reply.get("me") or address), key)
        if best:
            return best[0]
        return None

    # -- waits ----------------------------------------------------------------

    def _deadline(self):
        return time.time() + self.wait_timeout

    def wait_for_primary(self, addresses, exclude=None, what="a primary"):
        deadline = self._deadline()
        while True:
            hellos = {}
            for address in addresses:
                hellos[address] = self._hello(address)
            self._ask_reported_primaries(hellos, exclude)
            primary = self._primary_from_hellos(hellos, exclude)
            if primary:
                self.hellos.update(hellos)
                return primary
            if time.time() >= deadline:
                states = ", ".join("%s %s" % (a, member_state(answer[0])) for a, answer in sorted(hellos.items()))
                raise MongoModuleError("no %s within wait_timeout (%ss); members: %s"
                                       % (what, self.wait_timeout, states))
            time.sleep(POLL_INTERVAL)

    def wait_for_newly_added(self, primary, config):
        """New voters enter as newlyAdded; the primary clears it (a new config version) once they are SECONDARY.

        replSetGetConfig hides the flag and replSetGetStatus does not show it per member,
        so the wait compares replSetGetStatus's votingMembersCount (voters without the
        flag) with the members that have a vote in the config. Only members that stay in
        the declaration are waited for: one that this run removes (it may never be able
        to join: nothing runs at its address) is removed by the next step instead. The
        flag can be on a voting member that is not PRIMARY or SECONDARY yet; while the
        members removed can account for every flag, the run goes on.
        Returns the config, read again if the wait saw it change.
        """
        declared = {m["host"] for m in self.desired}
        expected = len([m for m in config["members"] if m.get("votes", 1)])
        data_voters = [canonical_host(m["host"]) for m in config["members"]
                       if m.get("votes", 1) and not m.get("arbiterOnly")]
        deadline = self._deadline()
        waited = False
        while True:
            status = self._member_command(primary, "replSetGetStatus", "replSetGetStatus")
            counted = status.get("votingMembersCount", expected)
            entries = {canonical_host(m["name"]): m for m in status.get("members", [])}
            joining = [h for h in data_voters if (entries.get(h) or {}).get("stateStr") not in ("PRIMARY", "SECONDARY")]
            leaving = [h for h in joining if h not in declared]
            if expected - counted <= len(leaving):
                seen = [m.get("configVersion") for m in status.get("members", []) if m.get("self")]
                # The primary's own reconfig that clears a flag may have come after ``config`` was read.
                fresh = not waited and seen == [config.get("version")]
                return config if fresh else self.read_config(primary)
            if time.time() >= deadline:
                staying = [h for h in joining if h in declared]
                raise MongoModuleError(
                    "new members did not finish their initial sync within wait_timeout (%ss): %s. A new voter enters "
                    "the set as newlyAdded and gets its vote once it is SECONDARY; %d of the %d members with a vote "
                    "count as voters yet, and runs that keep these members wait for them before changing the set "
                    "further. Start them (and check that the other members reach them at these addresses), or "
                    "remove them from members: a run that removes them does not wait for them"
                    % (self.wait_timeout, ", ".join("%s is %s" % (h, _describe_member(entries.get(h)))
                                                    for h in staying) or "(unknown)",
                       counted, expected), member=primary)
            waited = True
            time.sleep(POLL_INTERVAL)

    def wait_for_health(self, primary):
        """Until every declared member is PRIMARY, SECONDARY or ARBITER and one is primary.

        Asked of the login member when it is in the set (over localhost, which the
        localhost exception lets a new secured set answer), else of the primary.
        """
        deadline = self._deadline()
        expected = {m["host"]: ("ARBITER",) if m["arbiterOnly"] else ("PRIMARY", "SECONDARY") for m in self.desired}
        expected_voters = len([m for m in self.desired if m["votes"]])
        while True:
            source = self.login_member if self.login_member in expected else primary
            try:
                status = self._member_command(source, "replSetGetStatus", "replSetGetStatus")
            except MongoModuleError as exc:
                if exc.details.get("code") in NOT_PRIMARY_CODES or "connection" in exc.msg.lower():
                    primary = self.wait_for_primary(self._all_addresses())
                    continue
                raise
            entries = {canonical_host(m["name"]): m for m in status.get("members", [])}
            states = {host: entry.get("stateStr") for host, entry in entries.items()}
            waiting = [host for host, ok in expected.items() if states.get(host) not in ok]
            voters = status.get("votingMembersCount", expected_voters)
            primaries = [host for host, state in states.items() if state == "PRIMARY"]
            if not waiting and len(primaries) == 1 and voters >= expected_voters \
                    and self._settled_primary(primaries[0], states):
                return primaries[0], [{"host": h, "state": states.get(h)} for h in sorted(states)]
            if time.time() >= deadline:
                if waiting:
                    why = ", ".join("%s is %s" % (h, _describe_member(entries.get(h))) for h in sorted(waiting))
                elif len(primaries) != 1:
                    why = "%d members say they are primary" % len(primaries)
                elif voters < expected_voters:
                    why = "%d of the %d declared voters count as voters yet" % (voters, expected_voters)
                else:
                    why = "%s is primary, and a member of higher priority has not taken over yet" % primaries[0]
                raise MongoModuleError("the set did not become healthy within wait_timeout (%ss): %s"
                                       % (self.wait_timeout, why), member=source)
            time.sleep(POLL_INTERVAL)

    def _settled_primary(self, primary, states):
        """Whether ``primary`` has the highest priority among the members up that can be primary.

        Right after an election the first member to time out may win, and a member of
        higher priority then takes over once it has caught up (priority takeover).
        Waiting for that means the primary this module reports is the one the set keeps.
        """
        priority = {m["host"]: m["priority"] for m in self.desired if not m["arbiterOnly"] and m["votes"]
                    and not m["hidden"] and not m["secondaryDelaySecs"] and m["buildIndexes"]}
        candidates = [priority[h] for h, state in states.items() if h in priority and state in ("PRIMARY", "SECONDARY")]
        return primary in priority and priority[primary] >= max(candidates or [0])

    def _all_addresses(self):
        addresses = [m["host"] for m in self.desired]
        for step in self.steps:
            if step["action"] == "step_down" and step["member"] not in addresses:
                addresses.append(step["member"])
        return addresses

    # -- reading and changing the config -------------------------------------

    def read_config(self, primary):
        try:
            return self._member_command(primary, "replSetGetConfig", "replSetGetConfig")["config"]
        except MongoModuleError as exc:
            if exc.details.get("code") == ErrorCode.Unauthorized and not self.login_credentials:
                raise MongoModuleError(
                    "replSetGetConfig on %s was refused without credentials: the set is initiated but the module "
                    "did not log in (login_user unset, or it does not exist yet). While a set has no user, the "
                    "localhost exception lets nobody read its config; create the first user with quorum.mongodb.user "
                    "on the primary, then run this again with login_user and login_password" % primary,
                    code=ErrorCode.Unauthorized, member=primary) from exc
            raise

    def _default_write_concern_set(self, primary):
        reply = self._member_command(primary, "getDefaultRWConcern", "getDefaultRWConcern")
        return bool(reply.get("defaultWriteConcern")) and reply.get("defaultWriteConcernSource") == "global"

    def _plan(self, config, primary):
        # The implicit write-concern rule holds only while no cluster-wide default is set: ask once per
        # run, and only when something is to change (a no-op run returns before planning).
        if self.default_wc_set is None:
            self.default_wc_set = self._default_write_concern_set(primary)
        return plan(config, self.desired, self.settings, primary, default_wc_set=self.default_wc_set,
                    allow_multiple_arbiters=self.allow_multiple_arbiters)

    def write_concern_step(self, primary):
        """A step setting the cluster-wide default write concern, or None when it already is as asked."""
        if not self.default_write_concern:
            return None
        reply = self._member_command(primary, "getDefaultRWConcern", "getDefaultRWConcern")
        current = reply.get("defaultWriteConcern") or {}
        wanted = self.default_write_concern

        def shape(concern):
            return (str(concern.get("w")), bool(concern.get("j", False)), int(concern.get("wtimeout", 0) or 0))
        if reply.get("defaultWriteConcernSource") == "global" and shape(current) == shape(wanted):
            return None
        return {"action": "set_default_write_concern", "write_concern": dict(wanted),
                "reasons": ["cluster-wide default write concern set to %s (was %s: %s)"
                            % (_concern_text(wanted), reply.get("defaultWriteConcernSource") or "unset",
                               _concern_text(current) if current else "none")]}

    def set_default_write_concern(self, primary, step):
        command = {"setDefaultRWConcern": 1, "defaultWriteConcern": step["write_concern"],
                   "writeConcern": {"w": "majority", "wtimeout": int(self.wait_timeout * 1000)}}
        reply = self._member_command(primary, command, "setDefaultRWConcern")
        concern_error = reply.get("writeConcernError")
        if concern_error:
            # A command that takes a writeConcern reports a write concern it could not satisfy as a
            # writeConcernError in an ok: 1 reply (manual: setDefaultRWConcern, write concern): the
            # primary set the default, a majority did not confirm it in time. pymongo's command() returns
            # such a reply without raising.
            self.steps.append(dict(step, committed=False))
            raise MongoModuleError("setDefaultRWConcern on %s was applied there, but a majority did not confirm it "
                                   "within wait_timeout (%ss): %s"
                                   % (primary, self.wait_timeout, concern_error.get("errmsg", concern_error)),
                                   code=concern_error.get("code"), member=primary)
        self.steps.append(step)

    def step_down(self, primary, step):
        command = {"replSetStepDown": self.step_down_secs,
                   "secondaryCatchUpPeriodSecs": min(10, self.step_down_secs)}
        try:
            self._member_command(primary, command, "replSetStepDown (before removing it or making it unelectable)")
        except MongoModuleError as exc:
            # A server may close the connection as it steps down; what counts is
            # whether another member became primary, which is polled next.
            if "connection" not in exc.msg.lower() and "closed" not in exc.msg.lower():
                raise
        # Done (the set changed), whatever the wait for the next primary says.
        self.steps.append(step)
        return self.wait_for_primary(self._all_addresses() + [primary], exclude=primary,
                                     what="new primary after %s stepped down" % primary)

    @staticmethod
    def _config_moved_on(exc, conflicts):
        """Whether a refused step was refused only because the live config had a newer version by then."""
        return (exc.details.get("code") == ErrorCode.NewReplicaSetConfigurationIncompatible
                and "must be greater than old" in exc.msg and len(conflicts) < 10)

    def reconfig(self, primary, step):
        document = step["config"]
        command = {"replSetReconfig": document, "maxTimeMS": int(self.wait_timeout * 1000)}
        try:
            what = "replSetReconfig to version %d (%s)" % (document["version"], "; ".join(step["reasons"]))
            self._member_command(primary, command, what)
        except MongoModuleError as exc:
            exc.details["config"] = document
            if RECONFIG_NOT_COMMITTED in exc.msg:
                # The primary installed it (it stays installed); only the majority's confirmation is missing.
                self.steps.append(dict(step, committed=False))
            raise
        self.steps.append(step)

    # -- the run -----------------------------------------------------------

    def run(self):
        try:
            return self._run()
        except (MongoModuleError, PlanError) as exc:
            if self.check_mode or not self.steps:
                raise
            # The set was changed before the failure: say what stays done.
            details = dict(getattr(exc, "details", {}) or {})
            raise MongoModuleError("%s. The change itself was made before that and stays: %s"
                                   % (str(exc).rstrip("."), "; ".join(_describe_step(s) for s in self.steps)),
                                   **details) from exc

    def _run(self):
        hellos = self.discover()
        self.refuse_one_member_under_two_names(hellos)
        for address, (reply, _error) in sorted(hellos.items()):
            if reply is not None and reply.get("setName") and reply["setName"] != self.name:
                raise MongoModuleError("%s belongs to replica set %r, not %r; it is left alone"
                                       % (address, reply["setName"], self.name), member=address)
            if reply is not None and not reply.get("setName") and not reply.get("isreplicaset"):
                raise MongoModuleError("%s does not run as a replica-set member (start mongod with "
                                       "replication.replSetName: %s)" % (address, self.name), member=address)
        in_set = {a: r for a, (r, _e) in hellos.items() if r is not None and r.get("setName")}
        if not in_set:
            return self.initiate()
        primary = self._primary_from_hellos(hellos)
        if primary is None:
            primary = self.no_primary(in_set)
            if primary is None:
                return self.result
        elif self.force:
            self.warn("force: true was not used: %s is primary, so the set was reconfigured the safe way" % primary)
        return self.reconfigure(primary)

    def initiate(self):
        silent = sorted(a for a, (r, _e) in self.hellos.items() if r is None)
        if silent:
            raise MongoModuleError(
                "cannot initiate %s: %s did not answer (%s). Every member must answer before a set is initiated, and "
                "a member that does not answer might already belong to a set"
                % (self.name, ", ".join(silent), "; ".join(str(self.hellos[a][1]) for a in silent)))
        document = initial_config(self.name, self.desired, self.settings)
        step = {"action": "initiate", "config": document, "reasons": ["no member has a config"]}
        after = normalised_config(document)
        if self.check_mode:
            self.steps.append(step)
            return self._result(True, None, after, {}, after)
        self.connector.command(self.login, {"replSetInitiate": document}, "replSetInitiate",
                               with_credentials=self.login_credentials)
        self.steps.append(step)
        primary = self.wait_for_primary([m["host"] for m in self.desired])
        reply, _error = self._login_hello()
        if reply is not None and reply.get("me"):
            # Now a member: it answers for the set over localhost from here on.
            self.login_member = canonical_host(reply["me"])
        members = self._hello_states()
        if self.wait:
            primary, members = self.wait_for_health(primary)
        if self.default_write_concern and primary != self.login_member and not self.login_credentials:
            # A new secured set answers without credentials only over localhost.
            self.warn("default_write_concern was not set: %s became primary, and the set has no user yet to log "
                      "in there with; the next run with login_user sets it" % primary)
        else:
            step = self.write_concern_step(primary)
            if step:
                self.set_default_write_concern(primary, step)
        return self._result(True, primary, after, {}, after, members)

    def no_primary(self, in_set):
        """No member is primary: wait for an election, or force a reconfig when no majority can answer."""
        source = self.login_member if self.login_member in in_set else sorted(in_set)[0]
        config = self._member_command(source, "replSetGetConfig", "replSetGetConfig (no primary)")["config"]
        voting = [canonical_host(m["host"]) for m in config["members"] if m.get("votes", 1)]
        reachable = [h for h in voting if h in in_set]
        needed = majority([full_member(m) for m in config["members"]])
        if len(reachable) >= needed:
            return self.wait_for_primary(sorted(in_set), what="primary (an election should be under way)")
        if not self.force:
            raise MongoModuleError(
                "no primary: only %d of the %d voting members answer (%s), and %d are needed to elect one. If the "
                "others are lost for good, declare the surviving members and run again with force: true; force "
                "reconfigures from %s and may roll back writes the lost members acknowledged"
                % (len(reachable), len(voting), ", ".join(reachable) or "none", needed, source), member=source)
        self.warn("FORCE RECONFIG: the set %s has no primary and only %d of %d voting members answer; forcing the "
                  "declared config from %s" % (self.name, len(reachable), len(voting), source))
        document = forced_config(config, self.desired, self.settings)
        reason = "majority lost: %d of %d voting members answer" % (len(reachable), len(voting))
        step = {"action": "force_reconfig", "member": source, "config": document, "reasons": [reason]}
        before = normalised_config(config)
        after = normalised_config(document)
        if self.check_mode:
            self.steps.append(step)
            self.result = self._result(True, None, after, before, after)
            return None
        self._member_command(source, {"replSetReconfig": document, "force": True}, "forced replSetReconfig")
        self.steps.append(step)
        primary = self.wait_for_primary([m["host"] for m in self.desired], what="primary after the forced reconfig")
        members = self._hello_states()
        if self.wait:
            primary, members = self.wait_for_health(primary)
        final = normalised_config(self.read_config(primary))
        self.result = self._result(True, primary, final, before, final, members)
        return None

    def refuse_mixed_versions(self, config, primary):
        """No reconfig while the members (in the config or declared) run different releases."""
        live = {canonical_host(m["host"]) for m in config["members"]}
        extra = {"_id": -1, "members": [{"host": m["host"], "arbiterOnly": m["arbiterOnly"]}
                                        for m in self.desired if m["host"] not in live]}
        versions = member_versions(self.connector, config) + member_versions(self.connector, extra)
        message = mixed_versions(versions)
        if message:
            raise MongoModuleError("%s. Nothing was changed" % message, member=primary,
                                   versions={m["host"]: m["version"] for m in versions if m["version"]})

    def reconfigure(self, primary):
        config = self.read_config(primary)
        before = normalised_config(config)
        wc_step = self.write_concern_step(primary)
        if config_matches(config, self.desired, self.settings) and not wc_step:
            members = self._hello_states()
            if self.wait and any(m["state"] not in HEALTHY_STATES for m in members):
                primary, members = self.wait_for_health(primary)
            return self._result(False, primary, before, before, before, members)
        if not config_matches(config, self.desired, self.settings):
            self.refuse_mixed_versions(config, primary)
        if self.check_mode:
            if wc_step:
                self.steps.append(wc_step)
                self.default_wc_set = True  # set before any reconfig by the real run
            planned = self._plan(config, primary)
            self.steps.extend(planned)
            last = [s["config"] for s in planned if s["action"] == "reconfig"]
            after = normalised_config(last[-1]) if last else before
            return self._result(bool(self.steps), primary, after, before, after)
        if wc_step:
            # Before any reconfig: the implicit write-concern rule no longer applies once it is set.
            self.set_default_write_concern(primary, wc_step)
            self.default_wc_set = True
        added_voters = True  # a run interrupted earlier may have left newlyAdded members behind
        conflicts = []
        for _round in range(200):
            if added_voters:
                config = self.wait_for_newly_added(primary, config)
            planned = self._plan(config, primary)
            if not planned:
                break
            step = planned[0]
            if step["action"] == "step_down":
                primary = self.step_down(primary, step)
                added_voters = False
            else:
                before_ids = {m["_id"] for m in config["members"]}
                try:
                    self.reconfig(primary, step)
                except MongoModuleError as exc:
                    if not self._config_moved_on(exc, conflicts):
                        raise
                    # The primary changed the config itself (clearing a newlyAdded flag) between our read
                    # and our step: read it again and plan anew.
                    conflicts.append(step)
                    config = self.read_config(primary)
                    continue
                added_voters = any(m["_id"] not in before_ids and m.get("votes", 1)
                                   for m in step["config"]["members"])
            config = self.read_config(primary)
        members = self._hello_states()
        if self.wait:
            primary, members = self.wait_for_health(primary)
            config = self.read_config(primary)
        after = normalised_config(config)
        return self._result(bool(self.steps), primary, after, before, after, members)

    def _hello_states(self):
        return [{"host": m["host"], "state": member_state(self.hellos.get(m["host"], (None, None))[0])}
                for m in self.desired]

    def _result(self, changed, primary, config, before, after, members=None):
        return {
            "changed": changed,
            "primary": primary,
            "config": config,
            "steps": self.steps,
            "members": members if members is not None else self._hello_states(),
            "diff": {"before": before, "after": after},
        }
