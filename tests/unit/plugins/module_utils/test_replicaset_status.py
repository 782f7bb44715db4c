"""Unit tests for plugins/module_utils/replicaset_status.py (what replicaset_info computes)."""

import datetime

import pytest
from bson.int64 import Int64
from bson.timestamp import Timestamp
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.quorum.mongodb.plugins.module_utils import replicaset_status as rs

NOW = 1_700_000_000


def cfg(member_id, host=None, **options):
    member = {"_id": member_id, "host": host or "db%d:27017" % member_id, "arbiterOnly": False,
              "buildIndexes": True, "hidden": False, "priority": 1.0, "tags": {}, "secondaryDelaySecs": Int64(0),
              "votes": 1}
    member.update(options)
    return member


def live(member_id, state, seconds=NOW, health=1.0, **fields):
    names = {1: "PRIMARY", 2: "SECONDARY", 7: "ARBITER", 8: "(not reachable/healthy)", 3: "RECOVERING"}
    member = {"_id": member_id, "name": "db%d:27017" % member_id, "health": health, "state": state,
              "stateStr": names[state], "uptime": 100, "syncSourceHost": "", "pingMs": Int64(2)}
    if state != 7:
        member["optime"] = {"ts": Timestamp(seconds, 1), "t": Int64(3)}
        member["optimeDate"] = datetime.datetime.utcfromtimestamp(seconds) if seconds else datetime.datetime(1970, 1, 1)
    member.update(fields)
    return member


# ---------------------------------------------------------------- majority and fault tolerance


MAJORITIES = [(1, 1, 0), (2, 2, 0), (3, 2, 1), (4, 3, 1), (5, 3, 2), (6, 4, 2), (7, 4, 3)]


@pytest.mark.parametrize(("voters", "majority", "tolerance"), MAJORITIES)
def test_overall_fault_tolerance_follows_the_majority_rule(voters, majority, tolerance):
    result = rs.fault_tolerance([cfg(i) for i in range(voters)])
    assert (result["voting_members"], result["majority"], result["overall"]) == (voters, majority, tolerance)


def test_non_voting_members_do_not_add_tolerance_and_arbiters_do():
    members = [cfg(0), cfg(1), cfg(2, votes=0, priority=0.0), cfg(3, votes=0, priority=0.0)]
    assert rs.fault_tolerance(members)["overall"] == 0
    psa = [cfg(0), cfg(1), cfg(2, arbiterOnly=True, priority=0.0)]
    assert rs.fault_tolerance(psa)["overall"] == 1


def test_per_tag_remaining_votes_and_majority():
    members = [cfg(0, tags={"dc": "a"}), cfg(1, tags={"dc": "a"}), cfg(2, tags={"dc": "b"}),
               cfg(3, tags={"dc": "b", "rack": "r1"}), cfg(4, tags={"dc": "c", "rack": "r1"})]
    per_tag = rs.fault_tolerance(members)["per_tag"]
    assert per_tag["dc"] == {"a": {"remaining_votes": 3, "majority_kept": True},
                             "b": {"remaining_votes": 3, "majority_kept": True},
                             "c": {"remaining_votes": 4, "majority_kept": True}}
    assert per_tag["rack"] == {"r1": {"remaining_votes": 3, "majority_kept": True}}


def test_losing_the_data_centre_with_the_majority_loses_the_primary():
    members = [cfg(0, tags={"dc": "a"}), cfg(1, tags={"dc": "a"}), cfg(2, tags={"dc": "b"})]
    per_tag = rs.fault_tolerance(members)["per_tag"]
    assert per_tag["dc"]["a"] == {"remaining_votes": 1, "majority_kept": False}
    assert per_tag["dc"]["b"] == {"remaining_votes": 2, "majority_kept": True}


def test_a_tagged_non_voter_costs_no_votes():
    members = [cfg(0, tags={"dc": "a"}), cfg(1, tags={"dc": "a"}), cfg(2, tags={"dc": "b"}),
               cfg(3, tags={"dc": "c"}, votes=0, priority=0.0)]
    assert rs.fault_tolerance(members)["per_tag"]["dc"]["c"] == {"remaining_votes": 3, "majority_kept": True}


def test_current_tolerance_counts_unreachable_voters():
    members = [cfg(i) for i in range(5)]
    status = [live(0, 1), live(1, 2), live(2, 2), live(3, 8, health=0.0), live(4, 2)]
    result = rs.fault_tolerance(members, status)
    assert result["overall"] == 2
    assert (result["reachable_voting_members"], result["current"], result["majority_available"]) == (4, 1, True)
    status[4] = live(4, 8, health=0.0)
    status[2] = live(2, 8, health=0.0)
    result = rs.fault_tolerance(members, status)
    assert (result["reachable_voting_members"], result["current"], result["majority_available"]) == (2, 0, False)


@given(st.lists(st.tuples(st.integers(0, 1), st.sampled_from(["a", "b", "c"])), min_size=1, max_size=50))
def test_fault_tolerance_properties(spec):
    """Losing ``overall`` voters always leaves a majority; losing one more never does."""
    members = [cfg(i, votes=votes, tags={"dc": dc}) for i, (votes, dc) in enumerate(spec)]
    result = rs.fault_tolerance(members)
    voters = sum(votes for votes, _dc in spec)
    majority = voters // 2 + 1
    if voters:
        assert voters - result["overall"] >= majority
        assert voters - result["overall"] - 1 < majority
    for dc, answer in result["per_tag"]["dc"].items():
        lost = sum(votes for votes, tag in spec if tag == dc)
        assert answer == {"remaining_votes": voters - lost, "majority_kept": voters - lost >= majority}


# ---------------------------------------------------------------- lag


def test_lag_is_seconds_behind_the_primary():
    primary = live(0, 1, NOW)
    assert rs.member_lag(live(1, 2, NOW - 7), primary) == 7
    assert rs.member_lag(primary, primary) == 0


def test_lag_is_never_negative():
    primary = live(0, 1, NOW)
    assert rs.member_lag(live(1, 2, NOW + 2), primary) == 0


def test_lag_is_unknown_without_primary_for_arbiters_and_down_members():
    primary = live(0, 1, NOW)
    assert rs.member_lag(live(1, 2, NOW), None) is None
    assert rs.member_lag(live(2, 7), primary) is None
    assert rs.member_lag(live(1, 2, NOW), primary, arbiter=True) is None
    assert rs.member_lag(live(3, 8, NOW - 100, health=0.0), primary) is None
    # A member never heard from has the null optime.
    assert rs.member_lag(live(1, 2, 0), primary) is None


def test_lag_from_optime_date_when_there_is_no_timestamp():
    primary = {"_id": 0, "state": 1, "optimeDate": datetime.datetime(2024, 1, 1, 0, 0, 10)}
    member = {"_id": 1, "state": 2, "health": 1.0, "optimeDate": datetime.datetime(2024, 1, 1, 0, 0, 7, 500000)}
    assert rs.member_lag(member, primary) == 2.5
    aware = {"_id": 1, "state": 2, "health": 1.0,
             "optimeDate": datetime.datetime(2024, 1, 1, 0, 0, 4, tzinfo=datetime.timezone.utc)}
    assert rs.member_lag(aware, primary) == 6


# ---------------------------------------------------------------- the whole summary


def _pss_status(secondary_state=2, secondary_seconds=NOW - 3, secondary_health=1.0):
    return {"set": "rs0", "myState": 1, "members": [
        live(0, 1, NOW, self=True),
        live(1, secondary_state, secondary_seconds, health=secondary_health, syncSourceHost="db0:27017"),
        live(2, 7),
    ]}


def _pss_config():
    return {"_id": "rs0", "version": 5, "term": Int64(2), "members": [
        cfg(0, priority=2.0, tags={"dc": "a"}),
        cfg(1, priority=0.0, hidden=True, secondaryDelaySecs=Int64(3600), tags={"dc": "b"}),
        cfg(2, arbiterOnly=True, priority=0.0),
    ]}


def test_summary_joins_status_and_config():
    result = rs.replicaset_summary(_pss_status(), _pss_config())
    assert (result["set_name"], result["config_version"], result["config_term"]) == ("rs0", 5, 2)
    assert result["primary"] == "db0:27017"
    assert result["healthy"] is True
    first, second, arbiter = result["members"]
    assert first == {"name": "db0:27017", "id": 0, "state": "PRIMARY", "health": 1, "uptime": 100, "lag": 0,
                     "ping_ms": 2, "votes": 1, "priority": 2, "hidden": False, "arbiter_only": False,
                     "secondary_delay_secs": 0, "tags": {"dc": "a"}, "sync_source": None,
                     "last_heartbeat_message": None, "self": True}
    assert (second["lag"], second["hidden"], second["secondary_delay_secs"], second["sync_source"]) == \
        (3, True, 3600, "db0:27017")
    assert (arbiter["state"], arbiter["lag"], arbiter["arbiter_only"], arbiter["votes"]) == ("ARBITER", None, True, 1)
    assert result["fault_tolerance"]["overall"] == 1
    assert result["fault_tolerance"]["per_tag"]["dc"]["a"] == {"remaining_votes": 2, "majority_kept": True}


def test_summary_says_why_a_member_is_not_reachable():
    status = _pss_status(secondary_health=0.0)
    status["members"][1]["lastHeartbeatMessage"] = "Couldn't get a connection within the time limit"
    members = rs.replicaset_summary(status, _pss_config())["members"]
    assert members[1]["last_heartbeat_message"] == "Couldn't get a connection within the time limit"
    assert members[1]["health"] == 0
    assert members[2]["last_heartbeat_message"] is None


def test_summary_types_are_plain_json():
    import json
    result = rs.replicaset_summary(_pss_status(), _pss_config())
    assert json.loads(json.dumps(result)) == result
    # BSON doubles such as health 1.0 come back as whole numbers
    health = result["members"][0]["health"]
    assert isinstance(health, int) and not isinstance(health, bool)


def test_summary_unhealthy_when_a_member_is_down():
    result = rs.replicaset_summary(_pss_status(secondary_state=8, secondary_health=0.0), _pss_config())
    assert result["healthy"] is False
    assert result["primary"] == "db0:27017"
    down = result["members"][1]
    assert (down["state"], down["health"], down["lag"]) == ("(not reachable/healthy)", 0, None)
    assert result["fault_tolerance"]["overall"] == 1
    assert result["fault_tolerance"]["current"] == 0


def test_summary_unhealthy_when_a_member_recovers():
    result = rs.replicaset_summary(_pss_status(secondary_state=3), _pss_config())
    assert result["healthy"] is False
    assert result["members"][1]["state"] == "RECOVERING"


def test_summary_without_primary():
    status = _pss_status()
    status["members"][0] = live(0, 2, NOW, self=True)
    result = rs.replicaset_summary(status, _pss_config())
    assert result["primary"] is None
    assert result["healthy"] is False
    assert [member["lag"] for member in result["members"]] == [None, None, None]


def test_summary_of_a_config_installed_by_force_has_no_term():
    config = _pss_config()
    del config["term"]
    assert rs.replicaset_summary(_pss_status(), config)["config_term"] is None


def test_summary_reads_the_pre_5_0_delay_field():
    config = _pss_config()
    del config["members"][1]["secondaryDelaySecs"]
    config["members"][1]["slaveDelay"] = 60
    assert rs.replicaset_summary(_pss_status(), config)["members"][1]["secondary_delay_secs"] == 60
