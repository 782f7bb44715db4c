"""mongosim's pure config rules against the cases MongoDB's source spells out
(repl_set_config_checks.cpp validateOldAndNewConfigsCompatible; topology_coordinator.cpp
isElectableNodeInSingleNodeReplicaSet)."""

import pytest

from mongosim import replconfig as rc


def config(*members):
    docs = []
    for i, spec in enumerate(members):
        doc = {"_id": i, "host": "h%d:27017" % i}
        if spec == "A":
            doc["arbiterOnly"] = True
        elif isinstance(spec, dict):
            doc.update(spec)
        docs.append(doc)
    return rc.parse({"_id": "rs0", "version": 1, "members": docs})


def newly_added(cfg, member_id):
    rc.member_by_id(cfg, member_id)["newlyAdded"] = True
    return cfg


@pytest.mark.parametrize("old, new, refused", [
    # P+A (no overlap) to P,S,A with S electable: refused; S priority 0: accepted.
    (config("P", "A"), config("P", "A", "S"), True),
    (config("P", "A"), config("P", "A", {"priority": 0}), False),
    # newlyAdded does not hide S's priority in the new config ...
    (config("P", "A"), newly_added(config("P", "A", "S"), 2), True),
    # ... nor its vote in the old one: P,S(newlyAdded, priority 0),A has an overlap.
    (newly_added(config("P", "A", {"priority": 0}), 2), config("P", "A", "S"), False),
    # The old P,S(votes 0),A has no overlap; PSA counts members whatever their votes.
    (config("P", "A", {"votes": 0, "priority": 0}), config("P", "A", "S"), True),
    (config("P", "A", {"votes": 0, "priority": 0}), config("P", "A", {"priority": 0}), False),
    # Not a PSA set: four members, or three with one data-bearing member.
    (config("P", "A"), config("P", "A", "S", {"votes": 0, "priority": 0}), False),
    # An old config with an overlap (P,S,A) may become any PSA set.
    (config("P", "S", "A"), config("P", "S", "A"), False),
])
def test_psa_rule(old, new, refused):
    assert rc.psa_reconfig_unsafe(old, new) is refused


def test_single_node_set_is_one_member_not_one_voter():
    assert rc.is_single_node_set(config("P"), 0)
    assert not rc.is_single_node_set(config("P", {"votes": 0, "priority": 0}), 0)
    assert not rc.is_single_node_set(config("P"), None)
