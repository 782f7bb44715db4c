"""Heartbeats (SEMANTICS.md section 7): one loop per other member sends
replSetHeartbeat every heartbeatIntervalMillis and absorbs the reply (member state,
optimes, term, primary, newer config); the same absorption runs for heartbeats other
members send us. A config newer than ours travels with a heartbeat either way. Also the
primary's liveness check: it steps down when it cannot see a majority of voters.
"""

import asyncio
import time

from bson.int64 import Int64

from .. import replconfig as rc
from ..errors import CommandError
from ..log import LOG
from ..netclient import PeerError
from ..storage import OpTime
from .states import DOWN, PRIMARY, STARTUP, STARTUP2, STATE_NAMES, UNKNOWN, utcnow


class HeartbeatMixin:
    """Sending and answering replSetHeartbeat; the primary's liveness check."""

    def _init_heartbeats(self):
        self._hb_tasks = {}               # member _id -> its heartbeat loop

    # ================================================================ sending heartbeats
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

    def _reported_optimes(self):
        """Our applied and durable optimes as heartbeats carry them: null in STARTUP2, so
        a member in initial sync shows no progress and counts towards no write majority
        (TopologyCoordinator::prepareHeartbeatResponseV1)."""
        if self.state == STARTUP2:
            return OpTime(), OpTime()
        return self.last_applied(), self.last_durable()

    def _heartbeat_request(self, data):
        config = self.config
        applied, durable = self._reported_optimes()
        request = {"replSetHeartbeat": config["_id"], "configVersion": config["version"],
                   "configTerm": config.get("term", -1), "hbv": 1, "from": self.me, "fromId": self.my_id,
                   "term": Int64(self.term), "state": self.state,
                   "opTime": applied.to_doc(), "durableOpTime": durable.to_doc(),
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
            data.pings += 1
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
        now = utcnow()
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
            await self._install(new, index, source="heartbeat from %s" % from_host)
        except CommandError as exc:
            LOG.warning("REPL", 21406, "Not installing config from heartbeat", {"error": exc.message})
        finally:
            self.config_in_progress = False

    # ================================================================ answering heartbeats
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
            data.last_hb_recv = utcnow()
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
        applied, durable = self._reported_optimes()
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
            # mongod checks liveness when the oldest member's last contact is an election
            # timeout old (_handleLivenessTimeout); polling at a tenth of it comes close,
            # and neither depends on the heartbeat interval.
            await asyncio.sleep(min(0.5, self.election_timeout / 10))
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
