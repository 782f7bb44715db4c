# -*- coding: utf-8 -*-
# Copyright: quorum.mongodb contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plan the reconfiguration of a live replica set into steps mongod accepts. Pure code.

Two parts, one file:

* **The rules of one step** (``step_problems``): why mongod would refuse to
  replace one config by another with a non-force ``replSetReconfig``, each rule
  written once, next to the mongod source it comes from.
* **The search** (``plan``): a shortest path, in reconfigs, from the live config
  to the declared one through configs that every rule accepts. Each member of the
  union of live and declared hosts is in one of a few states (absent; present
  with its live identity or re-added; voting or not; electable or not); a step
  moves at most one member across the voting line, any number of others by moves
  that are not voting changes, and the primary steps down when it has to. When no
  path exists, the error says which rule blocks and what would unblock it.

mongod's rules for a non-force reconfig (7.0/8.0; tests/mongosim/SEMANTICS.md has
them with their sources):

* the whole config is valid (1 to 50 members, 1 to 7 voters, an electable member,
  the couplings; replicaset_config.validate_members);
* a member keeps its ``_id`` and its ``arbiterOnly``/``buildIndexes``: changing
  those is remove, then add again (repl_set_config_checks.cpp,
  validateOldAndNewConfigsCompatible);
* at most one voting member is added or removed, counting members that vote
  now (new data-bearing voters enter as ``newlyAdded`` and do not count until the
  primary clears the flag; an arbiter votes at once) (validateSingleNodeChange);
* the PSA rule: when the old config has fewer writable voters than its majority
  (voters counted with ``newlyAdded`` ones), the new config may not be three
  members, two of them data-bearing, with more than one member of priority > 0
  as sent (validateOldAndNewConfigsCompatible);
* the implicit default write concern does not change unless a cluster-wide one
  is set (replication_coordinator_impl.cpp, _doReplSetReconfig); the same check
  runs for the primary's automatic reconfig that clears each member's
  ``newlyAdded`` flag, one member at a time (_reconfigToRemoveNewlyAddedField),
  so a member whose vote would flip it stays without a vote for good;
* the primary that receives it stays electable (NodeNotElectable), so it steps
  down before it is removed or made unelectable.

The module executes only the first step, reads the live config again and plans
anew, so what the server did in between (``newlyAdded`` cleared, a new primary)
is always taken into account. In check mode the whole plan is what is reported.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import heapq
import itertools

from ansible_collections.quorum.mongodb.plugins.module_utils.replicaset_config import (
    MAX_VOTERS,
    ConfigError,
    config_document,
    full_member,
    member_differences,
    settings_differences,
    validate_members,
)

# Fields whose change needs a remove-then-re-add.
IMMUTABLE_FIELDS = ("arbiterOnly", "buildIndexes")
# Up to this many hosts (live and declared together) the search also tries voting changes that lead away
# from the declaration for a while; beyond, only those the declaration asks for.
EXHAUSTIVE_HOSTS = 5
# How many search nodes one plan may expand before it gives up (a bug, or a set far
# larger than mongod allows): real plans expand a few dozen.
MAX_EXPANSIONS = 5000

RULE_CONFIG = "config"
RULE_IMMUTABLE = "immutable"
RULE_ONE_VOTE = "one-voting-change"
RULE_PSA = "psa"
RULE_WRITE_CONCERN = "implicit-write-concern"
RULE_ELECTABLE = "primary-electable"


class PlanError(Exception):
    """The declared set cannot be reached safely from the live one; the message says why."""


class WriteConcernRuleError(PlanError):
    """Every path changes the implicit default write concern (mongod refuses it without a cluster-wide one)."""


# -- the rules of one step ---------------------------------------------------


def _counted_voters(members):
    """Members that vote now: ``newlyAdded`` ones do not (member_config.h, isVoter)."""
    return {m["host"] for m in members if m["votes"] and not m.get("newlyAdded")}


def _implicit_majority_counts(voters, arbiters):
    """repl_set_config.cpp isImplicitDefaultWriteConcernMajority, from the counts of voters and voting arbiters."""
    return arbiters == 0 or voters - arbiters > voters // 2 + 1


def implicit_majority(members):
    """Whether the implicit default write concern of ``members`` (stored form) is w:majority (else w:1)."""
    voting = _counted_voters(members)
    arbiters = len([m for m in members if m["arbiterOnly"] and m["host"] in voting])
    return _implicit_majority_counts(len(voting), arbiters)


def stored(old, new):
    """``new`` as mongod stores it after ``old``: a data-bearing voter that is new gets ``newlyAdded``,
    a member that had the flag keeps it (processReplSetReconfig)."""
    before = {m["host"]: m for m in old}
    out = []
    for given in new:
        member = dict(given)
        member.pop("newlyAdded", None)
        previous = before.get(member["host"])
        if previous is not None and previous["_id"] == member["_id"]:
            if previous.get("newlyAdded"):
                member["newlyAdded"] = True
        elif member["votes"] and not member["arbiterOnly"]:
            member["newlyAdded"] = True
        out.append(member)
    return out


def step_problems(old, new, primary, default_wc_set=False, allow_multiple_arbiters=False, skip=()):
    """Why mongod refuses replacing ``old`` by ``new`` (both stored form, see ``stored``): a list of
    ``(rule, member, message)``; empty when it accepts. ``skip`` names rules to leave out (diagnosis)."""
    problems = []
    if RULE_CONFIG not in skip:
        problems.extend(config_problems(new, allow_multiple_arbiters))
    before = {m["host"]: m for m in old}
    for member in new:
        previous = before.get(member["host"])
        if previous is None:
            continue
        if previous["_id"] != member["_id"]:
            problems.append((RULE_IMMUTABLE, member["host"], "%s keeps its _id %s" % (member["host"], previous["_id"])))
        for field in IMMUTABLE_FIELDS:
            if previous[field] != member[field]:
                problems.append((RULE_IMMUTABLE, member["host"],
                                 "%s: %s cannot change in place; the member is removed, then added again"
                                 % (member["host"], field)))
    if RULE_ONE_VOTE not in skip:
        changed = _counted_voters(old) ^ _counted_voters(new)
        if len(changed) > 1:
            problems.append((RULE_ONE_VOTE, None, "one step may add or remove at most one voting member, this one "
                             "changes %s" % ", ".join(sorted(changed))))
    if RULE_PSA not in skip:
        base_voters = len([m for m in old if m["votes"]])
        writable = base_voters - len([m for m in old if m["arbiterOnly"]])
        data_bearing = len([m for m in new if not m["arbiterOnly"]])
        electable_new = [m["host"] for m in new if m["priority"] > 0]
        if base_voters // 2 + 1 > writable and len(new) == 3 and data_bearing == 2 and len(electable_new) > 1:
            problems.append((RULE_PSA, None, "mongod's PSA rule: from a set with a single writable voter, a "
                             "primary-secondary-arbiter set may not get a second electable member (%s) in the same "
                             "step" % ", ".join(electable_new)))
    if RULE_WRITE_CONCERN not in skip and not default_wc_set:
        if implicit_majority(old) != implicit_majority(new) or not _flags_can_clear(new):
            problems.append((RULE_WRITE_CONCERN, None, "the implicit default write concern would change"))
    if RULE_ELECTABLE not in skip:
        receiver = next((m for m in new if m["host"] == primary), None)
        if receiver is None or receiver["arbiterOnly"] or receiver["priority"] <= 0 or receiver.get("newlyAdded"):
            problems.append((RULE_ELECTABLE, primary, "the primary %s must stay electable" % primary))
    return problems


def config_problems(new, allow_multiple_arbiters=False):
    """The whole-config rules (the rule book's validate_members), on ``new`` as stored and once its new voters
    count (the cap of 7 voters holds then too, or the primary could never clear their flags)."""
    for shape in (new, caught_up(new)) if any(m.get("newlyAdded") for m in new) else (new,):
        try:
            validate_members(shape, "the config", allow_multiple_arbiters=allow_multiple_arbiters)
        except ConfigError as exc:
            return [(RULE_CONFIG, None, str(exc))]
    return []


def _flags_can_clear(members):
    """Whether the primary can clear every ``newlyAdded`` flag, one member at a time, without changing the
    implicit default write concern (each clearing is a reconfig that the same check applies to)."""
    pending = len([m for m in members if m.get("newlyAdded") and m["votes"]])
    if not pending:
        return True
    voting = _counted_voters(members)
    arbiters = len([m for m in members if m["arbiterOnly"] and m["host"] in voting])
    start = _implicit_majority_counts(len(voting), arbiters)
    return all(_implicit_majority_counts(len(voting) + n, arbiters) == start for n in range(1, pending + 1))


def caught_up(members):
    """The config once the primary has cleared every ``newlyAdded`` flag."""
    out = []
    for given in members:
        member = dict(given)
        member.pop("newlyAdded", None)
        out.append(member)
    return out


def successor(members, leaving):
    """Who a step-down of ``leaving`` leaves as primary: the electable voter of highest priority (then the lowest
    _id), the member that priority takeover makes primary in the end."""
    candidates = [m for m in members if m["host"] != leaving and m["votes"] and not m.get("newlyAdded")
                  and not m["arbiterOnly"] and m["priority"] > 0]
    if not candidates:
        return None
    return sorted(candidates, key=lambda m: (-m["priority"], m["_id"]))[0]["host"]


# -- the search --------------------------------------------------------------
#
# A member's state in the search: ABSENT, or (identity, votes, electable) where
# identity is LIVE (the member as the live config has it, same _id) or NEW (added
# by the plan: a fresh _id, arbiterOnly/buildIndexes as declared).

ABSENT = ("absent",)
LIVE = "live"
NEW = "new"


class _Universe:
    """Every host of the live config or the declaration, and what each may become."""

    def __init__(self, config, desired, settings, allow_multiple_arbiters):
        live = [full_member(m) for m in config["members"]]
        for member in live:
            member["host"] = member["host"].lower()
        self.live_members = live
        self.live = {m["host"]: m for m in live}
        self.target = {m["host"]: m for m in desired}
        order = [m["host"] for m in live] + [m["host"] for m in desired if m["host"] not in self.live]
        self.hosts = order
        self.settings = dict(config.get("settings") or {})
        self.wanted_settings = dict(settings or {})
        self.allow_multiple_arbiters = allow_multiple_arbiters
        self.new_ids = {}
        next_id = max([m["_id"] for m in live] + [-1]) + 1
        for host in order:
            if host in self.target:
                self.new_ids[host] = next_id
                next_id += 1
        self.states = {host: self._states(host) for host in order}
        self.goals = {host: self._goals(host) for host in order}
        self._members = {}
        self._free = {}
        self._flips = {}

    def compatible(self, host):
        live, target = self.live.get(host), self.target.get(host)
        return live is not None and target is not None and all(live[f] == target[f] for f in IMMUTABLE_FIELDS)

    def _states(self, host):
        out = [ABSENT]
        for identity, base in ((LIVE, self.live.get(host)), (NEW, self.target.get(host))):
            if base is None:
                continue
            if base["arbiterOnly"]:
                out.append((identity, 1, 0))
                continue
            out.extend([(identity, 0, 0), (identity, 1, 0)])
            if base["buildIndexes"]:
                out.append((identity, 1, 1))
        return out

    def _goals(self, host):
        target = self.target.get(host)
        if target is None:
            return (ABSENT,)
        shape = (target["votes"], 1 if target["priority"] > 0 else 0)
        goals = [(NEW,) + shape]
        if self.compatible(host):
            goals.insert(0, (LIVE,) + shape)
        return tuple(goals)

    def member(self, host, state):
        """The member document (no ``newlyAdded``) of ``host`` in ``state``; None when absent. Shared: do not
        change it."""
        key = (host, state)
        if key not in self._members:
            self._members[key] = self._member(host, state)
        return self._members[key]

    def _member(self, host, state):
        if state == ABSENT:
            return None
        identity, votes, electable = state
        live, target = self.live.get(host), self.target.get(host)
        if state in self.goals[host]:
            member = copy.deepcopy(target)
        else:
            base = live if identity == LIVE else target
            member = copy.deepcopy(base)
            if target is not None and (identity == NEW or self.compatible(host)):
                # Fields no rule looks at go to their declared values at once.
                member["tags"] = dict(target["tags"])
                if "horizons" in target:
                    member["horizons"] = dict(target["horizons"])
                if not electable:
                    member["hidden"] = target["hidden"]
                    member["secondaryDelaySecs"] = target["secondaryDelaySecs"]
            member["votes"] = votes
            if electable:
                if target is not None and target["priority"] > 0 and (identity == NEW or self.compatible(host)):
                    member["priority"] = target["priority"]
                elif live is not None and identity == LIVE and live["priority"] > 0:
                    member["priority"] = live["priority"]
                else:
                    member["priority"] = 1
                member["hidden"] = False
                member["secondaryDelaySecs"] = 0
            else:
                member["priority"] = 0
        member["_id"] = live["_id"] if identity == LIVE else self.new_ids[host]
        return member

    def free_move(self, host, state, staged, add_voters, is_primary):
        key = (host, state, staged, add_voters, is_primary)
        if key not in self._free:
            self._free[key] = _free_move(self, host, state, staged, add_voters, is_primary)
        return self._free[key]

    def flips(self, host, state, newly_added):
        """The voting changes ``host`` may make from ``state`` in one step."""
        key = (host, state, newly_added)
        if key not in self._flips:
            self._flips[key] = [c for c in _moves(self, host, state) if _is_flip(self, host, state, c, newly_added)
                                and (len(self.hosts) <= EXHAUSTIVE_HOSTS or _toward(self, host, state, c))]
        return self._flips[key]

    def live_state(self, host):
        member = self.live[host]
        return (LIVE, 1 if member["votes"] else 0, 1 if member["votes"] and member["priority"] > 0
                and not member["arbiterOnly"] else 0)


def _moves(universe, host, state):
    """States ``host`` can be in after one step from ``state`` (itself excluded)."""
    out = []
    for candidate in universe.states[host]:
        if candidate == state:
            continue
        if ABSENT not in (state, candidate) and candidate[0] != state[0]:
            continue  # another identity: through ABSENT only
        if state == ABSENT and candidate != ABSENT and candidate[0] == LIVE:
            continue  # a removed member comes back as a new one
        out.append(candidate)
    return out


def _votes_now(state, newly_added):
    return state != ABSENT and state[1] == 1 and not newly_added


def _is_flip(universe, host, state, candidate, newly_added):
    """Whether moving ``host`` from ``state`` to ``candidate`` changes the set of counted voters."""
    before = _votes_now(state, newly_added)
    if candidate == ABSENT:
        return before
    if state == ABSENT or candidate[0] != state[0]:
        arbiter = universe.target[host]["arbiterOnly"]
        return candidate[1] == 1 and arbiter  # a new data-bearing voter enters as newlyAdded
    return before != (candidate[1] == 1)


def _toward(universe, host, candidate_from, candidate):
    """Whether a voting change of ``host`` is one its declared state asks for (not a temporary detour)."""
    goals = universe.goals[host]
    if candidate in goals:
        return True
    if candidate == ABSENT:
        return candidate_from != ABSENT and candidate_from[0] == LIVE and not universe.compatible(host)
    return any(goal != ABSENT and goal[0] == candidate[0] and goal[1] == candidate[1] for goal in goals)


def _enters_as_voter(state, candidate):
    return state == ABSENT and candidate != ABSENT and candidate[1] == 1


def _free_move(universe, host, state, staged, add_voters, is_primary):
    """The move toward the declaration that needs no vote to change, or None."""
    goals = universe.goals[host]
    if state in goals and staged != "helper":
        return None
    options = [c for c in _moves(universe, host, state) if not _is_flip(universe, host, state, c, False)]
    if is_primary:
        options = [c for c in options if c != ABSENT and c[2] == 1]
    if not add_voters:
        options = [c for c in options if not _enters_as_voter(state, c)]
    if staged == "helper":
        # Electable for now: a new data-bearing voter, or a passive voter that stays or leaves later.
        helpers = [c for c in options if c != ABSENT and c[2] == 1 and (
            _enters_as_voter(state, c) or (state != ABSENT and c[0] == state[0] and c[1] == state[1] == 1))]
        if helpers:
            return helpers[0]
        if state in goals:
            return None
        staged = False
    if staged == "readd":
        goal = goals[0]
        if state != ABSENT and state[0] == LIVE and state[1] == 0 and goal != ABSENT and goal[1] == 1 \
                and ABSENT in options:
            return ABSENT
        staged = False
    if staged:
        options = [c for c in options if c == ABSENT or c[2] == 0]
    for goal in goals:
        if goal in options:
            return goal
    # Progress short of the goal: a voter that leaves or stops being electable gets priority 0; a
    # member to be re-added leaves; a new electable voter enters with priority 0 (staged).
    for option in options:
        if option == ABSENT and state != ABSENT and state[0] == LIVE and not universe.compatible(host):
            return option
        if option == ABSENT and state != ABSENT and state[0] == NEW and goals == (ABSENT,):
            return option
        if ABSENT not in (state, option) and option[0] == state[0] and option[1] == state[1] \
                and option[2] == 0 and all(goal == ABSENT or goal[2] == 0 for goal in goals):
            return option
        if state == ABSENT and option != ABSENT and option[2] == 0 and any(
                goal != ABSENT and goal[0] == NEW and goal[1] == option[1] for goal in goals):
            return option
    return None


# Free moves of the members other than the one voting change, by policy: (staged, new voters), where staged
# keeps every member that would become electable at priority 0 for this step, and new voters is "all" (every
# new data-bearing voter enters now, as newlyAdded), "fill" (as many as the cap of 7 voters leaves room for,
# in declared order) or "none".
POLICIES = tuple((staged, voters) for voters in ("all", "fill", "none") for staged in (False, True)) + (
    # New data-bearing voters enter electable even where declared with priority 0: one of them can take
    # over from a primary that must step down, and gets its declared priority later.
    ("helper", "all"),
    # A non-voter that is to vote leaves now and comes back as a new member (entering as newlyAdded, so
    # without a voting change of its own).
    ("readd", "all"),
)


def _fill(states, nxt):
    """Keep only as many entering voters in ``nxt`` as the cap of voters leaves room for, in order."""
    entering = [i for i, (before, after) in enumerate(zip(states, nxt)) if _enters_as_voter(before, after)]
    staying = len([i for i, after in enumerate(nxt) if after != ABSENT and after[1] == 1 and i not in entering])
    for index in entering[max(0, MAX_VOTERS - staying):]:
        nxt[index] = ABSENT


class _Search:
    def __init__(self, config, desired, settings, primary, default_wc_set, allow_multiple_arbiters, skip=()):
        self.universe = _Universe(config, desired, settings, allow_multiple_arbiters)
        self.name = config["_id"]
        self.version = int(config.get("version", 1))
        self.base = {k: v for k, v in config.items() if k not in ("members", "version", "term", "_id")}
        self.primary = primary.lower() if primary else None
        self.default_wc_set = default_wc_set
        self.skip = tuple(skip)
        self.refusals = {}
        self.valid = {}

    def _members(self, states):
        out = []
        for host, state in zip(self.universe.hosts, states):
            member = self.universe.member(host, state)
            if member is not None:
                out.append(member)
        return out

    def _done(self, states, dirty):
        return not dirty and all(state in self.universe.goals[h] for h, state in zip(self.universe.hosts, states))

    def _successors(self, states, members, primary, dirty):
        """Candidate next states: at most one voting change, the others' free moves by each policy."""
        universe = self.universe
        flags = {m["host"] for m in members if m.get("newlyAdded")}
        flips = [None]
        for index, (host, state) in enumerate(zip(universe.hosts, states)):
            for candidate in universe.flips(host, state, host in flags):
                flips.append((index, candidate))
        seen = set()
        if dirty:
            # Only fields no rule looks at, or settings, differ: one reconfig with every member as declared.
            seen.add(tuple(states))
            yield tuple(states)
        for flip in flips:
            for staged, voters in POLICIES + ((None, None),):
                nxt = list(states)
                for index, (host, state) in enumerate(zip(universe.hosts, states)):
                    if flip is not None and index == flip[0]:
                        nxt[index] = flip[1]
                    elif staged is not None:
                        move = universe.free_move(host, state, staged, voters != "none", host == primary)
                        if move is not None:
                            nxt[index] = move
                if voters == "fill":
                    _fill(states, nxt)
                key = tuple(nxt)
                if key != tuple(states) and key not in seen:
                    seen.add(key)
                    yield key

    def _accept(self, old, states, primary):
        new = stored(old, self._members(states))
        problems = step_problems(old, new, primary, self.default_wc_set, self.universe.allow_multiple_arbiters,
                                 self.skip + (RULE_CONFIG,))
        if RULE_CONFIG not in self.skip:
            key = (states, tuple(m.get("newlyAdded", False) for m in new))
            if key not in self.valid:
                self.valid[key] = config_problems(new, self.universe.allow_multiple_arbiters)
            problems.extend(self.valid[key])
        for rule, member, message in problems:
            self.refusals.setdefault(rule, (member, message))
        return None if problems else new

    def run(self):
        universe = self.universe
        if not self.default_wc_set and RULE_WRITE_CONCERN not in self.skip and implicit_majority(
                caught_up(universe.live_members)) != implicit_majority(list(universe.target.values())):
            # Every step keeps the implicit default write concern, so no path can change it.
            self.refusals.setdefault(RULE_WRITE_CONCERN, (None, "the implicit default write concern would change"))
            return None
        start = tuple(universe.live_state(h) if h in universe.live else ABSENT for h in universe.hosts)
        live_members = [dict(m) for m in universe.live_members]
        dirty = bool(settings_differences(universe.settings, universe.wanted_settings)) or any(
            h in universe.target and member_differences(universe.live[h], universe.target[h])
            for h in universe.live)
        counter = itertools.count()
        # node: (states, primary, dirty); cost: (reconfigs, step-downs)
        frontier = [(self._priority(0, 0, start), next(counter), start, self.primary, dirty, live_members, None)]
        best = {}
        parents = {}
        expansions = 0
        while frontier:
            (_f, neg_reconfigs, stepdowns), _tie, states, primary, dirty, members, parent = heapq.heappop(frontier)
            cost = (-neg_reconfigs, stepdowns)
            key = (states, primary, dirty)
            if key in best:
                continue
            best[key] = cost
            parents[key] = parent
            if self._done(states, dirty):
                return self._path(key, parents)
            expansions += 1
            if expansions > MAX_EXPANSIONS:
                raise PlanError("internal: no plan after searching %d configs" % MAX_EXPANSIONS)
            for nxt in self._successors(states, members, primary, dirty):
                accepted = self._accept(members, nxt, primary)
                if accepted is None:
                    continue
                after = caught_up(accepted)
                node = (nxt, primary, False)
                if node not in best:
                    heapq.heappush(frontier, (self._priority(cost[0] + 1, cost[1], nxt), next(counter), nxt, primary,
                                              False, after, ("reconfig", key, members, accepted)))
            if primary is not None and self._must_step_down(states, primary):
                heir = successor(members, primary)
                if heir is not None:
                    node = (states, heir, dirty)
                    if node not in best:
                        heapq.heappush(frontier, (self._priority(cost[0], cost[1] + 1, states), next(counter), states,
                                                  heir, dirty, members, ("step_down", key, primary, heir)))
                else:
                    self.refusals.setdefault("no-successor", (primary, "no other member could take over"))
        return None

    def _estimate(self, states):
        """A lower bound of the reconfigs left (A*'s heuristic, never more than the truth): a member that
        votes now and must stop (to leave, to stop voting, or to come back as a new member) needs a step of
        its own, and so does an arbiter to be added; one step at least while anything differs. A non-voter
        that is to vote may be removed and added again (entering as newlyAdded), so it is not counted."""
        flips = 0
        pending = False
        for host, state in zip(self.universe.hosts, states):
            goals = self.universe.goals[host]
            if state in goals:
                continue
            pending = True
            goal = goals[0]
            voting = state != ABSENT and state[1] == 1
            wants_vote = goal != ABSENT and goal[1] == 1
            arbiter = goal != ABSENT and self.universe.target[host]["arbiterOnly"]
            if voting and (not wants_vote or (state[0] == LIVE and not self.universe.compatible(host))):
                flips += 1
            elif arbiter and state == ABSENT:
                flips += 1
        return max(flips, 1 if pending else 0)

    def _priority(self, reconfigs, stepdowns, states):
        # A*: fewest reconfigs (bound included) first, then the deepest node, then fewest step-downs.
        return (reconfigs + self._estimate(states), -reconfigs, stepdowns)

    def _must_step_down(self, states, primary):
        index = self.universe.hosts.index(primary) if primary in self.universe.hosts else None
        if index is None:
            return False
        goals = self.universe.goals[primary]
        state = states[index]
        return not any(goal != ABSENT and goal[0] == state[0] and goal[2] == 1 for goal in goals)

    def _path(self, key, parents):
        moves = []
        while parents.get(key) is not None:
            move = parents[key]
            moves.append(move)
            key = move[1]
        moves.reverse()
        steps = []
        version = self.version
        settings = dict(self.universe.settings)
        settings.update(self.universe.wanted_settings)
        for move in moves:
            if move[0] == "step_down":
                steps.append({"action": "step_down", "member": move[2],
                              "reasons": ["%s is primary and is removed or cannot be primary in the declared set; "
                                          "%s is expected to take over" % (move[2], move[3])]})
                continue
            _kind, _key, old, new = move
            base = dict(self.base)
            base["settings"] = settings
            version += 1
            document = config_document(self.name, version, new, None, base)
            steps.append({"action": "reconfig", "config": document,
                          "reasons": _reasons(old, new, self.universe.settings, self.universe.wanted_settings,
                                              first=not any(s["action"] == "reconfig" for s in steps))})
            if any(m.get("newlyAdded") for m in new):
                version += len([m for m in new if m.get("newlyAdded")])  # the primary's automatic reconfigs
        return steps


def _reasons(old, new, live_settings, wanted_settings, first):
    reasons = []
    before = {m["host"]: m for m in old}
    after = {m["host"]: m for m in new}
    for host in before:
        if host not in after:
            reasons.append("remove %s" % host)
    for host, member in after.items():
        previous = before.get(host)
        if previous is None:
            extra = " (arbiter)" if member["arbiterOnly"] else ""
            reasons.append("add %s%s" % (host, extra))
            continue
        changed = sorted(member_differences(previous, member))
        if changed:
            shown = ["%s %r -> %r" % (f, previous.get(f), member.get(f)) for f in changed]
            reasons.append("%s: %s" % (host, ", ".join(shown)))
    if first:
        changes = sorted(settings_differences(live_settings, wanted_settings).items())
        if changes:
            reasons.append("settings: %s" % ", ".join("%s %r -> %r" % (k, a, b) for k, (a, b) in changes))
    return reasons or ["no change"]


def plan(config, desired, settings=None, primary=None, default_wc_set=False, allow_multiple_arbiters=False):
    """Steps from the live ``config`` (primary ``primary``) to the ``desired`` members and ``settings``.

    ``desired`` comes from replicaset_config.desired_members. Each step is a dict:
    ``{"action": "reconfig", "config": <document>, "reasons": [...]}`` or
    ``{"action": "step_down", "member": host, "reasons": [...]}``. An empty list means
    nothing to do. The steps are a shortest sequence (fewest reconfigs, then fewest
    step-downs) of which mongod accepts every one. Raises PlanError, naming the rule
    that blocks, when no such sequence exists.
    """
    args = (config, desired, settings or {}, primary, default_wc_set, allow_multiple_arbiters)
    search = _Search(*args)
    steps = search.run()
    if steps is not None:
        return steps
    raise _explain(search, args)


def find_path(config, desired, settings=None, primary=None, default_wc_set=False, allow_multiple_arbiters=False):
    """The steps ``plan`` returns, or None where it would raise (without working out why)."""
    return _Search(config, desired, settings or {}, primary, default_wc_set, allow_multiple_arbiters).run()


def _explain(search, args):
    """The PlanError for a declaration no path reaches: the rule that blocks, and what would unblock it."""
    config, desired, settings, primary, default_wc_set, allow_multiple_arbiters = args
    live = [full_member(m) for m in config["members"]]
    if not default_wc_set:
        relaxed = _Search(config, desired, settings, primary, True, allow_multiple_arbiters).run()
        if relaxed is not None:
            return WriteConcernRuleError(_write_concern_message(live, desired))
    for rule, advice in ((RULE_PSA, "give the new secondary priority 0 first, or add another data-bearing voter"),
                         (RULE_ONE_VOTE, "add a temporary voting member")):
        relaxed = _Search(config, desired, settings, primary, True, allow_multiple_arbiters, skip=(rule,)).run()
        if relaxed is not None:
            member, message = search.refusals.get(rule, (None, rule))
            return PlanError("no sequence of reconfigs that mongod accepts reaches the declared members: %s; to "
                             "unblock it, %s" % (message, advice))
    if "no-successor" in search.refusals:
        member, _message = search.refusals["no-successor"]
        return PlanError("the primary %s must step down before it is removed or made unelectable, but no other member "
                         "could take over: declare another electable voting member first" % member)
    shown = "; ".join(message for _member, message in search.refusals.values()) or "no step is possible"
    return PlanError("no sequence of reconfigs that mongod accepts reaches the declared members (%s). If the set has "
                     "lost its majority, force: true reconfigures from a surviving member" % shown)


def _write_concern_message(live, desired):
    def describe(members):
        voting = [m for m in members if m["votes"]]
        arbiters = [m["host"] for m in voting if m["arbiterOnly"]]
        writable = len(voting) - len(arbiters)
        wc = "w:majority" if implicit_majority(members) else "w:1"
        if arbiters:
            names = ", ".join(arbiters)
            return "%s (%d voters, %d of them data-bearing, arbiter %s)" % (wc, len(voting), writable, names)
        return "%s (no arbiter)" % wc
    return ("reaching the declared members changes the set's implicit default write concern from %s to %s, or "
            "passes through a config that does, which mongod refuses until a cluster-wide default write concern is "
            "set (setDefaultRWConcern): set default_write_concern (replicaset_default_write_concern in the role), "
            "for example {w: majority}, and run again" % (describe(live), describe(desired)))


def initial_config(name, desired, settings=None):
    """The replSetInitiate document: every declared member at once, _id in declared order."""
    members = []
    for index, given in enumerate(desired):
        member = copy.deepcopy(given)
        member["_id"] = index
        members.append(member)
    return config_document(name, 1, members, settings or {})


def forced_config(config, desired, settings=None):
    """The document of a force reconfig from a surviving member's ``config`` to ``desired``."""
    live = {m["host"].lower(): full_member(m) for m in config["members"]}
    next_id = max([m["_id"] for m in live.values()] + [-1]) + 1
    members = []
    for given in desired:
        member = copy.deepcopy(given)
        current = live.get(member["host"])
        if current is not None and all(current[f] == member[f] for f in IMMUTABLE_FIELDS):
            member["_id"] = current["_id"]
        else:
            member["_id"] = next_id
            next_id += 1
        members.append(member)
    base = {k: v for k, v in config.items() if k not in ("members", "version", "term", "_id")}
    base["settings"] = dict(config.get("settings") or {})
    return config_document(config["_id"], int(config.get("version", 1)) + 1, members, settings or {}, base)
