"""mongosim's pure replication decisions (mongosim/repl/decisions.py), without
asyncio or processes: vote granting, the election timer's single-node rule,
priority takeover, the step-down candidate, the commit point from member
positions, write concern, and sync-source choice."""

import pytest

from mongosim import replconfig as rc
from mongosim.repl import decisions
from mongosim.repl.states import DOWN, PRIMARY, RECOVERING, SECONDARY, MemberData
from mongosim.storage import OpTime


def op(seconds, term=1, inc=1):
    return OpTime((seconds << 32) | inc, term)


def config(*members, **settings):
    docs = []
    for i, spec in enumerate(members):
        doc = {"_id": i, "host": "h%d:27017" % i}
        if spec == "A":
            doc["arbiterOnly"] = True
        elif isinstance(spec, dict):
            doc.update(spec)
        docs.append(doc)
    doc = {"_id": "rs0", "version": 1, "members": docs}
    if settings:
        doc["settings"] = settings
    return rc.parse(doc)


def peer(cfg, member_id, state=SECONDARY, applied=None, durable=None, ping_ms=0, health=1.0):
    data = MemberData(rc.member_by_id(cfg, member_id))
    data.state = state
    data.health = health
    data.applied = applied if applied is not None else OpTime()
    data.durable = durable if durable is not None else data.applied
    data.ping_ms = ping_ms
    return data


def peers(*datas):
    return {d.id: d for d in datas}


# ---------------------------------------------------------------- election timer
def test_no_election_deadline_for_a_non_candidate():
    assert decisions.election_deadline(False, True, 100.0, 0.0, 0.0, 10.0, 1.0) is None


def test_a_multi_member_set_waits_for_the_timeout_plus_jitter():
    assert decisions.election_deadline(True, False, 100.0, 0.0, 0.0, 10.0, 0.7) == pytest.approx(110.7)


@pytest.mark.parametrize("stepdown_until, freeze_until, expected", [
    (0.0, 0.0, 100.0),      # at once
    (105.0, 0.0, 105.0),    # once the step-down period is over
    (0.0, 107.0, 107.0),    # once the freeze is over
    (105.0, 103.0, 105.0),
])
def test_a_single_node_set_stands_at_once_after_any_waiting_period(stepdown_until, freeze_until, expected):
    assert decisions.election_deadline(True, True, 100.0, stepdown_until, freeze_until, 10.0, 0.7) == expected


def test_one_voter_with_non_voting_company_is_not_a_single_node_set():
    cfg = config("P", {"votes": 0, "priority": 0})
    single = rc.is_single_node_set(cfg, 0)
    assert single is False
    assert decisions.election_deadline(True, single, 100.0, 0.0, 0.0, 10.0, 0.0) == 110.0


# ---------------------------------------------------------------- votes
def vote(cfg=None, my_index=1, **overrides):
    cfg = cfg or config("P", "S", "S")
    args = {"config": cfg, "me": cfg["members"][my_index], "my_index": my_index, "my_term": 5,
            "my_applied": op(100, 5), "last_vote": {"term": -1, "candidateIndex": -1}, "writable_primary": False,
            "term": 6, "dry_run": False, "set_name": "rs0", "candidate_index": 0,
            "candidate_vt": rc.version_term(cfg), "candidate_applied": op(100, 5)}
    args.update(overrides)
    return decisions.vote_refusal(**args)


def test_vote_granted_to_an_up_to_date_candidate():
    assert vote() is None
    assert vote(dry_run=True) is None


@pytest.mark.parametrize("overrides, reason", [
    ({"term": 4}, "candidate's term (4) is lower than mine (5)"),
    ({"set_name": "other"}, "candidate's set name (other) differs from mine (rs0)"),
    ({"candidate_vt": (0, -1)}, "candidate's config with {version: 0, term: -1} is older than mine with "
                                "{version: 1, term: -1}"),
    ({"candidate_applied": op(99, 5)}, "candidate's data is staler than mine"),
    ({"last_vote": {"term": 6, "candidateIndex": 2}}, "already voted for another candidate (2) this term (6)"),
])
def test_vote_refused(overrides, reason):
    assert vote(**overrides).startswith(reason)


def test_a_non_voter_refuses():
    cfg = config("P", {"votes": 0, "priority": 0})
    assert vote(cfg, my_index=1) == "I am not a voting member"


def test_an_arbiter_does_not_compare_data():
    cfg = config("P", "S", "A")
    assert vote(cfg, my_index=2, candidate_applied=op(1, 1)) is None


def test_a_repeated_vote_for_the_same_candidate_and_a_dry_run_ignore_the_last_vote():
    assert vote(last_vote={"term": 6, "candidateIndex": 0}) is None
    assert vote(last_vote={"term": 6, "candidateIndex": 2}, dry_run=True) is None


def test_a_writable_primary_refuses_a_dry_run_unless_the_candidate_outranks_it():
    primary = {"writable_primary": True, "dry_run": True, "candidate_index": 1, "my_index": 0}
    assert vote(**primary) == "I am the primary and the candidate has no higher priority"
    assert vote(config("P", {"priority": 2}, "S"), **primary) is None
    # A candidate two terms ahead is not held back by this primary.
    assert vote(term=7, **primary) is None
    # A real vote is not refused for this reason.
    real_vote = dict(primary)
    real_vote["dry_run"] = False
    assert vote(**real_vote) is None


def test_candidate_outranks():
    cfg = config({"priority": 1}, {"priority": 2}, "A")
    assert decisions.candidate_outranks(cfg, 1, cfg["members"][0]) is True
    assert decisions.candidate_outranks(cfg, 0, cfg["members"][1]) is False
    assert decisions.candidate_outranks(cfg, 2, cfg["members"][0]) is False
    assert decisions.candidate_outranks(cfg, 7, cfg["members"][0]) is False
    assert decisions.candidate_outranks(cfg, None, cfg["members"][0]) is False


# ---------------------------------------------------------------- priority takeover
def test_priority_takeover_only_by_a_higher_priority_fresh_secondary():
    cfg = config({"priority": 1}, {"priority": 2})
    primary, me = cfg["members"]
    assert decisions.priority_takeover_wanted(me, primary, op(100), op(102), 2) is True
    assert decisions.priority_takeover_wanted(me, primary, op(100), op(103), 2) is False
    assert decisions.priority_takeover_wanted(primary, me, op(100), op(100), 2) is False
    same = config({"priority": 2}, {"priority": 2})
    assert decisions.priority_takeover_wanted(same["members"][1], same["members"][0], op(100), op(100), 2) is False


def test_priority_takeover_delay_ranks_by_electable_members_of_higher_priority():
    cfg = config({"priority": 1}, {"priority": 3}, {"priority": 2}, "A", {"priority": 0})
    assert decisions.priority_takeover_delay(cfg, cfg["members"][1], 10.0, 0.5) == pytest.approx(10.5)
    assert decisions.priority_takeover_delay(cfg, cfg["members"][2], 10.0, 0.5) == pytest.approx(20.5)
    assert decisions.priority_takeover_delay(cfg, cfg["members"][0], 10.0, 0.0) == pytest.approx(30.0)


# ---------------------------------------------------------------- step-down candidate
def test_caught_up_candidate_is_the_highest_priority_caught_up_secondary():
    cfg = config("P", {"priority": 1}, {"priority": 3}, {"priority": 5})
    members = peers(peer(cfg, 1, applied=op(10)), peer(cfg, 2, applied=op(10)), peer(cfg, 3, applied=op(9)))
    assert decisions.caught_up_candidate(cfg, 0, op(10), members)["_id"] == 2


def test_no_caught_up_candidate_without_a_write_majority_caught_up():
    cfg = config("P", "S", "S", "S", "S")
    members = peers(peer(cfg, 1, applied=op(10)), peer(cfg, 2, applied=op(9)), peer(cfg, 3, applied=op(9)),
                    peer(cfg, 4, applied=op(10), health=0.0))
    assert decisions.caught_up_candidate(cfg, 0, op(10), members) is None
    members[2].applied = op(10)
    assert decisions.caught_up_candidate(cfg, 0, op(10), members)["_id"] in (1, 2)


def test_no_caught_up_candidate_that_is_not_an_electable_secondary():
    cfg = config("P", {"priority": 0}, "S")
    members = peers(peer(cfg, 1, applied=op(10)), peer(cfg, 2, state=RECOVERING, applied=op(10)))
    assert decisions.caught_up_candidate(cfg, 0, op(10), members) is None


# ---------------------------------------------------------------- commit point
def test_commit_point_is_the_newest_optime_durable_on_a_majority():
    cfg = config("P", "S", "S")
    members = peers(peer(cfg, 1, durable=op(8, 2)), peer(cfg, 2, durable=op(5, 2)))
    assert decisions.majority_commit_point(cfg, 0, op(10, 2), members, 2, OpTime()) == op(8, 2)


def test_commit_point_does_not_move_back_or_to_an_older_term():
    cfg = config("P", "S", "S")
    members = peers(peer(cfg, 1, durable=op(8, 1)), peer(cfg, 2, durable=op(5, 1)))
    assert decisions.majority_commit_point(cfg, 0, op(10, 2), members, 2, OpTime()) is None
    members = peers(peer(cfg, 1, durable=op(8, 2)), peer(cfg, 2))
    assert decisions.majority_commit_point(cfg, 0, op(10, 2), members, 2, op(9, 2)) is None


def test_commit_point_ignores_arbiters_and_counts_unknown_members_as_null():
    # P-S-A: the write majority is 2 data-bearing voters, so the secondary must have it.
    cfg = config("P", "S", "A")
    assert decisions.majority_commit_point(cfg, 0, op(10, 1), {}, 1, OpTime()) is None
    members = peers(peer(cfg, 1, durable=op(7, 1)))
    assert decisions.majority_commit_point(cfg, 0, op(10, 1), members, 1, OpTime()) == op(7, 1)


def test_commit_point_ignores_non_voters():
    cfg = config("P", "S", {"votes": 0, "priority": 0})
    members = peers(peer(cfg, 1, durable=op(3)), peer(cfg, 2, durable=op(9)))
    assert decisions.majority_commit_point(cfg, 0, op(10), members, 1, OpTime()) == op(3)


# ---------------------------------------------------------------- write concern
def test_write_concern_majority_is_the_commit_point():
    cfg = config("P", "S", "S")
    assert decisions.write_concern_satisfied(cfg, 0, op(10), op(10), {}, op(10), op(10), "majority", None)
    assert not decisions.write_concern_satisfied(cfg, 0, op(10), op(10), {}, op(9), op(10), "majority", None)


def test_write_concern_number_counts_data_bearing_members():
    cfg = config("P", "S", "A")
    members = peers(peer(cfg, 1, applied=op(10), durable=op(9)))
    assert decisions.write_concern_satisfied(cfg, 0, op(10), op(10), members, OpTime(), op(10), 2, None)
    assert not decisions.write_concern_satisfied(cfg, 0, op(10), op(10), members, OpTime(), op(10), 2, True)
    assert not decisions.write_concern_satisfied(cfg, 0, op(10), op(10), members, OpTime(), op(10), 3, None)


def test_write_concern_j_needs_our_own_journal():
    cfg = config("P", "S")
    members = peers(peer(cfg, 1, applied=op(10), durable=op(10)))
    assert not decisions.write_concern_satisfied(cfg, 0, op(10), op(9), members, OpTime(), op(10), 1, True)
    assert decisions.write_concern_satisfied(cfg, 0, op(10), op(9), members, OpTime(), op(10), 1, None)


def test_write_concern_tag_mode_counts_distinct_tag_values():
    cfg = config({"tags": {"dc": "a"}}, {"tags": {"dc": "a"}}, {"tags": {"dc": "b"}},
                 getLastErrorModes={"twoDCs": {"dc": 2}})
    members = peers(peer(cfg, 1, applied=op(10)), peer(cfg, 2, applied=op(9)))
    assert not decisions.write_concern_satisfied(cfg, 0, op(10), op(10), members, OpTime(), op(10), "twoDCs", None)
    members[2].applied = op(10)
    assert decisions.write_concern_satisfied(cfg, 0, op(10), op(10), members, OpTime(), op(10), "twoDCs", None)


# ---------------------------------------------------------------- sync source
def choose(cfg, members, needs_initial_sync=False):
    """Member 0 (last applied at second 10) chooses."""
    return decisions.choose_sync_source(cfg, cfg["members"][0], op(10), members, needs_initial_sync,
                                        cfg["settings"]["chainingAllowed"])


def test_sync_from_the_primary_by_default():
    cfg = config("S", "P", "S")
    members = peers(peer(cfg, 1, PRIMARY, op(12), ping_ms=20), peer(cfg, 2, applied=op(12), ping_ms=15))
    assert choose(cfg, members)["_id"] == 1


def test_chain_from_a_secondary_that_is_clearly_closer_and_ahead():
    cfg = config("S", "P", "S")
    members = peers(peer(cfg, 1, PRIMARY, op(12), ping_ms=100), peer(cfg, 2, applied=op(12), ping_ms=5))
    assert choose(cfg, members)["_id"] == 2
    members[2].applied = op(10)     # not ahead of us
    assert choose(cfg, members)["_id"] == 1
    members[2].applied, members[2].ping_ms = op(12), 80     # not 30 ms closer
    assert choose(cfg, members)["_id"] == 1


def test_denylisted_members_are_not_sources_the_primary_included():
    cfg = config("S", "P", "S")
    members = peers(peer(cfg, 1, PRIMARY, op(12), ping_ms=20), peer(cfg, 2, applied=op(12), ping_ms=15))
    assert decisions.choose_sync_source(cfg, cfg["members"][0], op(10), members, False, True, {1})["_id"] == 2
    assert decisions.choose_sync_source(cfg, cfg["members"][0], op(10), members, False, True, {1, 2}) is None
    assert decisions.choose_sync_source(cfg, cfg["members"][0], op(10), members, False, False, {1}) is None


def test_no_chaining_when_the_config_forbids_it():
    cfg = config("S", "P", "S", chainingAllowed=False)
    members = peers(peer(cfg, 1, PRIMARY, op(12), ping_ms=100), peer(cfg, 2, applied=op(12), ping_ms=5))
    assert choose(cfg, members)["_id"] == 1
    members[1].health, members[1].state = 0.0, DOWN
    assert choose(cfg, members) is None


def test_without_a_primary_the_closest_secondary_ahead():
    cfg = config("S", "S", "S", "S")
    members = peers(peer(cfg, 1, applied=op(11), ping_ms=50), peer(cfg, 2, applied=op(10), ping_ms=1),
                    peer(cfg, 3, applied=op(12), ping_ms=40))
    assert choose(cfg, members)["_id"] == 3


def test_members_behind_us_are_skipped_unless_we_need_an_initial_sync():
    cfg = config("S", "S")
    members = peers(peer(cfg, 1, applied=op(9)))
    assert choose(cfg, members) is None
    assert choose(cfg, members, needs_initial_sync=True)["_id"] == 1


def test_hidden_delayed_down_and_non_index_building_members_are_not_sources():
    cfg = config("S", {"hidden": True, "priority": 0}, {"secondaryDelaySecs": 60, "priority": 0},
                 {"buildIndexes": False, "priority": 0}, "S")
    members = peers(peer(cfg, 1, applied=op(12)), peer(cfg, 2, applied=op(12)), peer(cfg, 3, applied=op(12)),
                    peer(cfg, 4, applied=op(12), health=0.0))
    assert choose(cfg, members) is None
    members[4].health = 1.0
    assert choose(cfg, members)["_id"] == 4
