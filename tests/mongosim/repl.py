"""The replication coordinator: member state, heartbeats, elections
(protocol version 1), config installation and propagation, pulling the
oplog from a sync source, the majority commit point and write concern.

Behaviour and messages follow SEMANTICS.md sections 2-4, 6-8 and 11.
Member-to-member traffic uses MongoDB's internal command names where mongod
has one (replSetHeartbeat, replSetRequestVotes, replSetUpdatePosition,
replSetGetRBID, _isSelf); the oplog fetch and initial-sync clone are
mongosim's own (``_mongosim*``), since mongod uses tailable cursors and
collection cloners for those.
"""

import asyncio
import copy
import datetime
import random
import socket
import time

from bson.int64 import Int64
from bson.objectid import ObjectId
from bson.timestamp import Timestamp

from . import replconfig as rc
from .errors import CommandError
from .log import LOG
from .netclient import PeerError
from .storage import OpTime, key_ts, ts_key

STARTUP, PRIMARY, SECONDARY, RECOVERING, STARTUP2, UNKNOWN, ARBITER, DOWN, ROLLBACK, REMOVED = \
    0, 1, 2, 3, 5, 6, 7, 8, 9, 10
STATE_NAMES = {0: "STARTUP", 1: "PRIMARY", 2: "SECONDARY", 3: "RECOVERING", 5: "STARTUP2", 6: "UNKNOWN",
               7: "ARBITER", 8: "DOWN", 9: "ROLLBACK", 10: "REMOVED"}
DATA_STATES = (PRIMARY, SECONDARY)


def _utcnow():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def _wall(dt=None):
    dt = dt or _utcnow()
    return dt.replace(microsecond=dt.microsecond // 1000 * 1000)


def election_id_for(term):
    return ObjectId(bytes.fromhex("7fffffff") + int(term).to_bytes(8, "big"))


class MemberData:
    """What this node knows about another member (from heartbeats and position reports)."""

    def __init__(self, member):
        self.id = member["_id"]
        self.host = member["host"]
        self.health = None          # None: not yet reached; 1.0 up; 0.0 down
        self.state = UNKNOWN
        self.up_since = None
        self.last_hb = None         # when we last got a heartbeat response (datetime)
        self.last_hb_mono = 0.0     # monotonic time of the last successful contact
        self.last_hb_recv = None    # when we last received a heartbeat from it
        self.ping_ms = 0
        self.applied = OpTime()
        self.durable = OpTime()
        self.applied_wall = None
        self.durable_wall = None
        self.config_version = -2
        self.config_term = -1
        self.sync_source = ""
        self.sync_source_id = -1
        self.election_time = None
        self.message = ""
        self.authenticated = True
        self.term = -1


class ReplCoordinator:
    def __init__(self, server):
        self.server = server
        self.opts = server.opts
        self.storage = server.storage
        self.set_name = server.opts.repl_set
        self.config = None
        self.self_index = None
        self.state = STARTUP
        self.term = 0
        self.members = {}                 # member _id -> MemberData (others only)
        self.last_committed = OpTime()
        self.primary_id = None
        self.writable = False             # a primary that accepts writes (not draining or stepping down)
        self.stepping_down = False
        self.election_id = None
        self.election_time = None
        self.election_date = None
        self.stepdown_until = 0.0
        self.freeze_until = 0.0
        self.maintenance = 0
        self.config_in_progress = False
        # serverStatus metrics.repl.reconfig.numAutoReconfigsForRemovalOfNewlyAddedFields
        self.newly_added_removals = 0
        self._config_prev_commit = OpTime()
        self._config_from_force = False
        self._election_deadline = None
        self._election_running = False
        self._priority_takeover_at = None
        self._tasks = []
        self._hb_tasks = {}
        self._changed = asyncio.Event()   # any state/optime change: wakes waiters
        self._oplog_event = asyncio.Event()
        self._needs_initial_sync = False
        self._min_valid = OpTime()
        self._sync_source = None
        self._sync_source_id = -1
        self._position_task = None
        self._position_dirty = False
        self._too_stale = False
        self._last_heartbeat_message = ""
        self._shutting_down = False
        self._candidate_metrics = None
        self._participant_metrics = None
        self._downstream_positions = {}
        self.rbid = self.storage.local.get("rbid", 1)
        self._last_vote = self.storage.local.get("lastVote", {"term": -1, "candidateIndex": -1})
        self._startup_time = time.time()
        self.topology_counter = 0
        self.topology_event = asyncio.Event()
        self._self_cache = {}

    # ================================================================ start / stop
    async def start(self):
        stored = self.storage.local.get("config")
        self.term = int(self.storage.local.get("term", 0))
        if stored is not None:
            self.config = rc.from_storage(stored)
            self.self_index = await self._find_self(self.config)
            self.members = {m["_id"]: MemberData(m) for i, m in enumerate(self.config["members"])
                            if i != self.self_index}
            applied = self.storage.last_optime()
            self.term = max(self.term, applied.term)
            self._set_initial_state(applied)
            LOG.info("REPL", 21392, "New replica set config in use", {"config": rc.to_document(self.config)},
                     ctx="ReplCoord-0")
        else:
            LOG.info("REPL", 21311, "Did not find local replica set configuration document at startup",
                     ctx="initandlisten")
        self._spawn(self._election_timer_loop())
        self._spawn(self._sync_loop())
        self._spawn(self._liveness_loop())
        self._restart_heartbeats()

    def _spawn(self, coro):
        task = asyncio.ensure_future(coro)
        self._tasks.append(task)
        return task

    async def stop(self):
        self.begin_shutdown()
        tasks = list(self._tasks) + list(self._hb_tasks.values())
        for task in tasks:
            task.cancel()
        # Loops also check _shutting_down: asyncio.wait_for can swallow a
        # cancellation that races with its inner future, so do not wait forever.
        if tasks:
            await asyncio.wait(tasks, timeout=2.0)
        self._hb_tasks.clear()

    def begin_shutdown(self):
        """No more elections or syncing once shutdown has started."""
        self._shutting_down = True
        self._election_deadline = None
        self._priority_takeover_at = None

    def _set_initial_state(self, applied):
        if self.self_index is None:
            self._set_state(REMOVED)
        elif self.self_member["arbiterOnly"]:
            self._set_state(ARBITER)
        elif applied.is_null():
            self._needs_initial_sync = True
            self._set_state(STARTUP2)
        else:
            self._set_state(SECONDARY)

    # ================================================================ helpers
    @property
    def self_member(self):
        if self.config is None or self.self_index is None:
            return None
        return self.config["members"][self.self_index]

    @property
    def my_id(self):
        member = self.self_member
        return member["_id"] if member else -1

    @property
    def me(self):
        member = self.self_member
        return member["host"] if member else None

    @property
    def settings(self):
        return self.config["settings"] if self.config else dict(rc.SETTINGS_DEFAULTS)

    @property
    def heartbeat_interval(self):
        return self.settings["heartbeatIntervalMillis"] / 1000.0

    @property
    def election_timeout(self):
        return self.settings["electionTimeoutMillis"] / 1000.0

    @property
    def heartbeat_timeout(self):
        return float(self.settings["heartbeatTimeoutSecs"])

    def is_primary(self):
        return self.state == PRIMARY

    def can_accept_writes(self):
        return self.state == PRIMARY and self.writable and not self.stepping_down

    def last_applied(self):
        return self.storage.last_optime()

    def last_durable(self):
        return self.storage.durable

    def _member(self, member_id):
        return rc.member_by_id(self.config, member_id) if self.config else None

    def _set_state(self, state):
        if state == self.state:
            return
        old = self.state
        self.state = state
        if state != PRIMARY:
            self.writable = False
            self.election_id = None
        if state == PRIMARY:
            self.primary_id = self.my_id
        elif self.primary_id == self.my_id:
            self.primary_id = None
        LOG.info("REPL", 21358, "Replica set state transition",
                 {"newState": STATE_NAMES[state], "oldState": STATE_NAMES.get(old, str(old))}, ctx="ReplCoord-0")
        self._reset_election_timer()
        self.topology_changed()

    def topology_changed(self):
        self.topology_counter += 1
        event = self.topology_event
        self.topology_event = asyncio.Event()
        event.set()
        self.notify()

    def notify(self):
        event = self._changed
        self._changed = asyncio.Event()
        event.set()

    async def wait_change(self, timeout):
        event = self._changed
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except asyncio.TimeoutError:
            pass

    def _update_term(self, term, reason=""):
        """Adopt a higher term (persisted); a primary that sees one steps down."""
        if term is None or term <= self.term:
            return False
        self.term = int(term)
        self.storage.local["term"] = self.term
        self.storage.save_local()
        if self.state == PRIMARY:
            self._step_down_now("Stepping down from primary, because a new term has begun: %d" % term, 0)
        return True

    def _persist_config(self):
        self.storage.local["config"] = rc.to_document(self.config, include_newly_added=True)
        self.storage.save_local()

    # ================================================================ self detection
    async def _find_self(self, config):
        matches = []
        for index, member in enumerate(config["members"]):
            if await self._is_self(member["host"]):
                matches.append(index)
        if len(matches) > 1:
            hosts = [config["members"][i]["host"] for i in matches]
            version = rc.version_term_string(config["version"], config.get("term", -1))
            raise CommandError(93, "The hosts %s all map to this node in new configuration %s for replica set %s"
                               % (" and ".join(hosts), version, config["_id"]))
        return matches[0] if matches else None

    async def _is_self(self, host_port):
        key = host_port.lower()
        if key in self._self_cache:
            return self._self_cache[key]
        host, _sep, port = host_port.rpartition(":")
        host = host.strip("[]")
        result = False
        if int(port) == self.opts.port:
            loop = asyncio.get_running_loop()
            try:
                infos = await loop.run_in_executor(None, socket.getaddrinfo, host, None)
                addresses = {info[4][0] for info in infos}
            except OSError:
                addresses = set()
            bound = set(self.server.listening_addresses)
            any_bound = bool(bound & {"0.0.0.0", "::"})
            for address in addresses:
                if (address in bound or any_bound) and _address_is_local(address):
                    result = True
                    break
            if not result and addresses and any_bound is False:
                result = False
            if not result and addresses:
                result = await self._is_self_slow(host_port)
        self._self_cache[key] = result
        return result

    async def _is_self_slow(self, host_port):
        try:
            reply = await self.server.peers.command(host_port, "isself", {"_isSelf": 1}, 3.0)
        except (PeerError, CommandError):
            return False
        finally:
            self.server.peers.drop(host_port)
        return reply.get("ok") and reply.get("id") == self.server.instance_id

    # ================================================================ hello / status
    def hello_fields(self, legacy):
        """Replica-set part of hello (SEMANTICS.md section 2), in mongod's field order."""
        out = {"topologyVersion": self.topology_version()}
        writable_name = "ismaster" if legacy else "isWritablePrimary"
        if self.config is None or self.state == REMOVED or self.self_index is None:
            out[writable_name] = False
            out["secondary"] = False
            out["info"] = "Does not have a valid replica set config"
            out["isreplicaset"] = True
            return out
        hosts, passives, arbiters = [], [], []
        for m in self.config["members"]:
            if m["hidden"] or m["secondaryDelaySecs"] > 0:
                continue
            if m["arbiterOnly"]:
                arbiters.append(m["host"])
            elif rc.is_electable(m):
                hosts.append(m["host"])
            else:
                passives.append(m["host"])
        if hosts:
            out["hosts"] = hosts
        if passives:
            out["passives"] = passives
        if arbiters:
            out["arbiters"] = arbiters
        out["setName"] = self.config["_id"]
        out["setVersion"] = self.config["version"]
        out[writable_name] = self.can_accept_writes()
        out["secondary"] = self.state == SECONDARY or (self.state == PRIMARY and not self.writable and
                                                       not self.stepping_down)
        primary = self._member(self.primary_id) if self.primary_id is not None else None
        if primary is not None and (self.primary_id != self.my_id or self.state == PRIMARY):
            out["primary"] = primary["host"]
        me = self.self_member
        if me["arbiterOnly"]:
            out["arbiterOnly"] = True
        if not me["arbiterOnly"] and rc.effective_priority(me) == 0:
            out["passive"] = True
        if me["hidden"]:
            out["hidden"] = True
        if not me["buildIndexes"]:
            out["buildIndexes"] = False
        if me["secondaryDelaySecs"] > 0:
            out["slaveDelay" if legacy else "secondaryDelaySecs"] = Int64(me["secondaryDelaySecs"])
        if me["tags"]:
            out["tags"] = dict(me["tags"])
        out["me"] = me["host"]
        if self.state == PRIMARY and self.election_id is not None:
            out["electionId"] = self.election_id
        applied = self.last_applied()
        out["lastWrite"] = {"opTime": applied.to_doc(), "lastWriteDate": self._wall_of(applied),
                            "majorityOpTime": self.last_committed.to_doc(),
                            "majorityWriteDate": self._wall_of(self.last_committed)}
        return out

    def _wall_of(self, optime):
        if optime.is_null():
            return datetime.datetime(1970, 1, 1)
        return datetime.datetime.fromtimestamp(optime.seconds, datetime.timezone.utc).replace(tzinfo=None)

    def topology_version(self):
        return {"processId": self.server.process_id, "counter": Int64(self.topology_counter)}

    def check_initialized(self):
        if self.config is None:
            raise CommandError(94, "no replset config has been received")

    def status(self, initial_sync=False):
        self.check_initialized()
        if self.state == REMOVED or self.self_index is None:
            raise CommandError(93, "Our replica set config is invalid or we are not a member of it")
        now = _utcnow()
        applied = self.last_applied()
        durable = self.last_durable()
        me = self.self_member
        source = self._sync_source or ""
        out = {"set": self.config["_id"], "date": now, "myState": self.state, "term": Int64(self.term)}
        if self._too_stale:
            out["tooStale"] = True
        out["syncSourceHost"] = source
        out["syncSourceId"] = self._sync_source_id if source else -1
        out["heartbeatIntervalMillis"] = Int64(self.settings["heartbeatIntervalMillis"])
        out["majorityVoteCount"] = rc.majority(self.config)
        out["writeMajorityCount"] = rc.write_majority(self.config)
        out["votingMembersCount"] = len(rc.voter_ids(self.config))
        out["writableVotingMembersCount"] = rc.writable_voters(self.config)
        out["optimes"] = {
            "lastCommittedOpTime": self.last_committed.to_doc(),
            "lastCommittedWallTime": self._wall_of(self.last_committed),
            "readConcernMajorityOpTime": self.last_committed.to_doc(),
            "appliedOpTime": applied.to_doc(),
            "durableOpTime": durable.to_doc(),
            "lastAppliedWallTime": self._wall_of(applied),
            "lastDurableWallTime": self._wall_of(durable),
        }
        if self._candidate_metrics:
            out["electionCandidateMetrics"] = self._candidate_metrics
        if self._participant_metrics:
            out["electionParticipantMetrics"] = self._participant_metrics
        members = []
        for m in self.config["members"]:
            if m["_id"] == me["_id"]:
                entry = {"_id": m["_id"], "name": m["host"], "health": 1.0, "state": self.state,
                         "stateStr": STATE_NAMES[self.state], "uptime": int(time.time() - self._startup_time)}
                if not m["arbiterOnly"]:
                    entry.update({"optime": applied.to_doc(), "optimeDate": self._wall_of(applied),
                                  "lastAppliedWallTime": self._wall_of(applied),
                                  "lastDurableWallTime": self._wall_of(durable)})
                entry["syncSourceHost"] = source
                entry["syncSourceId"] = self._sync_source_id if source else -1
                if self.maintenance:
                    entry["maintenanceMode"] = self.maintenance
                entry["infoMessage"] = ""
                if self.state == PRIMARY and self.election_time is not None:
                    entry["electionTime"] = self.election_time
                    entry["electionDate"] = self.election_date
                entry.update({"configVersion": self.config["version"], "configTerm": self.config.get("term", -1),
                              "self": True, "lastHeartbeatMessage": ""})
            else:
                data = self.members.get(m["_id"]) or MemberData(m)
                up = data.health == 1.0
                state = data.state if up else (DOWN if data.health == 0.0 else UNKNOWN)
                entry = {"_id": m["_id"], "name": m["host"], "health": 1.0 if up else 0.0, "state": state,
                         "stateStr": STATE_NAMES.get(state, "UNKNOWN") if up or data.health is None
                         else "(not reachable/healthy)",
                         "uptime": int((now - data.up_since).total_seconds()) if up and data.up_since else 0}
                if not m["arbiterOnly"]:
                    entry.update({"optime": data.applied.to_doc(), "optimeDurable": data.durable.to_doc(),
                                  "optimeDate": self._wall_of(data.applied),
                                  "optimeDurableDate": self._wall_of(data.durable),
                                  "lastAppliedWallTime": self._wall_of(data.applied),
                                  "lastDurableWallTime": self._wall_of(data.durable)})
                entry.update({"lastHeartbeat": data.last_hb or datetime.datetime(1970, 1, 1),
                              "lastHeartbeatRecv": data.last_hb_recv or datetime.datetime(1970, 1, 1),
                              "pingMs": Int64(data.ping_ms), "lastHeartbeatMessage": data.message})
                if not data.authenticated:
                    entry["authenticated"] = False
                entry.update({"syncSourceHost": data.sync_source, "syncSourceId": data.sync_source_id,
                              "infoMessage": ""})
                if state == PRIMARY and data.election_time is not None:
                    entry["electionTime"] = data.election_time
                    entry["electionDate"] = datetime.datetime.fromtimestamp(
                        data.election_time.time, datetime.timezone.utc).replace(tzinfo=None)
                entry.update({"configVersion": data.config_version, "configTerm": data.config_term})
            members.append(entry)
        out["members"] = members
        return out

    def get_config(self, commitment_status=False, include_newly_added=False):
        self.check_initialized()
        out = {"config": rc.to_document(self.config, include_newly_added=include_newly_added)}
        if commitment_status:
            if not self.can_accept_writes():
                raise CommandError(10107, "commitmentStatus is only supported on primary.")
            out["commitmentStatus"] = self._config_committed()
        return out

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
            self.storage.append([{"op": "n", "ns": "", "o": {"msg": "initiating set"}, "ts": ts,
                                  "t": Int64(-1), "v": Int64(2), "wall": _wall()}])
            self.server.request_journal_flush()
            self.storage.local["fcv"] = self.server.version_series
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
        vt = rc.version_term(self.config)
        count = 0
        for m in self.config["members"]:
            if not rc.effective_votes(m):
                continue
            if m["_id"] == self.my_id:
                count += 1
                continue
            data = self.members.get(m["_id"])
            if data is not None and data.health == 1.0 and (data.config_version, data.config_term) == vt:
                count += 1
        if count < rc.majority(self.config):
            return False
        if self.config["version"] == 1 or self._config_from_force:
            return True
        return self._majority_durable_at_least(self._config_prev_commit)

    def _majority_durable_at_least(self, optime):
        if optime.is_null():
            return True
        count = 0
        for m in self.config["members"]:
            if not rc.effective_votes(m) or m["arbiterOnly"]:
                continue
            if m["_id"] == self.my_id:
                if self.last_durable() >= optime:
                    count += 1
            else:
                data = self.members.get(m["_id"])
                if data is not None and data.durable >= optime:
                    count += 1
        return count >= rc.write_majority(self.config)

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

    def _config_on_majority(self):
        vt = rc.version_term(self.config)
        count = 0
        for m in self.config["members"]:
            if not rc.effective_votes(m):
                continue
            if m["_id"] == self.my_id:
                count += 1
            else:
                data = self.members.get(m["_id"])
                if data is not None and (data.config_version, data.config_term) == vt:
                    count += 1
        return count >= rc.majority(self.config)

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

    # ================================================================ heartbeats
    def _stop_heartbeats(self):
        for task in self._hb_tasks.values():
            task.cancel()
        self._hb_tasks.clear()

    def _restart_heartbeats(self):
        """(Re)start one heartbeat loop per other member and send one now."""
        if self.config is None or self.self_index is None or self._shutting_down:
            self._stop_heartbeats()
            return
        wanted = {m["_id"]: m["host"] for i, m in enumerate(self.config["members"]) if i != self.self_index}
        for member_id in list(self._hb_tasks):
            task = self._hb_tasks.pop(member_id)
            task.cancel()
        for member_id, host in wanted.items():
            self._hb_tasks[member_id] = asyncio.ensure_future(self._heartbeat_loop(member_id, host))

    async def _heartbeat_loop(self, member_id, host):
        try:
            while not self._shutting_down:
                started = time.monotonic()
                await self._heartbeat_once(member_id, host)
                elapsed = time.monotonic() - started
                await asyncio.sleep(max(0.0, self.heartbeat_interval - elapsed))
        except asyncio.CancelledError:
            pass

    def _heartbeat_request(self, data):
        config = self.config
        request = {"replSetHeartbeat": config["_id"], "configVersion": config["version"],
                   "configTerm": config.get("term", -1), "hbv": 1, "from": self.me, "fromId": self.my_id,
                   "term": Int64(self.term), "state": self.state,
                   "opTime": self.last_applied().to_doc(), "durableOpTime": self.last_durable().to_doc(),
                   "lastCommitted": self.last_committed.to_doc(), "syncingTo": self._sync_source or "",
                   "syncSourceId": self._sync_source_id}
        if self.state == PRIMARY and self.election_time is not None:
            request["electionTime"] = self.election_time
        if data is not None and (data.config_version, data.config_term) != rc.version_term(config) and \
                rc.is_newer(rc.version_term(config), (data.config_version, data.config_term)):
            request["config"] = rc.to_document(config, include_newly_added=True)
        return request

    async def _heartbeat_once(self, member_id, host):
        data = self.members.get(member_id)
        if data is None or self.config is None:
            return
        attempts = 0
        first = time.monotonic()
        while True:
            attempts += 1
            request = self._heartbeat_request(data)
            sent = time.monotonic()
            try:
                reply = await self.server.peers.command(host, "heartbeat", request,
                                                        max(0.2, self.heartbeat_timeout - (sent - first)))
            except CommandError as exc:
                if exc.code == 18:
                    data.authenticated = False
                self._heartbeat_failed(data, str(exc))
                return
            except PeerError as exc:
                if attempts < 3 and time.monotonic() - first < self.heartbeat_timeout:
                    await asyncio.sleep(0.05)
                    continue
                self._heartbeat_failed(data, str(exc))
                return
            data.ping_ms = int((time.monotonic() - sent) * 1000)
            await self._heartbeat_reply(data, reply)
            return

    def _heartbeat_failed(self, data, message):
        was_up = data.health == 1.0
        data.health = 0.0
        data.state = DOWN
        data.message = message
        data.up_since = None
        if was_up:
            LOG.info("REPL", 21216, "Member is now in state RS_DOWN", {"hostAndPort": data.host, "error": message})
            if self.primary_id == data.id and self.state != PRIMARY:
                self.primary_id = None
                self.topology_changed()
        self.notify()

    async def _heartbeat_reply(self, data, reply):
        if self.config is None or self.members.get(data.id) is not data:
            return
        if not reply.get("ok"):
            code = reply.get("code")
            data.authenticated = code != 13
            self._heartbeat_failed(data, reply.get("errmsg", ""))
            return
        data.authenticated = True
        self._absorb_peer_state(data, reply)
        self._maybe_remove_newly_added(data)
        if "config" in reply:
            await self._maybe_install_remote_config(reply["config"], data.host)

    def _absorb_peer_state(self, data, msg):
        """Update our view of a member from a heartbeat reply or request."""
        now = _utcnow()
        was_up = data.health == 1.0
        data.health = 1.0
        data.last_hb = now
        data.last_hb_mono = time.monotonic()
        if not was_up:
            data.up_since = now
        data.state = int(msg.get("state", UNKNOWN))
        data.message = ""
        if "opTime" in msg:
            applied = OpTime.from_doc(msg["opTime"])
            data.applied = max(data.applied, applied)
        if "durableOpTime" in msg:
            durable = OpTime.from_doc(msg["durableOpTime"])
            data.durable = max(data.durable, durable)
        data.config_version = msg.get("v", msg.get("configVersion", data.config_version))
        data.config_term = msg.get("configTerm", data.config_term)
        data.sync_source = msg.get("syncingTo", "")
        data.sync_source_id = msg.get("syncSourceId", -1)
        data.election_time = msg.get("electionTime")
        term = msg.get("term")
        if term is not None:
            data.term = int(term)
            self._update_term(int(term))
        if not was_up:
            LOG.info("REPL", 21215, "Member is in new state",
                     {"hostAndPort": data.host, "newState": STATE_NAMES.get(data.state, "UNKNOWN")})
        if data.state == PRIMARY and data.term == self.term and self.state != PRIMARY:
            if self.primary_id != data.id:
                self.primary_id = data.id
                self.topology_changed()
            self._reset_election_timer()
            self._check_priority_takeover(data)
        elif self.primary_id == data.id and PRIMARY not in (data.state, self.state):
            self.primary_id = None
            self.topology_changed()
        if self.state != PRIMARY:
            committed = OpTime.from_doc(msg.get("lastCommitted"))
            self._advance_commit_point_from(committed)
        if self.state == PRIMARY:
            self._recompute_commit_point()
        self.notify()

    async def _maybe_install_remote_config(self, doc, from_host):
        if self.config_in_progress or "blockHeartbeatReconfigFinish" in self.server.fail_points:
            return
        try:
            new = rc.from_storage(doc)
        except rc.ParseError as exc:
            LOG.warning("REPL", 21405, "Could not parse config from heartbeat", {"error": str(exc)})
            return
        if new["_id"] != self.set_name:
            return
        if self.config is not None:
            mine = self.config["settings"].get("replicaSetId")
            theirs = new["settings"].get("replicaSetId")
            if mine is not None and theirs is not None and mine != theirs:
                return
            if not rc.is_newer(rc.version_term(new), rc.version_term(self.config)):
                return
        self.config_in_progress = True
        try:
            index = await self._find_self(new)
            if self.config is not None and not rc.is_newer(rc.version_term(new), rc.version_term(self.config)):
                return
            if self.config is None and self.storage.local.get("fcv") is None:
                self.storage.local["fcv"] = self.server.version_series
            await self._install(new, index, source="heartbeat from %s" % from_host)
        except CommandError as exc:
            LOG.warning("REPL", 21406, "Not installing config from heartbeat", {"error": exc.message})
        finally:
            self.config_in_progress = False

    async def handle_heartbeat(self, cmd):
        """Answer replSetHeartbeat (also used for the initiate/reconfig quorum check)."""
        set_name = cmd.get("replSetHeartbeat")
        if set_name != self.set_name:
            raise CommandError(93, "Our set name of %s does not match name %s reported by remote node"
                               % (self.set_name, set_name), code_name_override="InconsistentReplicaSetNames")
        reply = {}
        if self.config is None:
            reply.update({"set": self.set_name, "state": STARTUP, "v": -2, "configTerm": -1, "term": Int64(self.term)})
            if cmd.get("checkEmpty"):
                reply["hasData"] = not self.storage.is_empty() or not self.storage.last_optime().is_null()
            if "config" in cmd:
                await self._maybe_install_remote_config(cmd["config"], cmd.get("from", ""))
                if self.config is not None:
                    reply = self._heartbeat_state_reply()
            return reply
        from_id = cmd.get("fromId")
        data = self.members.get(from_id) if from_id is not None else None
        if data is not None and data.host != cmd.get("from"):
            data = None
        if data is not None:
            data.last_hb_recv = _utcnow()
            if "state" in cmd:
                self._absorb_peer_state(data, cmd)
        else:
            self._update_term(cmd.get("term"))
        if "config" in cmd:
            await self._maybe_install_remote_config(cmd["config"], cmd.get("from", ""))
        their = (cmd.get("configVersion", -2), cmd.get("configTerm", -1))
        if self.config is not None and not cmd.get("checkEmpty") and \
                rc.is_newer(their, rc.version_term(self.config)) and from_id is not None and "config" not in cmd:
            # They have a newer config: fetch it with a heartbeat of our own right away.
            member = self._member(from_id)
            if member is not None and member["host"] == cmd.get("from"):
                asyncio.ensure_future(self._heartbeat_once(from_id, member["host"]))
        reply = self._heartbeat_state_reply()
        if self.config is not None and rc.is_newer(rc.version_term(self.config), their) and \
                not cmd.get("checkEmpty"):
            reply["config"] = rc.to_document(self.config, include_newly_added=True)
        if cmd.get("checkEmpty"):
            reply["hasData"] = True
        return reply

    def _heartbeat_state_reply(self):
        reply = {}
        if self.state == PRIMARY and self.election_time is not None:
            reply["electionTime"] = self.election_time
        applied = self.last_applied()
        durable = self.last_durable()
        reply.update({"set": self.set_name, "state": self.state, "term": Int64(self.term),
                      "v": self.config["version"] if self.config else -2,
                      "configTerm": self.config.get("term", -1) if self.config else -1,
                      "syncingTo": self._sync_source or "", "syncSourceId": self._sync_source_id,
                      "opTime": applied.to_doc(), "wallTime": self._wall_of(applied),
                      "durableOpTime": durable.to_doc(), "durableWallTime": self._wall_of(durable),
                      "lastCommitted": self.last_committed.to_doc(),
                      "primaryId": self.primary_id if self.primary_id is not None else -1})
        if self.config is not None and "replicaSetId" in self.config["settings"]:
            reply["replicaSetId"] = self.config["settings"]["replicaSetId"]
        return reply

    # ================================================================ liveness (primary)
    async def _liveness_loop(self):
        while not self._shutting_down:
            await asyncio.sleep(min(0.5, self.heartbeat_interval / 2))
            if self.state != PRIMARY or self.config is None:
                continue
            now = time.monotonic()
            visible = 1 if rc.effective_votes(self.self_member) else 0
            for m in self.config["members"]:
                if m["_id"] == self.my_id or not rc.effective_votes(m):
                    continue
                data = self.members.get(m["_id"])
                if data is not None and data.health == 1.0 and now - data.last_hb_mono < self.election_timeout:
                    visible += 1
            if visible < rc.majority(self.config):
                LOG.info("REPL", 21809, "Can't see a majority of the set, relinquishing primary")
                self._step_down_now("Can't see a majority of the set, relinquishing primary", 0)

    # ================================================================ elections
    def _reset_election_timer(self):
        if self._shutting_down:
            self._election_deadline = None
        elif self.state == SECONDARY and self.self_member is not None and rc.is_electable(self.self_member):
            if rc.is_single_node_set(self.config, self.self_index):
                # A one-member set elects itself at once (kActionStartSingleNodeElection /
                # kSingleNodePromptElection, replication_coordinator_impl.cpp). A set whose only
                # voter has non-voting company waits for the election timeout like any other.
                self._election_deadline = max(time.monotonic(), self.stepdown_until, self.freeze_until)
                return
            fraction = self.opts.parameters.get("replElectionTimeoutOffsetLimitFraction", 0.15)
            jitter = random.uniform(0, fraction * self.election_timeout)
            self._election_deadline = time.monotonic() + self.election_timeout + jitter
        else:
            self._election_deadline = None

    async def _election_timer_loop(self):
        while not self._shutting_down:
            deadline = self._election_deadline
            now = time.monotonic()
            if deadline is None or now < deadline:
                wait = 0.1 if deadline is None else min(0.1, deadline - now)
                await asyncio.sleep(max(0.01, wait))
                if self._priority_takeover_at is not None and time.monotonic() >= self._priority_takeover_at:
                    self._priority_takeover_at = None
                    await self._try_election("priority takeover")
                continue
            self._election_deadline = None
            await self._try_election("election timeout")
            self._reset_election_timer()

    def _unelectable_reason(self, for_stepup=False):
        me = self.self_member
        if me is None:
            return "not a member of the config"
        if me["arbiterOnly"]:
            return "member is an arbiter"
        if rc.effective_priority(me) <= 0:
            return "member has zero priority"
        if self.state != SECONDARY:
            return "member is not currently a secondary"
        if self.last_applied().is_null():
            return "member has not applied any oplog entries"
        now = time.monotonic()
        if now < self.stepdown_until:
            return "I am still waiting for stepdown period to end"
        if now < self.freeze_until and not for_stepup:
            return "I am still waiting for freeze period to end"
        if not self._can_see_majority():
            return "I cannot see a majority"
        return None

    def _can_see_majority(self):
        visible = 1
        for m in self.config["members"]:
            if m["_id"] == self.my_id or not rc.effective_votes(m):
                continue
            data = self.members.get(m["_id"])
            if data is not None and data.health == 1.0:
                visible += 1
        return visible >= rc.majority(self.config)

    def _check_priority_takeover(self, primary_data):
        me = self.self_member
        if me is None or self._priority_takeover_at is not None:
            return
        primary = self._member(primary_data.id)
        if primary is None or rc.effective_priority(me) <= rc.effective_priority(primary):
            return
        if self._unelectable_reason() is not None:
            return
        window = self.opts.parameters.get("priorityTakeoverFreshnessWindowSeconds", 2)
        if primary_data.applied.seconds - self.last_applied().seconds > window:
            return
        rank = sum(1 for m in self.config["members"]
                   if rc.is_electable(m) and rc.effective_priority(m) > rc.effective_priority(me))
        fraction = self.opts.parameters.get("replElectionTimeoutOffsetLimitFraction", 0.15)
        delay = (rank + 1) * self.election_timeout + random.uniform(0, fraction * self.election_timeout)
        self._priority_takeover_at = time.monotonic() + delay
        LOG.info("REPL", 21399, "Scheduling priority takeover", {"when": delay})

    async def _try_election(self, reason, skip_dry_run=False):
        if self._election_running or self._shutting_down:
            return False
        why = self._unelectable_reason(for_stepup=skip_dry_run)
        if why is not None:
            if reason != "election timeout" or why not in ("member is not currently a secondary",):
                LOG.info("ELECTION", 21439, "Not starting an election", {"reason": reason, "unelectable": why})
            return False
        self._election_running = True
        try:
            if not skip_dry_run:
                granted = await self._request_votes(self.term + 1, dry_run=True)
                if not granted:
                    LOG.info("ELECTION", 21441, "Not running for primary, the dry run election failed")
                    return False
            new_term = self.term + 1
            self.term = new_term
            self._last_vote = {"term": new_term, "candidateIndex": self.self_index}
            self.storage.local["term"] = new_term
            self.storage.local["lastVote"] = self._last_vote
            self.storage.save_local()
            LOG.info("ELECTION", 21444, "Dry election run succeeded, running for election", {"newTerm": new_term})
            won = await self._request_votes(new_term, dry_run=False)
            if not won or self.term != new_term or self.state != SECONDARY:
                LOG.info("ELECTION", 21447, "Lost election", {"term": new_term})
                return False
            await self._become_primary(reason)
            return True
        finally:
            self._election_running = False

    async def _request_votes(self, term, dry_run):
        me = self.self_member
        voters = [m for m in self.config["members"] if rc.effective_votes(m) and m["_id"] != me["_id"]]
        needed = rc.majority(self.config)
        votes = 1 if rc.effective_votes(me) else 0
        if votes >= needed:
            return True
        request = {"replSetRequestVotes": 1, "setName": self.config["_id"], "dryRun": dry_run, "term": Int64(term),
                   "candidateIndex": self.self_index, "configVersion": self.config["version"],
                   "configTerm": self.config.get("term", -1), "lastAppliedOpTime": self.last_applied().to_doc()}
        timeout = min(self.election_timeout, 5.0)

        async def ask(member):
            try:
                return await self.server.peers.command(member["host"], "vote", request, timeout)
            except (PeerError, CommandError):
                return None

        pending = [asyncio.ensure_future(ask(m)) for m in voters]
        try:
            for future in asyncio.as_completed(pending):
                reply = await future
                if not reply or not reply.get("ok"):
                    continue
                if reply.get("term", 0) > term and not dry_run:
                    self._update_term(int(reply["term"]))
                    return False
                if reply.get("voteGranted"):
                    votes += 1
                    if votes >= needed:
                        return True
        finally:
            for future in pending:
                future.cancel()
        return False

    async def handle_request_votes(self, cmd):
        term = int(cmd["term"])
        dry_run = bool(cmd.get("dryRun"))
        if not dry_run:
            self._update_term(term)
        reply = {"term": Int64(self.term)}
        me = self.self_member
        if self.config is None or me is None:
            reply.update({"voteGranted": False, "reason": "not a member of a replica set"})
            return reply
        candidate_vt = (cmd.get("configVersion", -2), cmd.get("configTerm", -1))
        last_applied = self.last_applied()
        candidate_applied = OpTime.from_doc(cmd.get("lastAppliedOpTime"))
        if not rc.effective_votes(me):
            granted, why = False, "I am not a voting member"
        elif term < self.term:
            granted, why = False, "candidate's term (%d) is lower than mine (%d)" % (term, self.term)
        elif cmd.get("setName") != self.config["_id"]:
            granted, why = False, "candidate's set name (%s) differs from mine (%s)" % (cmd.get("setName"),
                                                                                        self.config["_id"])
        elif rc.is_newer(rc.version_term(self.config), candidate_vt):
            granted, why = False, "candidate's config with %s is older than mine with %s" % (
                rc.version_term_string(*candidate_vt), rc.version_term_string(*rc.version_term(self.config)))
        elif not me["arbiterOnly"] and last_applied > candidate_applied:
            granted, why = False, "candidate's data is staler than mine. candidate's last applied OpTime: %s, my " \
                                  "last applied OpTime: %s" % (candidate_applied, last_applied)
        elif not dry_run and self._last_vote.get("term") == term and \
                self._last_vote.get("candidateIndex") != cmd.get("candidateIndex"):
            granted, why = False, "already voted for another candidate (%s) this term (%d)" % (
                self._last_vote.get("candidateIndex"), term)
        elif dry_run and self.state == PRIMARY and term <= self.term + 1 and \
                self.can_accept_writes() and cmd.get("candidateIndex") != self.self_index and \
                not self._candidate_outranks_me(cmd.get("candidateIndex")):
            granted, why = False, "I am the primary and the candidate has no higher priority"
        else:
            granted, why = True, ""
            if not dry_run:
                self._last_vote = {"term": term, "candidateIndex": cmd.get("candidateIndex")}
                self.storage.local["lastVote"] = self._last_vote
                self.storage.save_local()
                self._participant_metrics = {"votedForCandidate": True, "electionTerm": Int64(term),
                                             "lastVoteDate": _utcnow(), "electionCandidateMemberId":
                                                 self.config["members"][cmd["candidateIndex"]]["_id"]
                                             if 0 <= cmd.get("candidateIndex", -1) < len(self.config["members"])
                                             else -1,
                                             "voteReason": "", "priorityAtElection": float(me["priority"])}
                self._reset_election_timer()
        reply.update({"voteGranted": granted, "reason": why})
        return reply

    def _candidate_outranks_me(self, candidate_index):
        if candidate_index is None or not 0 <= candidate_index < len(self.config["members"]):
            return False
        candidate = self.config["members"][candidate_index]
        return rc.effective_priority(candidate) > rc.effective_priority(self.self_member)

    async def _become_primary(self, reason):
        self.primary_id = self.my_id
        self._set_state(PRIMARY)
        self.writable = False
        self.election_id = election_id_for(self.term)
        LOG.info("ELECTION", 21450, "Election succeeded, assuming primary role",
                 {"term": self.term, "reason": reason})
        ts = self.server.next_timestamp()
        self.storage.append([{"op": "n", "ns": "", "o": {"msg": "new primary"}, "ts": ts, "t": Int64(self.term),
                              "v": Int64(2), "wall": _wall()}])
        self.server.request_journal_flush()
        self.election_time = ts
        self.election_date = _wall()
        self._candidate_metrics = {"lastElectionReason": reason.replace(" ", ""), "lastElectionDate": _wall(),
                                   "electionTerm": Int64(self.term),
                                   "lastCommittedOpTimeAtElection": self.last_committed.to_doc(),
                                   "lastSeenOpTimeAtElection": self.last_applied().to_doc(),
                                   "numVotesNeeded": rc.majority(self.config),
                                   "priorityAtElection": float(self.self_member["priority"]),
                                   "electionTimeoutMillis": Int64(self.settings["electionTimeoutMillis"])}
        # Drain is instantaneous here: we apply batches synchronously.
        if self.state == PRIMARY:
            self.writable = True
            self.topology_changed()
            LOG.info("REPL", 21331, "Transition to primary complete; database writes are now permitted")
            # The step-up config term bump (same version, new term).
            if self.config.get("term", -1) != self.term and not self.config_in_progress:
                new = copy.deepcopy(self.config)
                new["term"] = self.term
                self.config = new
                self._persist_config()
                self._restart_heartbeats()
            self._recompute_commit_point()

    def _step_down_now(self, reason, period_secs):
        if self.state != PRIMARY:
            return
        LOG.info("REPL", 21358, reason)
        self.stepdown_until = time.monotonic() + period_secs
        self.stepping_down = False
        self.writable = False
        self._set_state(SECONDARY)
        self.server.on_step_down()

    async def step_down(self, cmd):
        secs = cmd.get("replSetStepDown")
        if not isinstance(secs, (int, float)) or isinstance(secs, bool) or secs == 0:
            secs = 60
        if secs < 0:
            raise CommandError(2, "stepdown period must be a positive integer")
        force = bool(cmd.get("force", False))
        catch_up = cmd.get("secondaryCatchUpPeriodSecs", 0 if force else 10)
        if catch_up is None:
            catch_up = 0 if force else 10
        if catch_up < 0:
            raise CommandError(2, "secondaryCatchUpPeriodSecs period must be a positive or absent")
        if secs < catch_up:
            raise CommandError(2, "stepdown period must be longer than secondaryCatchUpPeriodSecs")
        self.check_initialized()
        if self.state != PRIMARY:
            raise CommandError(10107, "not primary so can't step down")
        if self.stepping_down:
            raise CommandError(117, "This node is already in the process of stepping down")
        await self._step_down_with_catch_up(secs, catch_up, force, "replSetStepDown command")
        return {}

    async def _step_down_with_catch_up(self, secs, catch_up, force, reason):
        self.stepping_down = True
        self.topology_changed()
        deadline = time.monotonic() + catch_up
        try:
            while True:
                if self.state != PRIMARY:
                    return
                candidate = self._caught_up_candidate()
                if candidate is not None or (force and time.monotonic() >= deadline):
                    break
                if time.monotonic() >= deadline:
                    raise CommandError(262, "No electable secondaries caught up as of %s. Please use the "
                                       "replSetStepDown command with the argument {force: true} to force node to "
                                       "step down." % _utcnow().isoformat())
                await self.wait_change(min(0.05, max(0.0, deadline - time.monotonic())))
        except BaseException:
            self.stepping_down = False
            self.topology_changed()
            raise
        self._step_down_now("Stepping down: %s" % reason, secs)
        if candidate is not None:
            asyncio.ensure_future(self._handoff(candidate))

    def _caught_up_candidate(self):
        """Best electable secondary that has our last applied optime, if a
        majority of voting data-bearing members have it too."""
        mine = self.last_applied()
        caught = 1
        best = None
        for m in self.config["members"]:
            if m["_id"] == self.my_id:
                continue
            data = self.members.get(m["_id"])
            if data is None or data.health != 1.0 or data.applied < mine:
                continue
            if rc.effective_votes(m) and not m["arbiterOnly"]:
                caught += 1
            if rc.is_electable(m) and data.state == SECONDARY:
                if best is None or rc.effective_priority(m) > rc.effective_priority(best):
                    best = m
        if best is None or caught < rc.write_majority(self.config):
            return None
        return best

    async def _handoff(self, member):
        try:
            await self.server.peers.command(member["host"], "vote", {"replSetStepUp": 1, "skipDryRun": True}, 5.0)
        except (PeerError, CommandError):
            pass

    async def step_up(self, cmd):
        self.check_initialized()
        if self.state == PRIMARY:
            return {"info": "already primary"}
        if self._unelectable_reason(for_stepup=True) is not None:
            # mongod answers an ineligible node as it answers a lost election:
            # CommandFailed, "Election failed.", no reason given.
            raise CommandError(125, "Election failed.", code_name_override="CommandFailed")
        won = await self._try_election("step up request", skip_dry_run=bool(cmd.get("skipDryRun")))
        if not won:
            raise CommandError(125, "Election failed.", code_name_override="CommandFailed")
        return {}

    def freeze(self, secs):
        self.check_initialized()
        if self.state == PRIMARY or self._election_running:
            raise CommandError(95, "Cannot freeze node when primary or running for election. state: %s"
                               % ("Running-Election" if self._election_running else "Primary"))
        reply = {}
        if secs == 0:
            self.freeze_until = 0.0
            reply["info"] = "unfreezing"
            # TopologyCoordinator::prepareFreezeResponse: only a one-member set runs at once.
            if rc.is_single_node_set(self.config, self.self_index):
                asyncio.ensure_future(self._try_election("unfreeze of single-node set"))
        else:
            if secs == 1:
                reply["warning"] = "you really want to freeze for only 1 second?"
            self.freeze_until = max(self.freeze_until, time.monotonic() + secs)
        return reply

    def set_maintenance(self, enable):
        self.check_initialized()
        if self.state == PRIMARY:
            raise CommandError(95, "primaries can't modify maintenance mode")
        if self._election_running:
            raise CommandError(95, "currently running for election")
        if enable:
            self.maintenance += 1
            if self.state == SECONDARY:
                self._set_state(RECOVERING)
        else:
            if self.maintenance == 0:
                raise CommandError(96, "already out of maintenance mode")
            self.maintenance -= 1
            if self.maintenance == 0 and self.state == RECOVERING and not self._too_stale:
                self._set_state(SECONDARY)
        return {}

    # ================================================================ commit point and write concern
    def _recompute_commit_point(self):
        if self.state != PRIMARY or self.config is None:
            return
        durables = []
        for m in self.config["members"]:
            if not rc.effective_votes(m) or m["arbiterOnly"]:
                continue
            if m["_id"] == self.my_id:
                durables.append(self.last_durable())
            else:
                data = self.members.get(m["_id"])
                durables.append(data.durable if data is not None else OpTime())
        need = rc.write_majority(self.config)
        if len(durables) < need:
            return
        durables.sort(reverse=True)
        candidate = durables[need - 1]
        if candidate.term == self.term and candidate > self.last_committed:
            self.last_committed = candidate
            self.notify()

    def _advance_commit_point_from(self, committed):
        """Learn the commit point from the primary (via a sync source or
        heartbeat). Our own tail may be about to roll back, so we only move to
        an entry we hold, or to our last applied entry when it is in the
        commit point's term (then it came from the same primary)."""
        if committed.is_null():
            return
        applied = self.last_applied()
        if committed <= applied:
            target = committed if self.storage.find(committed) is not None else None
        elif committed.term == applied.term:
            target = applied
        else:
            target = None
        if target is not None and target > self.last_committed:
            self.last_committed = target
            self.notify()

    def on_local_durable(self):
        """Called after the journal flusher made more of our oplog durable."""
        if self.state == PRIMARY:
            self._recompute_commit_point()
        else:
            self._schedule_position_report()
        self.notify()

    def update_positions(self, positions):
        """replSetUpdatePosition: progress of members downstream of us."""
        changed = False
        for pos in positions:
            member_id = pos.get("memberId")
            data = self.members.get(member_id)
            if data is None:
                continue
            applied = OpTime.from_doc(pos.get("appliedOpTime"))
            durable = OpTime.from_doc(pos.get("durableOpTime"))
            if applied > data.applied:
                data.applied = applied
                changed = True
            if durable > data.durable:
                data.durable = durable
                changed = True
            if data.health != 1.0:
                data.health = 1.0
                data.up_since = data.up_since or _utcnow()
            data.last_hb_mono = time.monotonic()
        if changed:
            if self.state == PRIMARY:
                self._recompute_commit_point()
            else:
                for pos in positions:
                    if pos.get("memberId") not in (self.my_id, self._sync_source_id, self.primary_id):
                        self._downstream_positions[pos["memberId"]] = pos
                self._schedule_position_report()
            self.notify()

    def _schedule_position_report(self):
        self._position_dirty = True
        if self._position_task is None or self._position_task.done():
            self._position_task = asyncio.ensure_future(self._report_positions())

    async def _report_positions(self):
        while self._position_dirty:
            self._position_dirty = False
            source = self._sync_source
            if not source or self.config is None:
                return
            positions = [{"memberId": self.my_id, "cfgver": self.config["version"],
                          "appliedOpTime": self.last_applied().to_doc(),
                          "durableOpTime": self.last_durable().to_doc()}]
            positions.extend(self._downstream_positions.values())
            try:
                await self.server.peers.command(source, "position",
                                                {"replSetUpdatePosition": 1, "optimes": positions,
                                                 "term": Int64(self.term)}, 5.0)
            except (PeerError, CommandError):
                return

    async def wait_for_write_concern(self, optime, wc, deadline):
        """Block until ``wc`` is satisfied for ``optime``; returns a
        writeConcernError document or None."""
        w = wc.get("w", 1)
        j = wc.get("j")
        if w == 0 or optime.is_null():
            return None
        if self.config is None:
            if j:
                await self.server.wait_durable(optime, deadline)
            return None
        term = self.term
        data_members = [m for m in self.config["members"] if not m["arbiterOnly"]]
        if isinstance(w, (int, float)) and not isinstance(w, bool):
            if w > len(data_members):
                return {"code": 100, "codeName": "UnsatisfiableWriteConcern", "errmsg": "Not enough data-bearing "
                        "nodes", "errInfo": {"writeConcern": dict(wc)}}
        elif isinstance(w, str) and w != "majority":
            if w not in self.config["settings"].get("getLastErrorModes", {}):
                return {"code": 79, "codeName": "UnknownReplWriteConcern",
                        "errmsg": "No write concern mode named '%s' found in replica set configuration" % w}
        while True:
            if self._write_concern_satisfied(optime, w, j):
                return None
            if self.state != PRIMARY or self.term != term:
                return {"code": 11602, "codeName": "InterruptedDueToReplStateChange",
                        "errmsg": "operation was interrupted because a primary stepped down",
                        "errorLabels": ["RetryableWriteError"]}
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return {"code": 64, "codeName": "WriteConcernFailed", "errmsg": "waiting for replication timed out",
                        "errInfo": {"wtimeout": True, "writeConcern": dict(wc)}}
            await self.wait_change(0.5 if remaining is None else min(0.5, remaining))

    def _write_concern_satisfied(self, optime, w, j):
        if w == "majority":
            return self.last_committed >= optime
        reached = []
        for m in self.config["members"]:
            if m["arbiterOnly"]:
                continue
            if m["_id"] == self.my_id:
                mine = self.last_durable() if j else self.last_applied()
                if mine >= optime:
                    reached.append(m)
                continue
            data = self.members.get(m["_id"])
            if data is None:
                continue
            if (data.durable if j else data.applied) >= optime:
                reached.append(m)
        if isinstance(w, str):
            spec = self.config["settings"]["getLastErrorModes"][w]
            for tag, count in spec.items():
                values = {m["tags"][tag] for m in reached if tag in m["tags"]}
                if len(values) < count:
                    return False
            return True
        if j and self.last_durable() < optime:
            return False
        return len(reached) >= int(w)

    # ================================================================ syncing (secondaries)
    def _choose_sync_source(self):
        if self.config is None:
            return None
        me = self.self_member
        candidates = []
        primary = None
        mine = self.last_applied()
        for m in self.config["members"]:
            if m["_id"] == self.my_id or m["arbiterOnly"]:
                continue
            data = self.members.get(m["_id"])
            if data is None or data.health != 1.0 or data.state not in DATA_STATES:
                continue
            if me["buildIndexes"] and not m["buildIndexes"]:
                continue
            if data.state != PRIMARY and data.applied < mine and not self._needs_initial_sync:
                continue
            if data.state == PRIMARY:
                primary = m
            elif not m["hidden"] and m["secondaryDelaySecs"] == 0:
                candidates.append((data.ping_ms, m))
        if primary is not None:
            # Sync from the primary unless chaining is allowed and a secondary
            # is clearly closer.
            if not self.settings["chainingAllowed"] or not candidates:
                return primary
            primary_ping = self.members[primary["_id"]].ping_ms
            best_ping, best = min(candidates, key=lambda c: c[0])
            # Chain only when a secondary is clearly closer than the primary.
            if best_ping + 30 < primary_ping and self.members[best["_id"]].applied > mine:
                return best
            return primary
        if not self.settings["chainingAllowed"]:
            return None
        if candidates:
            ahead = [c for c in candidates if self.members[c[1]["_id"]].applied > mine] or candidates
            return min(ahead, key=lambda c: c[0])[1]
        return None

    async def _sync_loop(self):
        while not self._shutting_down:
            try:
                await self._sync_step()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - keep replicating; report and retry
                LOG.warning("REPL", 21799, "Sync source problem", {"error": repr(exc)})
                self._set_sync_source(None)
                await self.wait_change(0.5)

    def _set_sync_source(self, member):
        host = member["host"] if member else None
        if host != self._sync_source:
            self._sync_source = host
            self._downstream_positions.clear()
            self._sync_source_id = member["_id"] if member else -1
            if host:
                LOG.info("REPL", 21799, "Sync source candidate chosen", {"syncSource": host})

    async def _sync_step(self):
        if self.config is None or self.state in (PRIMARY, ARBITER, REMOVED, STARTUP) or self._shutting_down:
            self._set_sync_source(None)
            await self.wait_change(1.0)
            return
        source = self._choose_sync_source()
        if source is None:
            self._set_sync_source(None)
            await self.wait_change(0.5)
            return
        self._set_sync_source(source)
        if self.server.fail_points & {"stopReplProducer", "rsSyncApplyStop"}:
            await self.wait_change(0.5)
            return
        if self._needs_initial_sync:
            await self._initial_sync(source)
            return
        after = self.last_applied()
        request = {"_mongosimOplogFetch": 1, "after": after.to_doc(), "limit": 5000, "maxAwaitTimeMS": 1000,
                   "term": Int64(self.term), "requesterId": self.my_id}
        try:
            reply = await self.server.peers.command(source["host"], "sync", request, 10.0)
        except (PeerError, CommandError) as exc:
            LOG.info("REPL", 21275, "Fetcher stopped querying remote oplog", {"error": str(exc)})
            self._set_sync_source(None)
            await self.wait_change(0.5)
            return
        if not reply.get("ok"):
            code = reply.get("code")
            if code == 120 and reply.get("divergent"):
                await self._rollback(source)
            elif code == 120:
                if not self._too_stale:
                    LOG.error("REPL", 21799, "We are too stale to use the sync source", {"syncSource": source["host"]})
                self._too_stale = True
                self._set_state(RECOVERING)
                await self.wait_change(1.0)
            else:
                self._set_sync_source(None)
                await self.wait_change(0.5)
            return
        self._update_term(reply.get("term"))
        source_data = self.members.get(source["_id"])
        if source_data is not None and "lastApplied" in reply:
            source_applied = OpTime.from_doc(reply["lastApplied"])
            source_data.applied = max(source_data.applied, source_applied)
        if self.state in (PRIMARY, ARBITER, REMOVED, ROLLBACK) or self.last_applied() != after or \
                self.server.fail_points & {"stopReplProducer", "rsSyncApplyStop"}:
            return  # our state moved on while the fetch was in flight: this batch no longer applies
        entries = reply.get("entries", [])
        if entries:
            await self._apply_batch(entries, source)
        committed = OpTime.from_doc(reply.get("lastCommitted"))
        self._advance_commit_point_from(committed)
        if self.state == RECOVERING and not self.maintenance and not self._too_stale and \
                self.last_applied() >= self._min_valid:
            self._set_state(SECONDARY)
        if reply.get("primaryId") is not None and reply["primaryId"] >= 0 and self.state != PRIMARY:
            if self.primary_id != reply["primaryId"] and reply.get("term") == self.term:
                self.primary_id = reply["primaryId"]
                self.topology_changed()
            if reply.get("term") == self.term:
                self._reset_election_timer()

    async def _apply_batch(self, entries, source):
        delay = self.self_member["secondaryDelaySecs"] if self.self_member else 0
        if delay:
            ready = []
            now = _utcnow()
            for entry in entries:
                wall = entry.get("wall")
                if wall is not None and (now - wall).total_seconds() < delay:
                    break
                ready.append(entry)
            if not ready:
                await self.wait_change(0.5)
                return
            entries = ready
        docs = [dict(e) if not isinstance(e, dict) else e for e in entries]
        docs = [_decode_raw(e) for e in docs]
        self.storage.append(docs)
        self.server.request_journal_flush()
        self._schedule_position_report()
        self._oplog_event.set()
        self._oplog_event = asyncio.Event()
        self.notify()

    async def _initial_sync(self, source):
        LOG.info("INITSYNC", 21173, "Starting initial sync", {"syncSource": source["host"]})
        try:
            reply = await self.server.peers.command(source["host"], "sync", {"_mongosimInitialSync": 1}, 60.0)
        except (PeerError, CommandError) as exc:
            LOG.info("INITSYNC", 21200, "Initial sync attempt failed", {"error": str(exc)})
            await self.wait_change(1.0)
            return
        if not reply.get("ok"):
            await self.wait_change(1.0)
            return
        self.storage.reset(reply["collections"], [_decode_raw(e) for e in reply["oplog"]])
        self._needs_initial_sync = False
        self._min_valid = OpTime.from_doc(reply["optime"])
        LOG.info("INITSYNC", 21192, "Initial sync done", {"optime": reply["optime"]})
        if self.state == STARTUP2:
            self._set_state(SECONDARY)
        self._schedule_position_report()
        self.notify()

    async def _rollback(self, source):
        """Our oplog diverged from the sync source's: roll back to the common
        point, saving what is undone under dbPath/rollback, then refetch."""
        self._set_state(ROLLBACK)
        LOG.info("ROLLBACK", 21593, "Transition to ROLLBACK")
        try:
            recent = self.storage.recent_optimes(1000)
            reply = await self.server.peers.command(
                source["host"], "sync", {"_mongosimOplogHas": 1,
                                         "optimes": [o.to_doc() for o in reversed(recent)]}, 30.0)
            common = OpTime.from_doc(reply.get("found")) if reply.get("ok") and reply.get("found") else None
            removed = self.storage.truncate_after(common) if common is not None else None
            LOG.info("ROLLBACK", 21607, "Rollback common point", {
                "commonPoint": common.to_doc() if common is not None else None,
                "ops": [e["op"] for e in removed] if removed is not None else None})
            if removed is None or any(e["op"] == "c" for e in removed):
                self.server.save_rollback_files(removed or [])
                self._needs_initial_sync = True
                self._set_state(STARTUP2)
                return
            self.server.save_rollback_files(removed)
            touched = {}
            for entry in removed:
                if entry["op"] in ("i", "u", "d"):
                    _id = entry["o2"]["_id"] if entry["op"] == "u" else entry["o"]["_id"]
                    touched.setdefault(entry["ns"], []).append(_id)
            refetch = await self.server.peers.command(
                source["host"], "sync",
                {"_mongosimRefetch": 1, "docs": [{"ns": ns, "ids": ids} for ns, ids in touched.items()]}, 30.0)
            if not refetch.get("ok"):
                raise CommandError(96, "refetch failed: %s" % refetch.get("errmsg"))
            self.server.apply_refetch(touched, refetch["docs"])
            self._min_valid = OpTime.from_doc(refetch["optime"])
            self.rbid += 1
            self.storage.local["rbid"] = self.rbid
            self.storage.save_local()
            self.storage.checkpoint()
            LOG.info("ROLLBACK", 21612, "Rollback summary", {"commonPoint": common.to_doc(),
                                                             "entriesRolledBack": len(removed)})
            self._set_state(RECOVERING)
        except (PeerError, CommandError) as exc:
            LOG.warning("ROLLBACK", 21606, "Rollback failed; will retry", {"error": str(exc)})
            self._set_state(RECOVERING)
            await self.wait_change(1.0)

    # ---------------------------------------------------------------- sync source side
    async def handle_fetch(self, cmd):
        if self.state not in DATA_STATES:
            raise CommandError(96, "sync source is not a primary or secondary (state %s)"
                               % STATE_NAMES.get(self.state))
        requester_term = cmd.get("term")
        self._update_term(requester_term)
        after = OpTime.from_doc(cmd["after"])
        if self.storage.find(after) is None:
            first = self.storage.first_optime()
            divergent = not (after.key < first.key)
            raise CommandError(120, "Our last optime fetched: %s. source's GTE: %s" % (after, first),
                               {"divergent": divergent}, code_name_override="OplogStartMissing")
        deadline = time.monotonic() + cmd.get("maxAwaitTimeMS", 1000) / 1000.0
        committed = self.last_committed
        while True:
            entries = self.storage.entries_after(after, int(cmd.get("limit", 5000)))
            if entries or self.last_committed != committed or time.monotonic() >= deadline or \
                    self.state not in DATA_STATES:
                break
            await self.wait_change(max(0.0, deadline - time.monotonic()))
        return {"entries": entries, "lastCommitted": self.last_committed.to_doc(), "term": Int64(self.term),
                "lastApplied": self.last_applied().to_doc(),
                "primaryId": self.primary_id if self.primary_id is not None else -1, "rbid": self.rbid}

    def handle_initial_sync(self):
        if self.state not in DATA_STATES:
            raise CommandError(96, "not a viable initial sync source")
        last = self.storage.entries_after(OpTime(self.storage.last_optime().key - 1, -1), 1)
        return {"collections": self.storage.dump(), "optime": self.last_applied().to_doc(), "oplog": last}

    def handle_oplog_has(self, cmd):
        for doc in cmd.get("optimes", []):
            optime = OpTime.from_doc(doc)
            if self.storage.find(optime) is not None:
                return {"found": optime.to_doc()}
        return {"found": None}


def _decode_raw(entry):
    if isinstance(entry, dict):
        return entry
    from bson import decode
    return decode(entry.raw)


def _address_is_local(address):
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.bind((address, 0))
        return True
    except OSError:
        return False


__all__ = ["ReplCoordinator", "STATE_NAMES", "ts_key", "key_ts", "Timestamp"]
