"""Unit tests for mongod_tls_stage (plugins/filter/mongod.py): a change of net.tls.mode on a running set, planned
so that every pair of members can still talk at each step. The pair rules are those of
tests/mongosim/SEMANTICS.md section 9.4; check_pairs below applies them to every state the plan passes through."""

import itertools

import pytest
from ansible.errors import AnsibleFilterError

MODES = ("disabled", "allowTLS", "preferTLS", "requireTLS")


def talks(sender, receiver):
    """Whether a member in mode ``sender`` reaches one in ``receiver`` (it sends TLS in preferTLS and above)."""
    sends_tls = sender in ("preferTLS", "requireTLS")
    if receiver == "disabled":
        return not sends_tls
    if receiver == "requireTLS":
        return sends_tls
    return True


def check_pairs(state):
    for (one, mode_one), (other, mode_other) in itertools.permutations(state.items(), 2):
        assert talks(mode_one, mode_other), "%s (%s) cannot reach %s (%s): %s" % (
            one, mode_one, other, mode_other, state)


def walk(live, plan):
    """Every state the set passes through when the role follows ``plan``: raises before the roll, the roll
    (members one at a time into conf_mode, when their mode differs in a way only a restart changes), raises after
    it. Returns the final state."""
    state = dict(live)
    check_pairs(state)

    def raise_all():
        for mode in plan["raise"]:
            for host in sorted(state):
                if MODES.index(state[host]) < MODES.index(mode):
                    state[host] = mode
                    check_pairs(state)

    if plan["raise_when"] == "before":
        raise_all()
    for host in sorted(state):
        outdated = host in plan["restart"] or (state[host] == "disabled") != (plan["conf_mode"] == "disabled")
        if outdated:
            state[host] = plan["conf_mode"]
            check_pairs(state)
    if plan["raise_when"] == "after":
        raise_all()
    return state


@pytest.mark.parametrize("start,target", [(s, t) for s in MODES for t in MODES
                                          if MODES.index(t) >= MODES.index(s) - 1])
def test_a_set_in_one_mode_reaches_any_mode_up_or_one_down_with_every_pair_talking(mongod_filters, start, target):
    live = {"m1": start, "m2": start, "m3": start}
    plan = mongod_filters.mongod_tls_stage(live, target)
    assert plan["problem"] is None
    assert walk(live, plan) == {"m1": target, "m2": target, "m3": target}


def test_up_from_disabled_restarts_into_allow_tls_then_raises_after_the_roll(mongod_filters):
    plan = mongod_filters.mongod_tls_stage({"m1": "disabled", "m2": "disabled"}, "requireTLS")
    assert plan == {"conf_mode": "allowTLS", "raise": ["preferTLS", "requireTLS"], "raise_when": "after",
                    "restart": [], "problem": None}


def test_up_from_allow_tls_writes_the_target_and_raises_before_any_restart(mongod_filters):
    plan = mongod_filters.mongod_tls_stage({"m1": "allowTLS", "m2": "allowTLS"}, "requireTLS")
    assert plan == {"conf_mode": "requireTLS", "raise": ["preferTLS", "requireTLS"], "raise_when": "before",
                    "restart": [], "problem": None}


@pytest.mark.parametrize("live", [
    {"m1": "allowTLS", "m2": "disabled", "m3": "disabled"},       # stopped in the first roll
    {"m1": "preferTLS", "m2": "allowTLS", "m3": "allowTLS"},      # stopped while raising to preferTLS
    {"m1": "requireTLS", "m2": "preferTLS", "m3": "preferTLS"},   # stopped while raising to requireTLS
])
def test_an_interrupted_change_up_is_finished(mongod_filters, live):
    plan = mongod_filters.mongod_tls_stage(live, "requireTLS")
    assert plan["problem"] is None
    assert set(walk(live, plan).values()) == {"requireTLS"}


def test_a_set_already_in_the_mode_needs_nothing(mongod_filters):
    plan = mongod_filters.mongod_tls_stage({"m1": "requireTLS", "m2": "requireTLS", "m3": None}, "requireTLS")
    assert plan == {"conf_mode": "requireTLS", "raise": [], "raise_when": "none", "restart": [], "problem": None}


def test_nothing_running_starts_in_the_target(mongod_filters):
    plan = mongod_filters.mongod_tls_stage({"m1": None, "m2": None}, "requireTLS")
    assert plan["conf_mode"] == "requireTLS" and plan["raise"] == [] and plan["problem"] is None


def test_one_mode_down_restarts_the_members_above_it(mongod_filters):
    plan = mongod_filters.mongod_tls_stage({"m1": "requireTLS", "m2": "preferTLS"}, "preferTLS")
    assert plan["restart"] == ["m1"] and plan["conf_mode"] == "preferTLS" and plan["problem"] is None


def test_more_than_one_mode_down_is_refused_naming_the_next_step(mongod_filters):
    plan = mongod_filters.mongod_tls_stage({"m1": "requireTLS", "m2": "requireTLS"}, "disabled")
    assert "Set mongod_tls_mode to preferTLS" in plan["problem"]
    assert "m1, m2 run requireTLS" in plan["problem"]


def test_members_that_cannot_reach_each_other_are_refused(mongod_filters):
    plan = mongod_filters.mongod_tls_stage({"m1": "disabled", "m2": "requireTLS"}, "requireTLS")
    assert "m1 run tlsMode disabled and m2 requireTLS" in plan["problem"]


def test_a_mode_that_is_not_one_fails(mongod_filters):
    with pytest.raises(AnsibleFilterError, match="requireSSL"):
        mongod_filters.mongod_tls_stage({"m1": "disabled"}, "requireSSL")
    with pytest.raises(AnsibleFilterError, match="m1 runs 'tls'"):
        mongod_filters.mongod_tls_stage({"m1": "tls"}, "requireTLS")


@pytest.mark.parametrize("start, target", [("allowTLS", "preferTLS"), ("preferTLS", "requireTLS"),
                                           ("disabled", "allowTLS")])
def test_with_an_arbiter_one_mode_up_is_a_restart_of_every_member(mongod_filters, start, target):
    live = {"m1": start, "m2": start, "arb": start}
    plan = mongod_filters.mongod_tls_stage(live, target, ["arb"])
    assert plan["raise"] == [] and plan["problem"] is None
    assert walk(live, plan) == {"m1": target, "m2": target, "arb": target}


@pytest.mark.parametrize("start, target, next_mode", [("allowTLS", "requireTLS", "preferTLS"),
                                                      ("disabled", "requireTLS", "allowTLS"),
                                                      ("disabled", "preferTLS", "allowTLS")])
def test_with_an_arbiter_more_than_one_mode_up_is_refused_naming_the_next(mongod_filters, start, target, next_mode):
    plan = mongod_filters.mongod_tls_stage({"m1": start, "m2": start, "arb": start}, target, ["arb"])
    assert plan["raise"] == [] and plan["restart"] == []
    assert "arb: an arbiter holds no users" in plan["problem"]
    assert "Set mongod_tls_mode to %s and run site.yml, then go on to %s" % (next_mode, target) in plan["problem"]


def test_an_arbiter_that_does_not_run_changes_nothing(mongod_filters):
    plan = mongod_filters.mongod_tls_stage({"m1": "allowTLS", "m2": "allowTLS", "arb": None}, "requireTLS", ["arb"])
    assert plan["raise"] == ["preferTLS", "requireTLS"] and plan["problem"] is None
