"""Elections (protocol version 1, SEMANTICS.md section 7): the election timer,
whether this node may stand, priority takeover, the dry run and the real vote
(replSetRequestVotes both ways), becoming primary, and the commands that move the
primary by hand: replSetStepDown, replSetStepUp, replSetFreeze. The decisions
themselves (vote granting, takeover, the single-node rule, the step-down candidate)
are pure functions in decisions.py.
"""

import asyncio
import copy
import random
import time

from bson.int64 import Int64

from .. import replconfig as rc
from ..errors import CommandError
from ..log import LOG
from ..netclient import PeerError
from ..storage import OpTime
from . import decisions
from .states import PRIMARY, SECONDARY, election_id_for, utcnow, wall


class ElectionMixin:
    """Election timer, candidacy and voting, step-down, step-up, freeze."""

    def _init_elections(self):
        self.stepdown_until = 0.0         # monotonic times
        self.freeze_until = 0.0
        self._election_deadline = None
        self._election_running = False
        self._priority_takeover_at = None
        self._candidate_metrics = None
        self._participant_metrics = None
        self._last_vote = self.storage.local.get("lastVote", {"term": -1, "candidateIndex": -1})

    # ================================================================ election timer and eligibility
    def _election_jitter(self):
        """The random offset added to election timeouts (replElectionTimeoutOffsetLimitFraction)."""
        fraction = self.opts.parameters.get("replElectionTimeoutOffsetLimitFraction", 0.15)
        return random.uniform(0, fraction * self.election_timeout)

    def _reset_election_timer(self):
        me = self.self_member
        candidate = not self._shutting_down and self.state == SECONDARY and me is not None and rc.is_electable(me)
        self._election_deadline = decisions.election_deadline(
            candidate, rc.is_single_node_set(self.config, self.self_index), time.monotonic(),
            self.stepdown_until, self.freeze_until, self.election_timeout, self._election_jitter())

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
        if primary is None or self._unelectable_reason() is not None:
            return
        window = self.opts.parameters.get("priorityTakeoverFreshnessWindowSeconds", 2)
        if not decisions.priority_takeover_wanted(me, primary, self.last_applied(), primary_data.applied, window):
            return
        delay = decisions.priority_takeover_delay(self.config, me, self.election_timeout, self._election_jitter())
        self._priority_takeover_at = time.monotonic() + delay
        LOG.info("REPL", 21399, "Scheduling priority takeover", {"when": delay})

    # ================================================================ running for election
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

    async def _become_primary(self, reason):
        self.primary_id = self.my_id
        self._set_state(PRIMARY)
        self.writable = False
        self.election_id = election_id_for(self.term)
        LOG.info("ELECTION", 21450, "Election succeeded, assuming primary role",
                 {"term": self.term, "reason": reason})
        ts = self.server.next_timestamp()
        self.storage.append([{"op": "n", "ns": "", "o": {"msg": "new primary"}, "ts": ts, "t": Int64(self.term),
                              "v": Int64(2), "wall": wall()}])
        self.server.request_journal_flush()
        self.election_time = ts
        self.election_date = wall()
        self._candidate_metrics = {"lastElectionReason": reason.replace(" ", ""), "lastElectionDate": wall(),
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

    # ================================================================ voting
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
        why = decisions.vote_refusal(
            self.config, me, self.self_index, self.term, self.last_applied(), self._last_vote, self.can_accept_writes(),
            term, dry_run, cmd.get("setName"), cmd.get("candidateIndex"),
            (cmd.get("configVersion", -2), cmd.get("configTerm", -1)), OpTime.from_doc(cmd.get("lastAppliedOpTime")))
        granted = why is None
        if granted:
            why = ""
            if not dry_run:
                self._last_vote = {"term": term, "candidateIndex": cmd.get("candidateIndex")}
                self.storage.local["lastVote"] = self._last_vote
                self.storage.save_local()
                self._participant_metrics = {"votedForCandidate": True, "electionTerm": Int64(term),
                                             "lastVoteDate": utcnow(), "electionCandidateMemberId":
                                                 self.config["members"][cmd["candidateIndex"]]["_id"]
                                             if 0 <= cmd.get("candidateIndex", -1) < len(self.config["members"])
                                             else -1,
                                             "voteReason": "", "priorityAtElection": float(me["priority"])}
                self._reset_election_timer()
        reply.update({"voteGranted": granted, "reason": why})
        return reply

    # ================================================================ step-down, step-up, freeze
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
                                       "step down." % utcnow().isoformat())
                await self.wait_change(min(0.05, max(0.0, deadline - time.monotonic())))
        except BaseException:
            self.stepping_down = False
            self.topology_changed()
            raise
        self._step_down_now("Stepping down: %s" % reason, secs)
        if candidate is not None:
            asyncio.ensure_future(self._handoff(candidate))

    def _caught_up_candidate(self):
        return decisions.caught_up_candidate(self.config, self.my_id, self.last_applied(), self.members)

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
