"""The majority commit point and write concern (SEMANTICS.md section 8; src
db/repl/README.md): a primary computes the commit point from the members' durable
optimes, a secondary learns it from its sync source or heartbeats; secondaries report
their positions upstream with replSetUpdatePosition; writes wait for their write
concern. The position-to-commit-point and write-concern rules are in decisions.py.
"""

import asyncio
import time

from bson.int64 import Int64

from .. import replconfig as rc
from ..errors import CommandError
from ..netclient import PeerError
from ..storage import OpTime
from . import decisions
from .states import PRIMARY, utcnow


class CommitMixin:
    """Commit point, position reports and waiting for write concern."""

    def _init_commit(self):
        self.last_committed = OpTime()
        self._position_task = None
        self._position_dirty = False
        self._downstream_positions = {}   # member _id -> (position report, monotonic time received), relayed upstream
        self._last_position_report = 0.0  # monotonic time we last sent replSetUpdatePosition

    # ================================================================ commit point
    def _recompute_commit_point(self):
        if self.state != PRIMARY or self.config is None:
            return
        advanced = decisions.majority_commit_point(self.config, self.my_id, self.last_durable(), self.members,
                                                   self.term, self.last_committed)
        if advanced is not None:
            self.last_committed = advanced
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

    def on_local_durable(self):
        """Called after the journal flusher made more of our oplog durable."""
        if self.state == PRIMARY:
            self._recompute_commit_point()
        else:
            self._schedule_position_report()
        self.notify()

    # ================================================================ position reports
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
                data.up_since = data.up_since or utcnow()
            data.last_hb_mono = time.monotonic()
        if self.state != PRIMARY:
            # Relay what members downstream of us report, keep-alives included: the
            # primary's liveness check hears of them only through us.
            now = time.monotonic()
            for pos in positions:
                if pos.get("memberId") in self.members and \
                        pos.get("memberId") not in (self.my_id, self._sync_source_id, self.primary_id):
                    self._downstream_positions[pos["memberId"]] = (pos, now)
        if changed:
            if self.state == PRIMARY:
                self._recompute_commit_point()
            else:
                self._schedule_position_report()
            self.notify()

    @property
    def keep_alive_interval(self):
        """How often a secondary reports its position upstream even when it has not
        moved: half the election timeout, at most 30 s (sync_source_feedback.cpp
        calculateKeepAliveInterval), so the primary hears from it within every
        election timeout whatever the heartbeat interval."""
        return min(self.election_timeout / 2, 30.0)

    async def _keep_alive_loop(self):
        while not self._shutting_down:
            interval = self.keep_alive_interval
            await asyncio.sleep(max(0.05, interval - (time.monotonic() - self._last_position_report)))
            if self.state != PRIMARY and self._sync_source and self.config is not None and \
                    time.monotonic() - self._last_position_report >= interval:
                self._schedule_position_report()

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
            # Only members we have heard from within an election timeout: a relay must
            # not keep a dead member alive in the primary's eyes.
            fresh_after = time.monotonic() - self.election_timeout
            positions.extend(pos for pos, received in self._downstream_positions.values() if received >= fresh_after)
            self._last_position_report = time.monotonic()
            try:
                await self.server.peers.command(source, "position",
                                                {"replSetUpdatePosition": 1, "optimes": positions,
                                                 "term": Int64(self.term)}, 5.0)
            except (PeerError, CommandError):
                return

    # ================================================================ write concern
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
        return decisions.write_concern_satisfied(self.config, self.my_id, self.last_applied(), self.last_durable(),
                                                 self.members, self.last_committed, optime, w, j)
