"""Validation and comparison of replica-set configs (mongod's rules, checked before any connection)."""

import pytest

from ansible_collections.quorum.mongodb.plugins.module_utils.replicaset_config import (
    ConfigError,
    canonical_host,
    config_matches,
    desired_members,
    desired_settings,
    implicit_write_concern_is_majority,
)


@pytest.mark.parametrize("given, expected", [
    ("db1", "db1:27017"),
    ("DB1.Example.COM:27018", "db1.example.com:27018"),
    (" db1:1 ", "db1:1"),
    ("[::1]", "[::1]:27017"),
    ("[FE80::1]:27019", "[fe80::1]:27019"),
])
def test_canonical_host(given, expected):
    assert canonical_host(given) == expected


@pytest.mark.parametrize("given, words", [
    ("", "empty host"),
    (":27017", "host part is empty"),
    ("db1:0", "out of range"),
    ("db1:70000", "out of range"),
    ("db1:port", "must be a number"),
    ("fe80::1", "IPv6"),
])
def test_canonical_host_rejects(given, words):
    with pytest.raises(ConfigError, match=words):
        canonical_host(given)


def test_defaults_follow_the_server_and_unelectable_members_get_priority_0():
    members = desired_members([
        {"host": "a"},
        {"host": "b", "hidden": True},
        {"host": "c", "secondary_delay_secs": 3600},
        {"host": "d", "arbiter_only": True},
        {"host": "e", "votes": 0},
        {"host": "f", "build_indexes": False},
    ])
    by_host = {m["host"].split(":")[0]: m for m in members}
    assert by_host["a"] == {"host": "a:27017", "arbiterOnly": False, "buildIndexes": True, "hidden": False,
                            "priority": 1, "tags": {}, "secondaryDelaySecs": 0, "votes": 1}
    assert [by_host[h]["priority"] for h in "bcdef"] == [0, 0, 0, 0, 0]
    assert by_host["d"]["arbiterOnly"] is True and by_host["d"]["votes"] == 1


@pytest.mark.parametrize("members, words", [
    ([{"host": "a"}, {"host": "b", "hidden": True, "priority": 1}],
     r"member b:27017: priority must be 0 \(or unset\) when hidden is true"),
    ([{"host": "a"}, {"host": "b", "votes": 0, "priority": 2}],
     r"member b:27017: priority must be 0 \(or unset\) when votes is 0"),
    ([{"host": "a"}, {"host": "b", "secondary_delay_secs": 60, "priority": 1}], "secondary_delay_secs is set"),
    ([{"host": "a"}, {"host": "b", "build_indexes": False, "priority": 1}], "build_indexes is false"),
    ([{"host": "a"}, {"host": "b", "votes": 2}], "member b:27017: votes must be 0 or 1"),
    ([{"host": "a", "priority": 1001}], "from 0 to 1000"),
    ([{"host": "a"}, {"host": "b", "arbiter_only": True, "votes": 0}], "arbiter must vote"),
    ([{"host": "a"}, {"host": "b", "arbiter_only": True, "priority": 1}], "arbiter has priority 0"),
    ([{"host": "a"}, {"host": "b", "arbiter_only": True, "tags": {"dc": "x"}}], "tags on arbiters"),
    ([{"host": "a"}, {"host": "b", "arbiter_only": True, "hidden": True}], "arbiter holds no data"),
    ([{"host": "a"}, {"host": "b", "arbiter_only": True, "build_indexes": True}], "arbiter holds no data"),
    ([{"host": "a", "tags": {"rack": 1}}], "tags.rack must be a string"),
    ([{"host": "a"}, {"host": "A:27017"}], "lists a:27017 twice"),
    ([{"host": "localhost:1"}, {"host": "db2:1"}], "mixes localhost"),
    ([{"host": "h%d" % i} for i in range(8)], "8 voting members"),
    ([{"host": "h%d" % i, "votes": 0} for i in range(3)], "0 voting members"),
    ([{"host": "h%d" % i, "votes": 1 if i < 7 else 0} for i in range(51)], "51 members"),
    ([{"host": "a", "priority": 0}, {"host": "b", "priority": 0}], "no member that can become primary"),
    ([{"host": "a", "secondary_delay_secs": -1, "priority": 0}], "secondary_delay_secs must be"),
    ([], "has no members"),
    ([{"priority": 1}], r"members\[0\]"),
])
def test_declarations_mongod_rejects_name_the_member_and_rule(members, words):
    with pytest.raises(ConfigError, match=words):
        desired_members(members)


def test_fifty_members_with_seven_voters_are_valid():
    members = desired_members([{"host": "h%d" % i, "votes": 1 if i < 7 else 0} for i in range(50)])
    assert len(members) == 50
    assert sum(m["votes"] for m in members) == 7


def test_settings_only_the_given_keys():
    assert desired_settings({"chaining_allowed": False, "election_timeout_millis": 5000,
                             "heartbeat_interval_millis": None}) == {
        "chainingAllowed": False, "electionTimeoutMillis": 5000}
    assert desired_settings(None) == {}


@pytest.mark.parametrize("settings, words", [
    ({"election_timeout_millis": 0}, "election_timeout_millis must be"),
    ({"catch_up_timeout_millis": -2}, "catch_up_timeout_millis must be"),
    ({"chaining_allowed": "yes"}, "chaining_allowed must be true or false"),
    ({"protocol_version": 1}, "not a setting this module manages"),
])
def test_settings_rejected(settings, words):
    with pytest.raises(ConfigError, match=words):
        desired_settings(settings)


def live_config(*members, **settings):
    return {"_id": "rs0", "version": 7, "term": 3, "protocolVersion": 1,
            "members": [dict({"_id": i}, **m) for i, m in enumerate(members)],
            "settings": dict({"chainingAllowed": True, "electionTimeoutMillis": 10000}, **settings)}


def test_comparison_is_by_content_not_version_order_or_case():
    config = live_config({"host": "DB2:27017", "priority": 1.0}, {"host": "db1:27017", "newlyAdded": True},
                         {"host": "db3:27017", "arbiterOnly": True, "priority": 0})
    declared = desired_members([{"host": "db1"}, {"host": "db2"}, {"host": "db3", "arbiter_only": True}])
    assert config_matches(config, declared, {})
    assert config_matches(config, declared, {"electionTimeoutMillis": 10000})
    assert not config_matches(config, declared, {"electionTimeoutMillis": 5000})
    assert not config_matches(config, declared[:2], {})
    changed = desired_members([{"host": "db1", "tags": {"dc": "a"}}, {"host": "db2"},
                               {"host": "db3", "arbiter_only": True}])
    assert not config_matches(config, changed, {})


def test_horizons_compared_only_when_declared():
    config = live_config({"host": "db1:27017", "horizons": {"ext": "x:1"}})
    assert config_matches(config, desired_members([{"host": "db1"}]), {})
    assert not config_matches(config, desired_members([{"host": "db1", "horizons": {"ext": "y:1"}}]), {})


def test_implicit_write_concern_rule():
    def members(*kinds):
        return [{"_id": i, "host": "h%d" % i, "votes": 1, "arbiterOnly": k == "A", "priority": 0 if k == "A" else 1}
                for i, k in enumerate(kinds)]
    assert implicit_write_concern_is_majority(members("P", "S", "S"))
    assert not implicit_write_concern_is_majority(members("P", "S", "A"))
    assert implicit_write_concern_is_majority(members("P", "S", "S", "S", "A"))


def test_a_second_arbiter_needs_allow_multiple_arbiters():
    declared = [{"host": "a"}, {"host": "b"}, {"host": "c"}, {"host": "d", "arbiter_only": True},
                {"host": "e", "arbiter_only": True}]
    with pytest.raises(ConfigError, match=r"2 arbiters \(d:27017, e:27017\).*allowMultipleArbiters"):
        desired_members(declared)
    assert len(desired_members(declared, allow_multiple_arbiters=True)) == 5
