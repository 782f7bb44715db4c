"""The replication coordinator's pure decisions: given what a member knows (its
config, its own optimes, its MemberData for the others), what does it decide?
No asyncio, no clocks, no randomness, no I/O: the callers in the other modules
of this package read the clock and draw the random jitter and pass them in, so
tests/mongosim/tests/test_repl_decisions.py exercises these directly.

The rules are mongod's as SEMANTICS.md sections 7 and 8 describe them
(src db/repl/topology_coordinator.cpp, replication_coordinator_impl.cpp,
db/repl/README.md "Replication Internals").
"""

from .. import replconfig as rc
from ..storage import OpTime
from .states import DATA_STATES, PRIMARY, SECONDARY


# ---------------------------------------------------------------- elections
def election_deadline(candidate, single_node, now, stepdown_until, freeze_until, election_timeout, jitter):
    """When this node next stands for election (a monotonic time), or None for never.

    ``candidate``: it is an electable SECONDARY and not shutting down. A one-member
    set elects itself at once, once any step-down or freeze period is over
    (kActionStartSingleNodeElection / kSingleNodePromptElection,
    replication_coordinator_impl.cpp); ``single_node`` is rc.is_single_node_set, so a
    set whose only voter has non-voting company waits for the election timeout like any
    other: ``election_timeout`` plus ``jitter`` (a random offset the caller draws)."""
    if not candidate:
        return None
    if single_node:
        return max(now, stepdown_until, freeze_until)
    return now + election_timeout + jitter


def candidate_outranks(config, candidate_index, me):
    """The member at ``candidate_index`` has a higher (effective) priority than ``me``."""
    if candidate_index is None or not 0 <= candidate_index < len(config["members"]):
        return False
    candidate = config["members"][candidate_index]
    return rc.effective_priority(candidate) > rc.effective_priority(me)


def vote_refusal(config, me, my_index, my_term, my_applied, last_vote, writable_primary,
                 term, dry_run, set_name, candidate_index, candidate_vt, candidate_applied):
    """Why this member refuses a replSetRequestVotes, or None when it grants the vote.

    ``me``/``my_index``: this member's config entry and index; ``my_term``: its term after
    adopting the candidate's (a real vote adopts it first); ``last_vote``: the persisted
    {term, candidateIndex}; ``writable_primary``: it is a primary accepting writes. The
    candidate's fields are the request's: ``term``, ``dry_run``, ``set_name``,
    ``candidate_index``, ``candidate_vt`` (config version, term) and ``candidate_applied``."""
    if not rc.effective_votes(me):
        return "I am not a voting member"
    if term < my_term:
        return "candidate's term (%d) is lower than mine (%d)" % (term, my_term)
    if set_name != config["_id"]:
        return "candidate's set name (%s) differs from mine (%s)" % (set_name, config["_id"])
    if rc.is_newer(rc.version_term(config), candidate_vt):
        return "candidate's config with %s is older than mine with %s" % (
            rc.version_term_string(*candidate_vt), rc.version_term_string(*rc.version_term(config)))
    if not me["arbiterOnly"] and my_applied > candidate_applied:
        return "candidate's data is staler than mine. candidate's last applied OpTime: %s, my " \
               "last applied OpTime: %s" % (candidate_applied, my_applied)
    if not dry_run and last_vote.get("term") == term and last_vote.get("candidateIndex") != candidate_index:
        return "already voted for another candidate (%s) this term (%d)" % (last_vote.get("candidateIndex"), term)
    if dry_run and writable_primary and term <= my_term + 1 and candidate_index != my_index and \
            not candidate_outranks(config, candidate_index, me):
        return "I am the primary and the candidate has no higher priority"
    return None


def priority_takeover_wanted(me, primary, my_applied, primary_applied, freshness_window):
    """A secondary of higher priority than the primary ``primary`` takes over when its
    last applied optime is within ``freshness_window`` seconds of the primary's
    (priorityTakeoverFreshnessWindowSeconds)."""
    if rc.effective_priority(me) <= rc.effective_priority(primary):
        return False
    return primary_applied.seconds - my_applied.seconds <= freshness_window


def priority_takeover_delay(config, me, election_timeout, jitter):
    """How long a priority takeover waits: one election timeout more for every electable
    member of higher priority than ``me``, so the highest-priority one goes first; plus
    ``jitter``, the random offset the caller draws."""
    rank = sum(1 for m in config["members"]
               if rc.is_electable(m) and rc.effective_priority(m) > rc.effective_priority(me))
    return (rank + 1) * election_timeout + jitter


def caught_up_candidate(config, my_id, my_applied, members):
    """For a stepping-down primary: the best electable secondary that has our last applied
    optime (``my_applied``), if a write majority of voting data-bearing members (us
    included) have it too; else None. ``members``: member _id -> MemberData."""
    caught = 1
    best = None
    for m in config["members"]:
        if m["_id"] == my_id:
            continue
        data = members.get(m["_id"])
        if data is None or data.health != 1.0 or data.applied < my_applied:
            continue
        if rc.effective_votes(m) and not m["arbiterOnly"]:
            caught += 1
        if rc.is_electable(m) and data.state == SECONDARY:
            if best is None or rc.effective_priority(m) > rc.effective_priority(best):
                best = m
    if best is None or caught < rc.write_majority(config):
        return None
    return best


# ---------------------------------------------------------------- commit point and write concern
def majority_commit_point(config, my_id, my_durable, members, term, last_committed):
    """The commit point a primary in ``term`` advances to, or None when it does not move:
    the newest optime durable on a write majority of voting data-bearing members, provided
    it is in the primary's own term and newer than ``last_committed``."""
    durables = []
    for m in config["members"]:
        if not rc.effective_votes(m) or m["arbiterOnly"]:
            continue
        if m["_id"] == my_id:
            durables.append(my_durable)
        else:
            data = members.get(m["_id"])
            durables.append(data.durable if data is not None else OpTime())
    need = rc.write_majority(config)
    if len(durables) < need:
        return None
    durables.sort(reverse=True)
    candidate = durables[need - 1]
    if candidate.term == term and candidate > last_committed:
        return candidate
    return None


def write_concern_satisfied(config, my_id, my_applied, my_durable, members, last_committed, optime, w, j):
    """``optime`` satisfies write concern {w, j}: "majority" by the commit point; a number
    by that many data-bearing members having applied (j: made durable) it, this node's own
    journal included when j; a getLastErrorModes name by its tag counts."""
    if w == "majority":
        return last_committed >= optime
    reached = []
    for m in config["members"]:
        if m["arbiterOnly"]:
            continue
        if m["_id"] == my_id:
            mine = my_durable if j else my_applied
            if mine >= optime:
                reached.append(m)
            continue
        data = members.get(m["_id"])
        if data is None:
            continue
        if (data.durable if j else data.applied) >= optime:
            reached.append(m)
    if isinstance(w, str):
        spec = config["settings"]["getLastErrorModes"][w]
        for tag, count in spec.items():
            values = {m["tags"][tag] for m in reached if tag in m["tags"]}
            if len(values) < count:
                return False
        return True
    if j and my_durable < optime:
        return False
    return len(reached) >= int(w)


# ---------------------------------------------------------------- sync source
def choose_sync_source(config, me, my_applied, members, needs_initial_sync, chaining_allowed, denied=()):
    """The member to pull the oplog from, or None: the primary unless chaining is allowed
    and a secondary ahead of us is clearly (30 ms) closer; without a reachable primary, the
    closest non-hidden, non-delayed secondary (one ahead of us if there is one) when
    chaining is allowed. Candidates are up, PRIMARY or SECONDARY, build indexes if we do,
    are not behind us (unless we need an initial sync) and are not in ``denied``, the
    _ids of the members on our sync source denylist (TopologyCoordinator::
    _isEligibleSyncSource, _choosePrimaryAsSyncSource: a denylisted member, the primary
    included, is no candidate until its time is up). ``members``: _id -> MemberData."""
    candidates = []
    primary = None
    for m in config["members"]:
        if m["_id"] == me["_id"] or m["arbiterOnly"] or m["_id"] in denied:
            continue
        data = members.get(m["_id"])
        if data is None or data.health != 1.0 or data.state not in DATA_STATES:
            continue
        if me["buildIndexes"] and not m["buildIndexes"]:
            continue
        if data.state != PRIMARY and data.applied < my_applied and not needs_initial_sync:
            continue
        if data.state == PRIMARY:
            primary = m
        elif not m["hidden"] and m["secondaryDelaySecs"] == 0:
            candidates.append((data.ping_ms, m))
    if primary is not None:
        if not chaining_allowed or not candidates:
            return primary
        primary_ping = members[primary["_id"]].ping_ms
        best_ping, best = min(candidates, key=lambda c: c[0])
        # Chain only when a secondary is clearly closer than the primary.
        if best_ping + 30 < primary_ping and members[best["_id"]].applied > my_applied:
            return best
        return primary
    if not chaining_allowed:
        return None
    if candidates:
        ahead = [c for c in candidates if members[c[1]["_id"]].applied > my_applied] or candidates
        return min(ahead, key=lambda c: c[0])[1]
    return None
