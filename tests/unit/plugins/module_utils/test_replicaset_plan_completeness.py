"""The planner finds a path exactly when one exists, and a shortest one.

Exhaustively, over a small universe: a few member slots, each absent or one member
kind; every live set (with every choice of primary) against every declaration, with
and without a cluster-wide default write concern. The reference is a brute-force
search over the independent model of mongod (mongod_model.ServerModel): from each
live set it tries every config of the universe as the next reconfig, and every
step-down, and finds the fewest reconfigs to each declaration. For every pair the
planner must agree on reachability, plan the same number of reconfigs, and every
planned step must be accepted by the model, the last one reaching the declaration.

``make test`` runs three slots with the five kinds that differ in mongod's rules; the
larger universe (QUORUM_PLAN_UNIVERSE=large: the hidden and the hidden delayed kinds
too, whose differences are fields no rule reads) runs from ``make bench``
(tests/bench/bench_planner.py), which prints its pairs and any mismatch.
"""

import collections
import copy
import itertools
import os

import pytest

from ansible_collections.quorum.mongodb.plugins.module_utils.replicaset_config import (
    ConfigError,
    config_matches,
    desired_members,
)
from ansible_collections.quorum.mongodb.plugins.module_utils.replicaset_plan import PlanError, find_path, plan

from mongod_model import Refused, ServerModel

# Member kinds as server members (host and _id are added per slot).
KINDS = {
    "electable": {"votes": 1, "priority": 1},
    "passive": {"votes": 1, "priority": 0},
    "nonvoting": {"votes": 0, "priority": 0},
    "arbiter": {"votes": 1, "priority": 0, "arbiterOnly": True},
    "noindex": {"votes": 1, "priority": 0, "buildIndexes": False, "hidden": True},
    "hidden": {"votes": 1, "priority": 0, "hidden": True},
    "delayed": {"votes": 0, "priority": 0, "hidden": True, "secondaryDelaySecs": 3600},
}
DECLARED = {
    "electable": {},
    "passive": {"priority": 0},
    "nonvoting": {"votes": 0},
    "arbiter": {"arbiter_only": True},
    "noindex": {"build_indexes": False, "hidden": True},
    "hidden": {"hidden": True},
    "delayed": {"votes": 0, "hidden": True, "secondary_delay_secs": 3600},
}
UNIVERSES = {
    "small": (3, ("electable", "passive", "nonvoting", "arbiter", "noindex")),
    "large": (3, tuple(KINDS)),
}
ABSENT = None


def _host(slot):
    return "m%d:27017" % slot


def _member(slot, kind, reborn):
    member = {"_id": slot + (100 if reborn else 0), "host": _host(slot), "arbiterOnly": False,
              "buildIndexes": True, "hidden": False, "tags": {}, "secondaryDelaySecs": 0}
    member.update(KINDS[kind])
    return member


def _config(shape, reborn=()):
    return {"_id": "rs0", "version": 5, "term": 2, "protocolVersion": 1, "settings": {"chainingAllowed": True},
            "members": [_member(slot, kind, slot in reborn) for slot, kind in enumerate(shape) if kind]}


def _declaration(shape):
    specs = [dict({"host": _host(slot)}, **DECLARED[kind]) for slot, kind in enumerate(shape) if kind]
    try:
        return desired_members(specs)
    except ConfigError:
        return None


def _server(shape, primary, wc_set, reborn=()):
    server = ServerModel([], primary, default_wc_set=wc_set)
    server.config = _config(shape, reborn)
    return server


class BruteForce:
    """Fewest reconfigs from each live node to every shape, by breadth-first search over the model.

    A node is (shape, slots re-added since the start, primary slot). Edges: a reconfig to any shape of
    the universe that the model accepts, followed by the primary clearing newlyAdded flags (a node where
    a flag stays for good is a dead end: the module would wait on it forever); and a step-down, which
    costs no reconfig and hands over to the member the model elects."""

    def __init__(self, slots, kinds, wc_set, support):
        # Only the slots of the live set or the declaration: the planner never brings in a host
        # the user did not name (a temporary member is advice in its error message, not a step).
        self.slots = slots
        self.shapes = [shape for shape in itertools.product((ABSENT,) + kinds, repeat=slots)
                       if all(kind is ABSENT or slot in support for slot, kind in enumerate(shape))]
        self.wc_set = wc_set
        self.edges = {}

    def _next(self, node):
        if node in self.edges:
            return self.edges[node]
        shape, reborn, primary = node
        out = []
        for target in self.shapes:
            if target == shape:
                continue
            server = _server(shape, _host(primary), self.wc_set, reborn)
            new_reborn = tuple(sorted(set(reborn) | {s for s in range(self.slots) if target[s] and not shape[s]}))
            document = _config(target, new_reborn)
            document["version"] = server.config["version"] + 1
            try:
                server.reconfig(document)
            except Refused:
                continue
            server.catch_up()
            if server.stuck():
                continue
            out.append((1, (target, new_reborn, primary)))
        server = _server(shape, _host(primary), self.wc_set, reborn)
        try:
            server.step_down(_host(primary), lambda hosts: sorted(
                hosts, key=lambda h: next(m["_id"] for m in server.config["members"] if m["host"] == h))[0])
        except Refused:
            pass
        else:
            out.append((0, (shape, reborn, int(server.primary[1:].split(":")[0]))))
        self.edges[node] = out
        return out

    def distances(self, start):
        """{shape: fewest reconfigs} for every shape reachable from ``start`` (0-1 breadth-first)."""
        best = {start: 0}
        queue = collections.deque([start])
        while queue:
            node = queue.popleft()
            for cost, nxt in self._next(node):
                total = best[node] + cost
                if nxt not in best or total < best[nxt]:
                    best[nxt] = total
                    (queue.appendleft if cost == 0 else queue.append)(nxt)
        reached = {}
        for (shape, _reborn, _primary), cost in best.items():
            reached[shape] = min(cost, reached.get(shape, cost))
        return reached


def _run_plan(shape, primary, wc_set, declared):
    """Plan once and execute every planned step on the model; the number of reconfigs, or None."""
    server = _server(shape, _host(primary), wc_set)
    # find_path is plan without the explanation of a refusal (which searches again with rules relaxed);
    # test_cases_the_greedy_planner_refused and test_replicaset_plan.py hold plan() itself.
    steps = find_path(copy.deepcopy(server.config), declared, {}, _host(primary), default_wc_set=wc_set)
    if steps is None:
        return None, None
    for step in steps:
        if step["action"] == "step_down":
            server.step_down(step["member"], lambda hosts: sorted(
                hosts, key=lambda h: next(m["_id"] for m in server.config["members"] if m["host"] == h))[0])
            expected = step["reasons"][0].split("; ")[-1].split()[0]
            assert server.primary == expected, (step, server.primary)
        else:
            server.reconfig(step["config"])
            server.catch_up()
    assert not server.stuck()
    assert config_matches(server.config, declared, {}), (shape, steps)
    return len([s for s in steps if s["action"] == "reconfig"]), steps


def _live_shapes(slots, kinds):
    for shape in itertools.product((ABSENT,) + kinds, repeat=slots):
        if _declaration(shape) is None:
            continue  # not a config mongod would hold
        for primary, kind in enumerate(shape):
            if kind == "electable":
                yield shape, primary


def check_universe(name):
    slots, kinds = UNIVERSES[name]
    declarations = [(shape, _declaration(shape)) for shape in itertools.product((ABSENT,) + kinds, repeat=slots)]
    declarations = [(shape, declared) for shape, declared in declarations if declared is not None]
    pairs = 0
    mismatches = []
    for wc_set in (False, True):
        searches = {}
        for live, primary in _live_shapes(slots, kinds):
            reachable = {}
            for target, declared in declarations:
                support = frozenset(s for s in range(slots) if live[s] or target[s])
                if support not in searches:
                    searches[support] = BruteForce(slots, kinds, wc_set, support)
                if support not in reachable:
                    reachable[support] = searches[support].distances((live, (), primary))
                pairs += 1
                planned, steps = _run_plan(live, primary, wc_set, declared)
                shortest = reachable[support].get(target)
                if planned != shortest:
                    mismatches.append((live, primary, wc_set, target, planned, shortest, steps))
    return pairs, mismatches


def test_the_planner_finds_a_shortest_path_exactly_when_one_exists():
    name = os.environ.get("QUORUM_PLAN_UNIVERSE", "small")
    pairs, mismatches = check_universe(name)
    assert pairs > 1000

    def shown(rows):
        return "\n".join("live %s (primary m%d, wc set %s) -> %s: planner %s, shortest %s\n  %s"
                         % (live, primary, wc, target, planned, shortest, [s["reasons"] for s in steps or []])
                         for live, primary, wc, target, planned, shortest, steps in rows[:10])
    unreachable = [row for row in mismatches if row[4] is None or row[5] is None]
    assert not unreachable, "reachability differs on %d pairs:\n%s" % (len(unreachable), shown(unreachable))
    assert not mismatches, "%d of %d pairs differ in length:\n%s" % (len(mismatches), pairs, shown(mismatches))


@pytest.mark.parametrize("live, target, reconfigs", [
    # The case: three data members, a hidden priority-0 delayed voter and an arbiter, declared as the
    # three data members plus a new one. The arbiter leaves in the step that adds the new member (which does
    # not vote yet), then the hidden member leaves: w:majority throughout, two reconfigs.
    (("electable", "electable", "electable", "hidden", "arbiter", None),
     ("electable", "electable", "electable", None, None, "electable"), 2),
    # P+A to P+S+A: the new secondary enters with priority 0, then gets its priority (PSA rule).
    (("electable", "arbiter", None), ("electable", "arbiter", "electable"), 2),
])
def test_cases_the_greedy_planner_refused(live, target, reconfigs):
    planned, steps = _run_plan(live, 0, False, _declaration(target))
    assert planned == reconfigs
    assert plan(_config(live), _declaration(target), {}, _host(0)) == steps


def test_an_unreachable_declaration_names_the_write_concern_rule():
    # P-S-S to P-S-A: the implicit default write concern would go from w:majority to w:1.
    with pytest.raises(PlanError, match="default_write_concern"):
        plan(_config(("electable", "electable", "electable")),
             _declaration(("electable", "electable", "arbiter")), {}, _host(0))
