"""The replication coordinator itself: the member's state (config, term, member
state, primary, what it knows of the others), start and stop, state transitions and
the change notifications every wait polls on, and the replica-set part of hello and
replSetGetStatus (SEMANTICS.md sections 2, 3 and 7).

ReplCoordinator is assembled from one mixin per concern, each in its own module of
this package (mongod splits replication_coordinator_impl*.cpp the same way):
isself.py, config.py, heartbeat.py, election.py, commit.py and sync.py. Each mixin
sets up the attributes it owns in its ``_init_*`` method, called from __init__ here;
the attributes below are the shared state all of them read.
"""

import asyncio
import datetime
import time

from bson.int64 import Int64

from .. import replconfig as rc
from ..errors import CommandError
from ..log import LOG
from .commit import CommitMixin
from .config import ConfigMixin
from .election import ElectionMixin
from .heartbeat import HeartbeatMixin
from .isself import SelfDetectionMixin
from .states import (
    ARBITER, DOWN, PRIMARY, RECOVERING, REMOVED, SECONDARY, STARTUP, STARTUP2, STATE_NAMES, UNKNOWN, MemberData, utcnow,
)
from .sync import SyncMixin


class ReplCoordinator(SelfDetectionMixin, ConfigMixin, HeartbeatMixin, ElectionMixin, CommitMixin,
                      SyncMixin):
    """One member's replication coordinator (server.repl)."""

    # ================================================================ construction
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
        self.primary_id = None
        self.writable = False             # a primary that accepts writes (not draining or stepping down)
        self.stepping_down = False
        self.election_id = None
        self.election_time = None
        self.election_date = None
        self.maintenance = 0
        self._tasks = []
        self._changed = asyncio.Event()   # any state/optime change: wakes waiters
        self._shutting_down = False
        self._startup_time = time.time()
        self.topology_counter = 0
        self.topology_event = asyncio.Event()
        self._init_self_detection()
        self._init_config()
        self._init_heartbeats()
        self._init_elections()
        self._init_commit()
        self._init_sync()

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
        self._spawn(self._keep_alive_loop())
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
        now = utcnow()
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

    # ================================================================ maintenance mode
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
