# -*- coding: utf-8 -*-
# Copyright: quorum.mongodb contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plan the reconfiguration of a live replica set into steps mongod accepts. Pure code.

A non-force ``replSetReconfig`` is refused unless (mongod 7.0/8.0):

* at most one voting member is added, removed or has its vote changed, counting
  only members already voting (new voters enter as ``newlyAdded`` and are not
  counted until they have caught up);
* the node receiving it, the primary, stays electable;
* ``buildIndexes`` and ``arbiterOnly`` of an existing member are unchanged (the
  member is removed, then added again);
* a set with a single writable voter (P-A, P-S[votes 0]-A) does not become a
  Primary-Secondary-Arbiter set with two electable members in one step;
* the implicit default write concern does not change unless a cluster-wide one
  was set;
* the whole config stays valid (at most 7 voters, 50 members, an electable member).

``plan()`` simulates the set step by step and returns every step; the module
executes only the first, reads the live config again and plans anew, so what the
server did in between (``newlyAdded`` removal, a new primary) is always taken
into account. In check mode the whole plan is what is reported.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from ansible_collections.quorum.mongodb.plugins.module_utils.replicaset_config import (
    ConfigError,
    MAX_MEMBERS,
    MAX_VOTERS,
    config_document,
    electable,
    full_member,
    implicit_write_concern_is_majority,
    majority,
    member_differences,
    settings_differences,
    validate_members,
    voters,
    writable_voters,
)

# Fields whose change needs a remove-then-re-add.
IMMUTABLE_FIELDS = ("arbiterOnly", "buildIndexes")
MAX_STEPS = 200


class PlanError(Exception):
    """The declared set cannot be reached safely from the live one; the message says why."""


class WriteConcernRuleError(PlanError):
    """A step would change the implicit default write concern (mongod refuses it)."""


def _unelectable_reasons(member):
    reasons = []
    if member["arbiterOnly"]:
        reasons.append("arbiter")
    if member["priority"] <= 0:
        reasons.append("priority 0")
    if not member["votes"]:
        reasons.append("votes 0")
    if member["hidden"]:
        reasons.append("hidden")
    if member["secondaryDelaySecs"]:
        reasons.append("delayed")
    if not member["buildIndexes"]:
        reasons.append("buildIndexes false")
    return reasons


def _may_be_primary(member):
    return not _unelectable_reasons(member)


class _State:
    """The simulated set: members (server spelling, defaults filled), settings, version, primary."""

    def __init__(self, config, primary, allow_multiple_arbiters=False):
        self.allow_multiple_arbiters = allow_multiple_arbiters
        self.name = config["_id"]
        self.version = int(config.get("version", 1))
        self.base = {k: v for k, v in config.items() if k not in ("members", "version", "term", "_id")}
        self.settings = dict(config.get("settings") or {})
        self.members = [full_member(m) for m in config["members"]]
        self.primary = primary.lower() if primary else None
        self.next_id = max([m["_id"] for m in self.members] + [-1]) + 1

    def by_host(self):
        return {m["host"].lower(): m for m in self.members}

    def document(self, members, settings):
        base = dict(self.base)
        base["settings"] = settings
        return config_document(self.name, self.version + 1, members, None, base)


def _targets(state, desired):
    """host -> desired member; and the hosts that must be removed then added again."""
    live = state.by_host()
    readd = []
    for member in desired:
        current = live.get(member["host"])
        if current is not None and any(current[f] != member[f] for f in IMMUTABLE_FIELDS):
            readd.append(member["host"])
    return {m["host"]: m for m in desired}, readd


def _is_done(state, desired, settings):
    live = state.by_host()
    if set(live) != {m["host"] for m in desired}:
        return False
    if any(member_differences(live[m["host"]], m) for m in desired):
        return False
    if any(m.get("newlyAdded") for m in state.members):
        return False
    return not settings_differences(state.settings, settings)


def _psa_guarded(members):
    """mongod refuses a PSA set with two electable nodes when it had a single writable voter."""
    return writable_voters(members) < majority(members)


def _primary_must_step_down(state, desired):
    if state.primary is None:
        return False
    wanted, readd = _targets(state, desired)
    current = state.by_host().get(state.primary)
    if current is None:
        return False
    target = wanted.get(state.primary)
    return target is None or state.primary in readd or not _may_be_primary(target)


def _next_reconfig(state, desired, settings, default_wc_set):
    """The members and reasons of the next reconfig, or None when only the primary is left to change.

    New arbiters wait for a later step when adding them now would change the
    implicit default write concern while the new data-bearing voters are still
    newlyAdded (growing P-S-S by a secondary and an arbiter, for example).
    """
    try:
        return _build_reconfig(state, desired, settings, default_wc_set, defer_arbiters=False)
    except WriteConcernRuleError:
        return _build_reconfig(state, desired, settings, default_wc_set, defer_arbiters=True)


def _build_reconfig(state, desired, settings, default_wc_set, defer_arbiters):
    wanted, readd = _targets(state, desired)
    old = state.members
    primary = state.primary
    guarded = _psa_guarded(old)
    reasons = []

    # Members that leave: gone from the declaration, or re-added for an immutable field.
    leaving = [m for m in old if m["host"] not in wanted or m["host"] in readd]
    leaving_voters = [m for m in leaving if m["votes"] and not m.get("newlyAdded")]
    leaving_free = [m for m in leaving if not (m["votes"] and not m.get("newlyAdded"))]

    # Existing members whose vote flips.
    flips = []
    for m in old:
        target = wanted.get(m["host"])
        if target is None or m["host"] in readd or m.get("newlyAdded"):
            continue
        if bool(m["votes"]) != bool(target["votes"]):
            flips.append(m)

    live_hosts = {m["host"] for m in old}
    additions = [m for m in desired if m["host"] not in live_hosts]

    def is_primary(member):
        return primary is not None and member["host"] == primary

    # The primary is changed last, after it has stepped down.
    primary_member = next((m for m in old if is_primary(m)), None)
    frozen = {primary_member["host"]} if primary_member and _primary_must_step_down(state, desired) else set()

    # One voting change at most. Room for the new voters decides whether a
    # voter leaves first.
    voting_now = len([m for m in old if m["votes"]])  # newlyAdded voters count once they catch up
    new_voters = [m for m in additions if m["votes"]]
    candidates_down = [m for m in leaving_voters + [f for f in flips if f["votes"]] if m["host"] not in frozen]
    candidates_up = [f for f in flips if not f["votes"]]
    change = None
    if candidates_down and (voting_now + len(new_voters) + len(candidates_up) > MAX_VOTERS or not candidates_up):
        change = candidates_down[0]
    elif candidates_up and voting_now < MAX_VOTERS:
        change = candidates_up[0]
    elif candidates_down:
        change = candidates_down[0]

    members = []
    for m in old:
        host = m["host"]
        if host in frozen:
            members.append(copy.deepcopy(m))
            continue
        if m in leaving:
            if m in leaving_free or m is change:
                reasons.append("remove %s" % host + (" (to add it again: %s changes)" % ", ".join(
                    f for f in IMMUTABLE_FIELDS if wanted[host][f] != m[f]) if host in readd else ""))
                continue
            # A voter that leaves later: it must not be elected meanwhile.
            new = copy.deepcopy(m)
            if new["priority"] != 0 and not is_primary(m):
                new["priority"] = 0
                reasons.append("set priority 0 on %s before it is removed" % host)
            members.append(new)
            continue
        target = wanted[host]
        new = copy.deepcopy(m)
        if m.get("newlyAdded"):
            members.append(new)
            continue
        votes_after = m["votes"]
        if m is change:
            votes_after = target["votes"]
        for field in ("hidden", "secondaryDelaySecs", "tags"):
            new[field] = copy.deepcopy(target[field])
        if "horizons" in target:
            new["horizons"] = copy.deepcopy(target["horizons"])
        new["votes"] = votes_after
        priority = target["priority"] if votes_after else 0
        if priority > 0 and m["priority"] == 0 and m is change:
            # Stage votes, then priority: mongod's PSA rule refuses both at once when the
            # set has a single writable voter, and staging is safe for every set.
            priority = 0
        new["priority"] = priority
        if new != m:
            changed = sorted(member_differences(m, new))
            reasons.append("%s: %s" % (host, ", ".join("%s %r -> %r" % (f, m.get(f), new.get(f)) for f in changed)))
        members.append(new)

    # New members, as many as fit.
    member_room = MAX_MEMBERS - len(members)
    voter_room = MAX_VOTERS - len([m for m in members if m["votes"]])
    next_id = state.next_id
    pending_data_voters = any(m["votes"] and not m["arbiterOnly"] for m in additions)
    for target in additions:
        if member_room <= 0:
            break
        if target["votes"] and voter_room <= 0:
            continue
        if target["arbiterOnly"]:
            # An arbiter votes from the moment it is added (it is never newlyAdded):
            # it is this step's one voting change, if that is still free.
            if change is not None or (defer_arbiters and pending_data_voters):
                continue
            change = target
        new = copy.deepcopy(target)
        new["_id"] = next_id
        next_id += 1
        members.append(new)
        member_room -= 1
        if target["votes"]:
            voter_room -= 1
        reasons.append("add %s%s" % (target["host"], " (arbiter)" if target["arbiterOnly"] else ""))

    if guarded and _psa_with_two_electable(_as_after_step(members, {m["_id"] for m in old})):
        # mongod refuses to turn a set with a single writable voter into a PSA set
        # whose secondary is electable: the secondary waits with priority 0.
        for m in members:
            if m["priority"] > 0 and not m["arbiterOnly"] and not is_primary(m):
                m["priority"] = 0
                reasons.append("keep priority 0 on %s for this step (PSA rule)" % m["host"])

    new_settings = dict(state.settings)
    new_settings.update(settings)
    if new_settings != state.settings:
        changes = sorted(settings_differences(state.settings, settings).items())
        shown = ["%s %r -> %r" % (key, live, wanted) for key, (live, wanted) in changes]
        reasons.append("settings: %s" % ", ".join(shown))
    if not reasons:
        return None, None, None
    _check_step(state, old, members, default_wc_set)
    state.next_id = next_id
    return members, new_settings, reasons


def _psa_with_two_electable(members):
    voting = [m for m in members if m["votes"] and not m.get("newlyAdded")]
    arbiters = [m for m in voting if m["arbiterOnly"]]
    electable_members = [m for m in members if electable(m) and m["votes"] and not m["hidden"]
                         and not m["secondaryDelaySecs"] and m["buildIndexes"]]
    return len(voting) == 3 and len(arbiters) == 1 and len(electable_members) > 1


def _as_after_step(members, old_ids):
    """What the server stores: new voters enter as newlyAdded."""
    out = []
    for given in members:
        m = copy.deepcopy(given)
        if m["_id"] not in old_ids and m["votes"] and not m["arbiterOnly"]:
            m["newlyAdded"] = True
        out.append(m)
    return out


def _check_step(state, old, members, default_wc_set):
    """Raise PlanError if mongod would refuse this step (a bug in the planner, or an impossible goal)."""
    stored = _as_after_step(members, {m["_id"] for m in old})
    try:
        validate_members(stored, "step %d of the plan" % (state.version + 1),
                         allow_multiple_arbiters=state.allow_multiple_arbiters)
    except ConfigError as exc:
        raise PlanError(str(exc)) from exc
    changed_voters = voters(old) ^ voters(stored)
    if len(changed_voters) > 1:
        raise PlanError("internal: a planned step changes %d voters" % len(changed_voters))
    if _psa_guarded(old) and _psa_with_two_electable(stored):
        raise PlanError("internal: a planned step breaks mongod's PSA rule")
    if not default_wc_set and implicit_write_concern_is_majority(old) != implicit_write_concern_is_majority(stored):
        raise WriteConcernRuleError(
            "reaching the declared members changes the set's implicit default write concern (arbiters with %d "
            "writable voting members make it %s), which mongod refuses until a cluster-wide default is set: run "
            "setDefaultRWConcern (for example {setDefaultRWConcern: 1, defaultWriteConcern: {w: 'majority'}}) "
            "on the primary first"
            % (writable_voters(stored), "w:1" if implicit_write_concern_is_majority(old) else "majority"))


def _simulate_catch_up(state):
    """The primary clears newlyAdded once new members are SECONDARY (an automatic reconfig)."""
    if any(m.get("newlyAdded") for m in state.members):
        for m in state.members:
            m.pop("newlyAdded", None)
        state.version += 1


def _elect(state, exclude):
    """Who a step-down leaves as primary in the simulation: the highest electable priority."""
    candidates = [m for m in state.members if m["host"] != exclude and electable(m) and _may_be_primary(m)]
    if not candidates:
        return None
    return sorted(candidates, key=lambda m: (-m["priority"], m["_id"]))[0]["host"]


def plan(config, desired, settings=None, primary=None, default_wc_set=False, allow_multiple_arbiters=False):
    """Steps from the live ``config`` (primary ``primary``) to the ``desired`` members and ``settings``.

    ``desired`` comes from replicaset_config.desired_members. Each step is a dict:
    ``{"action": "reconfig", "config": <document>, "reasons": [...]}`` or
    ``{"action": "step_down", "member": host, "reasons": [...]}``. An empty list means
    nothing to do. Raises PlanError when no safe path exists.
    """
    settings = settings or {}
    state = _State(config, primary, allow_multiple_arbiters)
    steps = []
    for _round in range(MAX_STEPS):
        _simulate_catch_up(state)
        if _is_done(state, desired, settings):
            return steps
        members, new_settings, reasons = _next_reconfig(state, desired, settings, default_wc_set)
        if members is None:
            # Only the primary is left to change: it steps down first.
            old_primary = state.primary
            if not _primary_must_step_down(state, desired):
                raise PlanError("internal: no step reaches the declared members from config version %d"
                                % state.version)
            successor = _elect(state, old_primary)
            if successor is None:
                raise PlanError("the primary %s must step down before it is removed or made unelectable, but no "
                                "other member could take over" % old_primary)
            steps.append({"action": "step_down", "member": old_primary,
                          "reasons": ["%s is primary and is removed or cannot be primary in the declared set"
                                      % old_primary]})
            state.primary = successor
            continue
        doc = state.document(members, new_settings)
        steps.append({"action": "reconfig", "config": doc, "reasons": reasons})
        state.members = _as_after_step(members, {m["_id"] for m in state.members})
        state.settings = new_settings
        state.version += 1
    raise PlanError("internal: no plan within %d steps" % MAX_STEPS)


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
