"""Syncing from another member (SEMANTICS.md section 7): choosing a sync source
(the rule is decisions.choose_sync_source), fetching and applying oplog batches
(secondaryDelaySecs included), initial sync, rollback to the common point, and the
sync source's side of those requests. The fetch and the initial-sync clone are
mongosim's own commands (``_mongosimOplogFetch``, ``_mongosimInitialSync``,
``_mongosimOplogHas``, ``_mongosimRefetch``); mongod uses tailable cursors and
collection cloners.
"""

import asyncio
import time

from bson.int64 import Int64

from ..errors import CommandError
from ..log import LOG
from ..netclient import PeerError
from ..storage import OpTime
from . import decisions
from .states import (
    ARBITER, DATA_STATES, PRIMARY, RECOVERING, REMOVED, ROLLBACK, SECONDARY, STARTUP, STARTUP2, STATE_NAMES, utcnow,
)


# SyncSourceResolver::kTooStaleDenylistDuration: a candidate whose oldest oplog entry is
# newer than our last fetched one is left alone for a minute.
TOO_STALE_DENYLIST_SECS = 60.0


class SyncMixin:
    """Sync source, oplog fetch and apply, initial sync, rollback; and serving them."""

    def _init_sync(self):
        self._oplog_event = asyncio.Event()
        self._needs_initial_sync = False
        self._min_valid = OpTime()
        self._sync_source = None
        self._sync_source_id = -1
        self._too_stale = False
        self._denylist = {}               # host -> monotonic time its denylisting ends
        self._stale_candidates = set()    # hosts found too far ahead of us since we last synced
        self._forced_source_id = None     # replSetSyncFrom's choice, used once
        self.rbid = self.storage.local.get("rbid", 1)

    # ================================================================ sync source
    def _choose_sync_source(self):
        if self.config is None:
            return None
        forced, self._forced_source_id = self._forced_source_id, None
        if forced is not None:
            # TopologyCoordinator::_chooseSyncSourceReplSetSyncFrom: the requested member,
            # once, without the usual eligibility checks.
            member = self._member(forced)
            if member is not None:
                LOG.info("REPL", 21782, "Choosing sync source candidate by request", {"syncSource": member["host"]})
                return member
        # TopologyCoordinator::_chooseSyncSourceInitialChecks: no sync source until we
        # have had twice as many heartbeat responses (pings) as there are other members.
        needed = 2 * len(self.members) - sum(data.pings for data in self.members.values())
        if needed > 0:
            return None
        now = time.monotonic()
        self._denylist = {host: until for host, until in self._denylist.items() if until > now}
        denied = {m["_id"] for m in self.config["members"] if m["host"] in self._denylist}
        return decisions.choose_sync_source(self.config, self.self_member, self.last_applied(), self.members,
                                            self._needs_initial_sync, self.settings["chainingAllowed"], denied)

    def denylist_sync_source(self, host, secs):
        self._denylist[host] = time.monotonic() + secs

    def _too_stale_for(self, source, reply):
        """The source's oldest oplog entry is newer than our last one: it cannot serve us.
        As mongod's SyncSourceResolver does, denylist it for a minute and look for another
        candidate; only when every candidate we could try was too stale does the member
        go too stale (BackgroundSync::_produce: maintenance mode, RECOVERING)."""
        host = source["host"]
        LOG.info("REPL", 5579708, "We are too stale to use candidate as a sync source. Denylisting this sync "
                 "source because our last fetched timestamp is before their earliest timestamp",
                 {"candidate": host, "lastOpTimeFetchedTimestamp": self.last_applied().to_doc(),
                  "denylistDuration": "%ds" % TOO_STALE_DENYLIST_SECS, "error": reply.get("errmsg")})
        self.denylist_sync_source(host, TOO_STALE_DENYLIST_SECS)
        self._stale_candidates.add(host)
        self._set_sync_source(None)

    def _enter_too_stale(self):
        self._stale_candidates.clear()
        if self._too_stale:
            return
        self._too_stale = True
        LOG.error("REPL", 21799, "Too stale to catch up, entering maintenance mode",
                  {"ourLastOpTime": self.last_applied().to_doc()})
        self.maintenance += 1
        if self.state == SECONDARY:
            self._set_state(RECOVERING)
        self.notify()

    def _leave_too_stale(self, source):
        self._stale_candidates.clear()
        if not self._too_stale:
            return
        self._too_stale = False
        LOG.info("REPL", 21799, "No longer too stale. Able to sync from", {"syncSource": source["host"]})
        if self.maintenance:
            self.maintenance -= 1
        self.notify()

    def sync_from(self, host):
        """replSetSyncFrom (TopologyCoordinator::prepareSyncFromResponse)."""
        self.check_initialized()
        reply = {"syncFromRequested": host}
        me = self.self_member
        if me is None:
            raise CommandError(95, "Removed and uninitialized nodes do not sync")
        if me["arbiterOnly"]:
            raise CommandError(95, "arbiters don't sync")
        if self.state == PRIMARY:
            raise CommandError(95, "primaries don't sync")
        target = next((m for m in self.config["members"] if m["host"] == host), None)
        if target is None:
            raise CommandError(74, 'Could not find member "%s" in replica set' % host)
        if target["_id"] == me["_id"]:
            raise CommandError(72, "I cannot sync from myself")
        if target["arbiterOnly"]:
            raise CommandError(72, 'Cannot sync from "%s" because it is an arbiter' % host)
        if me["buildIndexes"] and not target["buildIndexes"]:
            raise CommandError(72, 'Cannot sync from "%s" because it does not build indexes' % host)
        if me["votes"] and not target["votes"]:
            raise CommandError(72, 'Cannot sync from "%s" because it is not a voter' % host)
        data = self.members.get(target["_id"])
        if data is not None and not data.authenticated:
            raise CommandError(13, "not authorized to communicate with %s" % host)
        if data is None or data.health == 0.0:
            raise CommandError(6, "I cannot reach the requested member: %s" % host)
        if data.applied.seconds + 10 < self.last_applied().seconds:
            reply["warning"] = 'requested member "%s" is more than 10 seconds behind us' % host
        if self._sync_source:
            reply["prevSyncTarget"] = self._sync_source
        self._forced_source_id = target["_id"]
        self._set_sync_source(None)
        self.notify()
        return reply

    def _set_sync_source(self, member):
        host = member["host"] if member else None
        if host != self._sync_source:
            self._sync_source = host
            self._downstream_positions.clear()
            self._sync_source_id = member["_id"] if member else -1
            if host:
                LOG.info("REPL", 21799, "Sync source candidate chosen", {"syncSource": host})

    # ================================================================ fetch and apply
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

    async def _sync_step(self):
        if self.config is None or self.state in (PRIMARY, ARBITER, REMOVED, STARTUP) or self._shutting_down:
            self._set_sync_source(None)
            await self.wait_change(1.0)
            return
        source = self._choose_sync_source()
        if source is None:
            if self._stale_candidates and not self._needs_initial_sync:
                self._enter_too_stale()
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
        # OplogFetcher's awaitData timeout: half the election timeout, at most 30 s
        # (oplog_fetcher.cpp calculateAwaitDataTimeout), so an idle sync source still
        # answers within every election timeout and our election timer is reset.
        await_ms = int(min(self.election_timeout / 2, 30.0) * 1000)
        request = {"_mongosimOplogFetch": 1, "after": after.to_doc(), "limit": 5000, "maxAwaitTimeMS": await_ms,
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
                self._too_stale_for(source, reply)
            else:
                self._set_sync_source(None)
                await self.wait_change(0.5)
            return
        self._leave_too_stale(source)
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
        self._finish_recovery_if_eligible()
        if reply.get("primaryId") is not None and reply["primaryId"] >= 0 and self.state != PRIMARY:
            if self.primary_id != reply["primaryId"] and reply.get("term") == self.term:
                self.primary_id = reply["primaryId"]
                self.topology_changed()
            if reply.get("term") == self.term:
                self._reset_election_timer()

    def _finish_recovery_if_eligible(self):
        """RECOVERING -> SECONDARY once we have applied up to minValid, outside
        maintenance mode (ReplicationCoordinatorImpl::finishRecoveryIfEligible)."""
        if self.state == RECOVERING and not self.maintenance and not self._too_stale and \
                self.last_applied() >= self._min_valid:
            self._set_state(SECONDARY)

    async def _apply_batch(self, entries, source):
        delay = self.self_member["secondaryDelaySecs"] if self.self_member else 0
        if delay:
            ready = []
            now = utcnow()
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
        docs = [decode_raw(e) for e in docs]
        self.storage.append(docs)
        self.server.request_journal_flush()
        self._schedule_position_report()
        self._oplog_event.set()
        self._oplog_event = asyncio.Event()
        self.notify()

    # ================================================================ initial sync and rollback
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
        self.storage.reset(reply["collections"], [decode_raw(e) for e in reply["oplog"]])
        self._needs_initial_sync = False
        self._min_valid = OpTime.from_doc(reply["optime"])
        LOG.info("INITSYNC", 21192, "Initial sync done", {"optime": reply["optime"]})
        if self.state == STARTUP2:
            # ReplicationCoordinatorImpl::_startInitialSync's callback: STARTUP2 ->
            # RECOVERING, steady-state replication starts, and the applier makes the member
            # SECONDARY once it is consistent (finishRecoveryIfEligible). Only then does its
            # election timer run.
            self._set_state(RECOVERING)
            self._finish_recovery_if_eligible()
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

    # ================================================================ sync source side
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


def decode_raw(entry):
    if isinstance(entry, dict):
        return entry
    from bson import decode
    return decode(entry.raw)
