"""Replica set configs on the coordinator: replSetInitiate, the quorum check that
initiate and reconfig run (check_quorum_for_config_change.cpp), installing a config,
whether the current one is committed, replSetReconfig (safe and force), and the
automatic reconfig that removes newlyAdded (SEMANTICS.md sections 4 to 6).

The rules about a config document itself (parsing, defaults, validation, version and
term order) are in ../replconfig.py; this module applies them to the running member.
"""

import asyncio
import copy
import random
import time

from bson.int64 import Int64
from bson.objectid import ObjectId

from .. import fcv as fcvmod
from .. import replconfig as rc
from ..errors import CommandError
from ..log import LOG
from ..netclient import PeerError
from ..storage import OpTime
from .states import (
    ARBITER, PRIMARY, RECOVERING, REMOVED, ROLLBACK, SECONDARY, STARTUP, STARTUP2, STATE_NAMES, MemberData, wall,
)


class ConfigMixin:
    """Initiate, install and reconfig, on top of replconfig's document rules."""

    def _init_config(self):
        self.config_in_progress = False
        # serverStatus metrics.repl.reconfig.numAutoReconfigsForRemovalOfNewlyAddedFields
        self.newly_added_removals = 0
        self._config_prev_commit = OpTime()   # the commit point when the current config was installed
        self._config_from_force = False

    # ================================================================ initiate
    async def initiate(self, arg):
        if self.config is not None or self.config_in_progress:
            raise CommandError(23, "already initialized")
        default_used = not isinstance(arg, dict) or not arg
        if default_used:
            me_host = self.server.default_member_host()
            doc = {"_id": self.set_name, "version": 1, "members": [{"_id": 0, "host": me_host}]}
            for i, seed in enumerate(self.opts.seeds):
                doc["members"].append({"_id": i + 1, "host": seed})
        else:
            doc = dict(arg)
            doc.setdefault("version", 1)
        try:
            config = rc.parse(doc, for_initiate=True)
        except rc.ParseError as exc:
            raise CommandError(93, str(exc)) from exc
        if "settings" in doc and isinstance(doc["settings"], dict) and "replicaSetId" in doc["settings"]:
            raise CommandError(93, "replica set configuration cannot contain 'replicaSetId' field when called "
                               "from replSetInitiate: %s" % doc)
        config["term"] = 0
        if config["_id"] != self.set_name:
            raise CommandError(93, "Rejecting initiate with a set name that differs from command line set name, "
                               "initiate set name: %s, command line set name: %s" % (config["_id"], self.set_name))
        try:
            rc.validate(config, self.opts.parameters.get("allowMultipleArbiters", False))
        except rc.ValidationError as exc:
            raise CommandError(93, str(exc)) from exc
        if rc.gle_defaults_customized(config):
            raise CommandError(93, "Replica set config contains customized getLastErrorDefaults, which has been "
                               "deprecated and is now ignored. Use setDefaultRWConcern instead to set a "
                               "cluster-wide default writeConcern.")
        for m in config["members"]:
            if m["arbiterOnly"] and m["priority"] != 0:
                raise CommandError(93, "Member %s is an arbiter but has priority %s. Arbiter priority must be 0."
                                   % (m["host"], rc._fmt_num(m["priority"])))
            if m.get("newlyAdded"):
                raise CommandError(93, "Member %s has a newlyAdded field, which is not valid for initial "
                                   "configuration of a replica set." % m["host"])
        if config["version"] != 1:
            raise CommandError(93, "Configuration used to initiate a replica set must  have version 1, but found %d"
                               % config["version"])
        vt = rc.version_term_string(1, 0)
        index = await self._find_self(config)
        if index is None:
            raise CommandError(93, "No host described in new configuration with %s for replica set %s maps to "
                               "this node" % (vt, config["_id"]))
        me = config["members"][index]
        if not rc.is_electable(me):
            raise CommandError(93, "This node, %s, with _id %d is not electable under the new configuration with "
                               "%s for replica set %s" % (me["host"], me["_id"], vt, config["_id"]))
        if self.config is not None or self.config_in_progress:
            raise CommandError(23, "already initialized")
        self.config_in_progress = True
        try:
            await self._quorum_check(config, index, initiate=True)
            if self.config is not None:
                raise CommandError(23, "already initialized")
            config["settings"]["replicaSetId"] = ObjectId()
            LOG.info("REPL", 21356, "replSetInitiate admin command received from client", ctx="conn")
            ts = self.server.next_timestamp()
            entries = [{"op": "n", "ns": "", "o": {"msg": "initiating set"}, "ts": ts,
                        "t": Int64(-1), "v": Int64(2), "wall": wall()}]
            if self.server.fcv_document() is None:
                # The initiating member creates the FCV document at its own release (SEMANTICS.md 11.1);
                # the others get it by initial sync.
                entries.append({"op": "i", "ns": "admin.system.version", "o": fcvmod.steady(self.server.version_series),
                                "ts": self.server.next_timestamp(), "t": Int64(-1), "v": Int64(2), "wall": wall()})
            self.storage.append(entries)
            self.server.request_journal_flush()
            await self._install(config, index, source="initiate")
        finally:
            self.config_in_progress = False
        reply = {}
        if default_used:
            reply["info2"] = "no configuration specified. Using a default configuration for the set"
            reply["me"] = config["members"][0]["host"]
        return reply

    async def _quorum_check(self, config, self_index, initiate):
        """Heartbeat every proposed member (initiate: all must answer; reconfig:
        a majority of voters and one electable member)."""
        others = [m for i, m in enumerate(config["members"]) if i != self_index]
        version = config["version"]
        timeout = min(self.heartbeat_timeout, 10.0)

        async def probe(member):
            request = {"replSetHeartbeat": config["_id"], "configVersion": version,
                       "configTerm": config.get("term", -1), "hbv": 1, "from": config["members"][self_index]["host"],
                       "fromId": config["members"][self_index]["_id"], "term": Int64(self.term),
                       "checkEmpty": bool(initiate)}
            try:
                reply = await self.server.peers.command(member["host"], "quorum", request, timeout)
            except (PeerError, CommandError) as exc:
                return member, None, str(exc)
            return member, reply, None

        results = await asyncio.gather(*(probe(m) for m in others))
        failures = []
        responded_voters = 1 if rc.effective_votes(config["members"][self_index]) else 0
        electable_responded = rc.is_electable(config["members"][self_index])
        for member, reply, error in results:
            if reply is None:
                failures.append("%s failed with %s" % (member["host"], error))
                continue
            if not reply.get("ok"):
                if reply.get("code") == 93 and "set name" in reply.get("errmsg", ""):
                    raise CommandError(103, "Our set name did not match that of %s" % member["host"])
                failures.append("%s failed with %s" % (member["host"], reply.get("errmsg")))
                continue
            if reply.get("set") and reply["set"] != config["_id"]:
                raise CommandError(103, "Our set name did not match that of %s" % member["host"])
            their_version = reply.get("v", -2)
            if initiate and their_version is not None and their_version >= 1:
                raise CommandError(103, "Our config version of %d is no larger than the version on %s, which is %d"
                                   % (version, member["host"], their_version))
            if not initiate and their_version is not None and their_version >= version and \
                    reply.get("configTerm", -1) >= config.get("term", -1):
                raise CommandError(103, "Our config version of %d is no larger than the version on %s, which is %d"
                                   % (version, member["host"], their_version))
            if initiate and reply.get("hasData"):
                raise CommandError(110, "'%s' has data already, cannot initiate set." % member["host"])
            rsid = reply.get("replicaSetId")
            mine = config["settings"].get("replicaSetId")
            if rsid is not None and mine is not None and rsid != mine:
                raise CommandError(103, "replica set IDs do not match, ours: %s; remote node's: %s" % (mine, rsid))
            if rc.effective_votes(member):
                responded_voters += 1
            if rc.is_electable(member):
                electable_responded = True
        if initiate:
            if failures:
                raise CommandError(74, "replSetInitiate quorum check failed because not all proposed set members "
                                   "responded affirmatively: " + ", ".join(failures))
            return
        required = rc.majority(config)
        if responded_voters < required:
            raise CommandError(74, "Quorum check failed because not enough voting nodes responded; required %d but "
                               "only the following %d voting nodes responded: ...; the following nodes did not "
                               "respond affirmatively: %s" % (required, responded_voters, ", ".join(failures)))
        if not electable_responded:
            raise CommandError(74, "Quorum check failed because no electable nodes responded; at least one "
                               "required for config")

    # ================================================================ config install
    async def _install(self, config, self_index, source):
        self._config_prev_commit = self.last_committed
        self._config_from_force = source == "force"
        self.config = config
        self.self_index = self_index
        self._persist_config()
        LOG.info("REPL", 21392, "New replica set config in use",
                 {"config": rc.to_document(config), "source": source}, ctx="ReplCoord-0")
        old_members = self.members
        self.members = {}
        for i, m in enumerate(config["members"]):
            if i == self_index:
                continue
            data = old_members.get(m["_id"])
            if data is None or data.host != m["host"]:
                data = MemberData(m)
            self.members[m["_id"]] = data
        for member_id in old_members:
            if member_id not in self.members:
                self.server.peers.drop(old_members[member_id].host)
        self._self_cache.clear()
        if self_index is None:
            self._set_state(REMOVED)
            self._stop_heartbeats()
        else:
            me = config["members"][self_index]
            if self.state in (STARTUP, REMOVED):
                if me["arbiterOnly"]:
                    self._set_state(ARBITER)
                elif self.last_applied().is_null():
                    self._needs_initial_sync = True
                    self._set_state(STARTUP2)
                else:
                    self._set_state(SECONDARY)
            elif self.state == PRIMARY and not rc.is_electable(me):
                self._step_down_now("Stepping down because this node is no longer electable in the new config", 0)
            elif self.state == ARBITER and not me["arbiterOnly"]:
                self._set_state(STARTUP2)
                self._needs_initial_sync = True
        # _setCurrentRSConfig (replication_coordinator_impl.cpp) reschedules the election timeout
        # on every config it installs and, when the new config is an electable one-member set
        # (TopologyCoordinator::isElectableNodeInSingleNodeReplicaSet), starts an election at
        # once: a member left alone by a force reconfig does not wait out a timeout.
        self._reset_election_timer()
        self.topology_changed()
        self._restart_heartbeats()
        self._recompute_commit_point()

    def _config_committed(self):
        """Safe-reconfig precondition: the current config is on a majority of voters
        and the previous config's commit point is committed in this one."""
        if self.config is None:
            return False
        if self._voters_on_my_config(healthy_only=True) < rc.majority(self.config):
            return False
        if self.config["version"] == 1 or self._config_from_force:
            return True
        return self._majority_durable_at_least(self._config_prev_commit)

    def _config_on_majority(self):
        return self._voters_on_my_config(healthy_only=False) >= rc.majority(self.config)

    def _voters_on_my_config(self, healthy_only):
        """Voters (this member included) whose last heartbeat reported this member's config version and term;
        with ``healthy_only``, only those whose last heartbeat succeeded."""
        vt = rc.version_term(self.config)
        count = 0
        for m in self.config["members"]:
            if not rc.effective_votes(m):
                continue
            if m["_id"] == self.my_id:
                count += 1
                continue
            data = self.members.get(m["_id"])
            if data is None or (healthy_only and data.health != 1.0):
                continue
            if (data.config_version, data.config_term) == vt:
                count += 1
        return count

    def get_config(self, commitment_status=False, include_newly_added=False):
        self.check_initialized()
        out = {"config": rc.to_document(self.config, include_newly_added=include_newly_added)}
        if commitment_status:
            if not self.can_accept_writes():
                raise CommandError(10107, "commitmentStatus is only supported on primary.")
            out["commitmentStatus"] = self._config_committed()
        return out

    # ================================================================ reconfig
    async def reconfig(self, arg, force, max_time_ms):
        self.check_initialized()
        if not isinstance(arg, dict):
            raise CommandError(2, "no configuration specified", code_name_override="BadValue")
        deadline = time.monotonic() + max_time_ms / 1000.0 if max_time_ms else None
        if not force:
            if not self.can_accept_writes():
                raise CommandError(10107, "New config is rejected :: caused by :: replSetReconfig should only be "
                                   "run on a writable PRIMARY. Current state %s;" % STATE_NAMES[self.state])
            while not self._config_committed():
                if deadline is not None and time.monotonic() >= deadline:
                    raise CommandError(308, "Cannot run replSetReconfig because the current config: %s is not "
                                       "majority committed." % rc.version_term_string(*rc.version_term(self.config)))
                await self.wait_change(0.05 if deadline is None else max(0.0, min(0.05, deadline - time.monotonic())))
                if not self.can_accept_writes():
                    raise CommandError(10107, "Safe reconfig is only allowed on a writable PRIMARY. Current state "
                                       "%s" % STATE_NAMES[self.state])
        if self.config_in_progress:
            raise CommandError(109, "Cannot run replSetReconfig because the node is currently updating its "
                               "configuration")
        if self.state in (STARTUP, STARTUP2) and self.config is None:
            raise CommandError(94, "Node not yet initialized; use the replSetInitiate command")
        if not force and not self.can_accept_writes():
            raise CommandError(10107, "Safe reconfig is only allowed on a writable PRIMARY. Current state %s"
                               % STATE_NAMES[self.state])
        self.config_in_progress = True
        try:
            new = self._build_reconfig(arg, force)
            index = await self._find_self(new)
            vt = rc.version_term_string(new["version"], new.get("term", -1))
            if index is None:
                raise CommandError(74, "No host described in new configuration with %s for replica set %s maps to "
                                   "this node" % (vt, new["_id"]))
            me = new["members"][index]
            if not force and not rc.is_electable(me):
                raise CommandError(104, "This node, %s, with _id %d is not electable under the new configuration "
                                   "with %s for replica set %s" % (me["host"], me["_id"], vt, new["_id"]))
            if not force:
                await self._quorum_check(new, index, initiate=False)
                if not self.can_accept_writes():
                    raise CommandError(10107, "Safe reconfig is only allowed on a writable PRIMARY. Current state "
                                       "%s" % STATE_NAMES[self.state])
            LOG.info("REPL", 21352, "replSetReconfig admin command received from client",
                     {"newConfig": rc.to_document(new, include_newly_added=True), "force": bool(force)})
            await self._install(new, index, source="force" if force else "reconfig")
        finally:
            self.config_in_progress = False
        if force:
            return {}
        # Wait for the new config to reach a majority of its voters.
        while not self._config_on_majority():
            if deadline is not None and time.monotonic() >= deadline:
                raise CommandError(50, "Reconfig finished but failed to propagate to a majority :: caused by :: "
                                   "Current config with %s has not yet propagated to a majority of nodes :: "
                                   "caused by :: operation exceeded time limit"
                                   % rc.version_term_string(*rc.version_term(self.config)))
            await self.wait_change(0.05 if deadline is None else max(0.0, min(0.05, deadline - time.monotonic())))
            if self.state != PRIMARY:
                raise CommandError(189, "Reconfig finished but failed to propagate to a majority :: caused by :: "
                                   "primary stepped down")
        return {}

    def _build_reconfig(self, arg, force):
        old = self.config
        doc = dict(arg)
        members = doc.get("members")
        if isinstance(members, list):
            for m in members:
                if isinstance(m, dict) and "newlyAdded" in m:
                    raise CommandError(93, "Cannot provide newlyAdded field to member config during reconfig.")
        try:
            new = rc.parse(doc, for_initiate=False)
        except rc.ParseError as exc:
            raise CommandError(93, str(exc)) from exc
        if new["_id"] != old["_id"]:
            raise CommandError(93, "Rejecting reconfig where new config set name differs from command line set "
                               "name, new config set name: %s, old config set name: %s" % (new["_id"], old["_id"]))
        if "replicaSetId" in old["settings"]:
            supplied = new["settings"].get("replicaSetId")
            if supplied is not None and supplied != old["settings"]["replicaSetId"]:
                raise CommandError(103, "New and old configurations differ in replica set ID; old was %s, and new "
                                   "is %s" % (old["settings"]["replicaSetId"], supplied))
            new["settings"]["replicaSetId"] = old["settings"]["replicaSetId"]
        if force:
            new["term"] = -1
            new["version"] = max(old["version"], new["version"]) + 10000 + random.randint(0, 99999)
        else:
            new["term"] = self.term
            old_ids = {m["_id"] for m in old["members"]}
            for m in new["members"]:
                if m["_id"] not in old_ids and m["votes"] and not m["arbiterOnly"]:
                    # New voters enter as newlyAdded until they reach SECONDARY.
                    reordered = {}
                    for key, value in m.items():
                        reordered[key] = value
                        if key == "arbiterOnly":
                            reordered["newlyAdded"] = True
                    m.clear()
                    m.update(reordered)
                old_member = rc.member_by_id(old, m["_id"])
                if old_member is not None and old_member.get("newlyAdded") and old_member["host"] == m["host"]:
                    reordered = {}
                    for key, value in m.items():
                        reordered[key] = value
                        if key == "arbiterOnly":
                            reordered["newlyAdded"] = True
                    m.clear()
                    m.update(reordered)
        self._check_default_write_concern_rules(old, new)
        if rc.gle_defaults_customized(new):
            raise CommandError(5624102, "Failed to reconfig: Replica set config contains customized "
                               "getLastErrorDefaults, which has been deprecated and is now ignored. Use "
                               "setDefaultRWConcern instead to set a cluster-wide default writeConcern.")
        self._validate_for_reconfig(old, new, force)
        return new

    def _check_default_write_concern_rules(self, old, new):
        """The write-concern checks of ReplicationCoordinatorImpl::_doReplSetReconfig
        (replication_coordinator_impl.cpp), skipped only by the step-up term bump
        (skipSafetyChecks), so they apply to force reconfigs and to the automatic
        newlyAdded removal as well. Raises CommandError(103)."""
        cwwc = self.storage.local.get("defaultRWConcern", {}).get("defaultWriteConcern")
        # isImplicitDefaultWriteConcernMajority counts voters with isVoter(), which a newlyAdded
        # member is not: clearing its flag can flip the implicit default.
        if rc.implicit_wc_is_majority(old) != rc.implicit_wc_is_majority(new) and not cwwc:
            raise CommandError(103, "Reconfig attempted to install a config that would change the implicit default "
                               "write concern. Use the setDefaultRWConcern command to set a cluster-wide write "
                               "concern and try the reconfig again.")
        # A custom (getLastErrorModes) mode in use as the default must survive the reconfig
        # (ReplSetConfig::validateWriteConcern on the new config).
        mode = (cwwc or {}).get("w")
        if isinstance(mode, str) and mode != "majority" and \
                mode not in new["settings"].get("getLastErrorModes", {}):
            raise CommandError(103, "May not remove custom write concern definition from config while it is in use "
                               "as the default write concern. Change the default write concern to a "
                               "non-conflicting setting and try the reconfig again.")

    def _validate_for_reconfig(self, old, new, force):
        def incompatible(message):
            return CommandError(103, message)

        try:
            rc.validate(new, self.opts.parameters.get("allowMultipleArbiters", False))
        except rc.ValidationError as exc:
            raise incompatible(str(exc)) from exc
        new_vt, old_vt = rc.version_term(new), rc.version_term(old)
        if not rc.is_newer(new_vt, old_vt):
            raise incompatible("New replica set configuration version and term must be greater than old, but %s is "
                               "not greater than %s for replica set %s"
                               % (rc.version_term_string(*new_vt), rc.version_term_string(*old_vt), new["_id"]))
        if old.get("configsvr") and not new.get("configsvr"):
            raise incompatible("Cannot remove \"configsvr\" field from replica set configuration")
        old_by_host = {m["host"].lower(): m for m in old["members"]}
        for m in new["members"]:
            prev = old_by_host.get(m["host"].lower())
            if prev is not None and prev["_id"] != m["_id"]:
                raise incompatible("New and old configurations both have members with host of %s but in the new "
                                   "configuration the _id field is %d and in the old configuration it is %d for "
                                   "replica set %s" % (m["host"], m["_id"], prev["_id"], new["_id"]))
            prev = rc.member_by_id(old, m["_id"])
            if prev is not None and prev["host"].lower() == m["host"].lower():
                for field in ("buildIndexes", "arbiterOnly"):
                    if prev[field] != m[field]:
                        raise incompatible("New and old configurations differ in the setting of the %s field for "
                                           "member %s; to make this change, remove then re-add the member"
                                           % (field, m["host"]))
        # PSA safety (rs.reconfigForPSASet): repl_set_config_checks.cpp,
        # validateOldAndNewConfigsCompatible, which validateConfigForReconfig calls for force
        # reconfigs too. The counting rules are in rc.psa_reconfig_unsafe.
        if rc.psa_reconfig_unsafe(old, new):
            raise incompatible("Rejecting reconfig where the new config has a PSA topology and the "
                               "secondary is electable, but the old config contains only one writable node. "
                               "Refer to https://docs.mongodb.com/manual/reference/method/"
                               "rs.reconfigForPSASet/ for next steps on reconfiguring a PSA set.")
        if not force:
            # validateSingleNodeChange: voting sets by isVoter(), so newlyAdded members do not vote.
            old_voters = rc.voter_ids(old)
            new_voters = rc.voter_ids(new)
            if len(old_voters ^ new_voters) > 1:
                raise incompatible("Non force replica set reconfig can only add or remove at most 1 voting member.")
        for m in new["members"]:
            if m["arbiterOnly"] and m["priority"] != 0:
                raise incompatible("Member %s is an arbiter but has priority %s. Arbiter priority must be 0."
                                   % (m["host"], rc._fmt_num(m["priority"])))

    # ================================================================ newlyAdded removal
    def _maybe_remove_newly_added(self, data):
        """On a heartbeat response, a primary that sees the member SECONDARY, RECOVERING or
        ROLLBACK while its config entry has newlyAdded schedules the automatic reconfig for that
        one member (replication_coordinator_impl_heartbeat.cpp, _handleHeartbeatResponse). It is
        scheduled again on every such response until it succeeds."""
        if self.state != PRIMARY or data.state not in (SECONDARY, RECOVERING, ROLLBACK):
            return
        member = self._member(data.id)
        if member is None or not member.get("newlyAdded") or member["host"] != data.host:
            return
        asyncio.ensure_future(self._reconfig_to_remove_newly_added(data.id, rc.version_term(self.config)))

    async def _reconfig_to_remove_newly_added(self, member_id, version_term):
        """ReplicationCoordinatorImpl::_reconfigToRemoveNewlyAddedField
        (replication_coordinator_impl.cpp): version + 1 with this member's newlyAdded removed,
        installed through doReplSetReconfig(force=false), i.e. every check of a user's safe
        reconfig (_doReplSetReconfig with skipSafetyChecks=false), including the implicit default
        write concern rule. Any failure is dropped (mongod logs it at debug level 2 only) and the
        next heartbeat response tries again; success does not wait for the config to commit."""
        if "doNotRemoveNewlyAddedOnHeartbeats" in self.server.fail_points:
            LOG.info("REPL", 4709200, "Not removing 'newlyAdded' field due to 'doNotremoveNewlyAddedOnHeartbeats' "
                     "failpoint", {"memberId": member_id})
            return
        LOG.info("REPL", 4634505, "Beginning automatic reconfig to remove 'newlyAdded' config field",
                 {"memberId": member_id})
        # _doReplSetReconfig's preconditions: no reconfig under way (ConfigurationInProgress),
        # writable primary (NotWritablePrimary), current config committed (CurrentConfigNotCommittedYet).
        if self.config_in_progress or not self.can_accept_writes() or not self._config_committed():
            return
        self.config_in_progress = True
        try:
            old = self.config
            if rc.version_term(old) != version_term:
                return  # "Current config is no longer consistent with heartbeat data"
            member = rc.member_by_id(old, member_id)
            if member is None or not member.get("newlyAdded"):
                return  # NoSuchKey "Old config no longer has 'newlyAdded' field"
            new = copy.deepcopy(old)
            new["version"] += 1
            # mongod keeps the old config's term, which a safe reconfig guarantees is -1 (installed
            # by force) or the current term; the current term covers a step-up bump not yet made.
            if new.get("term", -1) != -1:
                new["term"] = self.term
            rc.member_by_id(new, member_id).pop("newlyAdded", None)
            try:
                self._check_default_write_concern_rules(old, new)
                self._validate_for_reconfig(old, new, force=False)
                await self._quorum_check(new, self.self_index, initiate=False)
            except CommandError:
                return
            if not self.can_accept_writes() or self.config is not old:
                return
            await self._install(new, self.self_index, source="newlyAdded removal")
            self.newly_added_removals += 1
            LOG.info("REPL", 4634504, "Removed 'newlyAdded' config field", {"memberId": member_id})
        finally:
            self.config_in_progress = False
