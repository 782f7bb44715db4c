"""Reconfiguration paths of quorum.mongodb.replicaset, through ansible-playbook, under a write load.

Each case starts from a live set (initiated by the module itself, as a user's first run would),
declares another one and checks four things:

1. the final config, member by member (host, votes, priority, hidden, arbiterOnly, buildIndexes,
   secondaryDelaySecs), against values written here by hand;
2. the number of ``replSetReconfig`` steps the module reported equals the number ``plan()`` gives
   when called directly on the live config before the run (the planner promises the shortest),
   equals what check mode reported, and equals the count worked out by hand in the case's comment;
3. a second run (check mode, then for real) changes nothing;
4. no write acknowledged with ``w: "majority"`` is lost: a writer thread (conftest's
   ``majority_writer``) inserts numbered documents through the set's seed list for the whole change,
   and every acknowledged ``_id`` must be in a readConcern majority read afterwards.

The hand counts rest on mongod's rules as the planner's docstring states them
(plugins/module_utils/replicaset_plan.py; sources in tests/mongosim/SEMANTICS.md): one counted voting
change per reconfig (a new data-bearing voter enters as ``newlyAdded`` and does not count), an arbiter
votes at once, ``arbiterOnly``/``buildIndexes`` change only by remove-then-add (and a host cannot be
removed and added in the same config), at most 7 voters (``newlyAdded`` ones included once they
count), and the implicit default write concern may not change without a cluster-wide default.

Verified against mongosim, not a real mongod.
"""

import os
import sys

import pytest

from conftest import FAST, _collections_path, wait_for

for _entry in reversed(_collections_path().split(os.pathsep)):
    if _entry not in sys.path:
        sys.path.insert(0, _entry)

from ansible_collections.quorum.mongodb.plugins.module_utils.replicaset_config import (  # noqa: E402
    desired_declaration,
)
from ansible_collections.quorum.mongodb.plugins.module_utils.replicaset_plan import (  # noqa: E402
    PlanError,
    WriteConcernRuleError,
    plan,
)

MODULE = "quorum.mongodb.replicaset"
SETTINGS = {"election_timeout_millis": FAST["electionTimeoutMillis"],
            "heartbeat_interval_millis": FAST["heartbeatIntervalMillis"]}
FIELDS = ("host", "votes", "priority", "hidden", "arbiterOnly", "buildIndexes", "secondaryDelaySecs")
MAJORITY = {"w": "majority"}


def task(cluster, members, **options):
    args = cluster.login_args()
    args.update(name="rs0", members=members, wait_timeout=300, step_down_secs=60, settings=SETTINGS)
    args.update(options)
    return {"name": "Converge the set", MODULE: args}


def expect(host, votes=1, priority=1, hidden=False, arbiter=False, build_indexes=True, delay=0):
    """One member as replSetGetConfig must show it, written out by hand."""
    return {"host": host, "votes": votes, "priority": priority, "hidden": hidden, "arbiterOnly": arbiter,
            "buildIndexes": build_indexes, "secondaryDelaySecs": delay}


def live_config(cluster):
    return cluster.command(cluster.primary(), "replSetGetConfig")["config"]


def assert_members(cluster, expected):
    config = live_config(cluster)
    live = sorted(({field: member.get(field) for field in FIELDS} for member in config["members"]),
                  key=lambda member: member["host"])
    assert live == sorted(expected, key=lambda member: member["host"])
    return config


def reconfigs(steps):
    return [step for step in steps if step["action"] == "reconfig"]


def actions(steps, name):
    return len([step for step in steps if step["action"] == name])


def reasons(steps):
    return [(step["action"], step["reasons"]) for step in steps]


def global_default_write_concern(cluster):
    reply = cluster.command(cluster.primary(), "getDefaultRWConcern")
    return reply.get("defaultWriteConcernSource") == "global" and bool(reply.get("defaultWriteConcern"))


def plan_now(cluster, args):
    """The steps plan() gives from the live config and primary now, called as the module calls it in a
    real run: without the write-concern relaxation first, with it when a cluster-wide default is set or
    the run sets one (``default_write_concern``) before its first reconfig."""
    primary = cluster.primary()
    config = cluster.command(primary, "replSetGetConfig")["config"]
    desired, settings = desired_declaration(args)
    options = {"allow_multiple_arbiters": bool(args.get("allow_multiple_arbiters"))}
    try:
        return plan(config, desired, settings, primary, default_wc_set=False, **options)
    except PlanError:
        if not (args.get("default_write_concern") or global_default_write_concern(cluster)):
            raise
        return plan(config, desired, settings, primary, default_wc_set=True, **options)


def start_set(mongosim_cluster, run_playbook, n, members_of):
    """``n`` mongosim members, the set initiated by the module with ``members_of(hosts)`` (which waits until
    every declared member is healthy); members not declared stay uninitiated, for the case to add."""
    cluster = mongosim_cluster(n)
    members = members_of(cluster.hosts)
    initiated = run_playbook([task(cluster, members)]).results[-1]
    assert [s["action"] for s in initiated["steps"]] == ["initiate"], initiated
    states = sorted(m["state"] for m in initiated["members"])
    assert all(state in ("PRIMARY", "SECONDARY", "ARBITER") for state in states) and states.count("PRIMARY") == 1, \
        initiated["members"]
    return cluster


def converge(cluster, run_playbook, majority_writer, members, by_hand, expected, **options):
    """check -> apply -> check -> apply of ``members`` under a majority writer; returns the apply result.

    ``by_hand`` is the reconfig count worked out in the case's comment; plan() on the live config,
    check mode and the real run must all give it. ``expected`` is the final config, member by member.
    """
    tasks = [task(cluster, members, **options)]
    args = tasks[0][MODULE]
    before = live_config(cluster)
    planned = plan_now(cluster, args)
    assert len(reconfigs(planned)) == by_hand, reasons(planned)

    writer = majority_writer(cluster)
    writer.wait_for_acknowledged(5)  # writes are flowing before the change starts
    checked = run_playbook(tasks, check=True, diff=True).results[-1]
    assert checked["changed"] is True, checked
    assert live_config(cluster)["version"] == before["version"], "check mode changed the config"
    assert len(reconfigs(checked["steps"])) == by_hand, reasons(checked["steps"])

    applied = run_playbook(tasks, diff=True).results[-1]
    assert applied["changed"] is True, applied
    done = reconfigs(applied["steps"])
    assert len(done) == len(reconfigs(planned)) == by_hand, (reasons(applied["steps"]), reasons(planned))
    assert all(step.get("committed", True) for step in done), reasons(applied["steps"])
    # Check mode reported what the run did first, and the run took plan()'s path: the same first step
    # (the same live config went in) and the same reconfigs and step-downs in the same order.
    assert applied["steps"][0]["reasons"] == checked["steps"][0]["reasons"]
    executed = [s for s in applied["steps"] if s["action"] != "set_default_write_concern"]
    assert executed[0]["reasons"] == planned[0]["reasons"]
    assert [s["action"] for s in executed] == [s["action"] for s in planned], (reasons(executed), reasons(planned))
    writer.wait_for_acknowledged(5)  # and still flowing after it

    after = assert_members(cluster, expected)
    for check in (True, False):
        again = run_playbook(tasks, check=check).results[-1]
        assert again["changed"] is False and again["steps"] == [], again
    assert live_config(cluster)["version"] == after["version"], "the second run changed the config"

    report = writer.stop()
    writer.assert_no_acknowledged_write_lost()
    print("steps: %s" % reasons(applied["steps"]))
    applied["writer"] = report
    applied["planned"] = planned
    return applied


def refused(cluster, run_playbook, members):
    """Check mode and a real run both refuse ``members``, naming the write-concern rule; nothing changes."""
    tasks = [task(cluster, members)]
    with pytest.raises(WriteConcernRuleError) as raised:
        plan_now(cluster, tasks[0][MODULE])
    before = live_config(cluster)
    for check in (True, False):
        failed = run_playbook(tasks, check=check, expect_failure=True).results[-1]
        assert failed["steps"] == [] and failed["changed"] is False, failed
        assert "implicit default write concern" in failed["msg"], failed["msg"]
        assert "default_write_concern" in failed["msg"], failed["msg"]
        assert failed["msg"] == str(raised.value)  # plan()'s own refusal, sent before anything else
    after = live_config(cluster)
    assert after["version"] == before["version"] and after["members"] == before["members"]
    assert not global_default_write_concern(cluster)


# ---------------------------------------------------------------- a. hidden delayed voter and arbiter out, one in


def test_arbiter_and_hidden_delayed_voter_removed_one_data_member_added(mongosim_cluster, run_playbook,
                                                                        majority_writer):
    # Live: A B C, D hidden priority 0 with a delay (voting), E arbiter: 5 voters, 4 data-bearing, so
    # the implicit default write concern is majority (4 > 5/2 + 1). Declared: A B C F.
    # By hand, 2 reconfigs: D and E both vote and leave, two voting changes, so at least two steps.
    # Two suffice: (1) remove E and add F (F enters newlyAdded and does not count: one change; A B C D
    # vote, no arbiter, still majority, and so once F counts); (2) remove D. Removing D first would leave
    # P S S A, whose implicit write concern is w:1 (3 > 4/2 + 1 is false): refused, so E leaves first.
    cluster = start_set(mongosim_cluster, run_playbook, 6, lambda h: [
        {"host": h[0]}, {"host": h[1]}, {"host": h[2]},
        {"host": h[3], "hidden": True, "priority": 0, "secondary_delay_secs": 30},
        {"host": h[4], "arbiter_only": True}])
    a, b, c, d, e, f = cluster.hosts
    assert_members(cluster, [expect(a), expect(b), expect(c), expect(d, priority=0, hidden=True, delay=30),
                             expect(e, priority=0, arbiter=True)])
    outcome = converge(cluster, run_playbook, majority_writer, [{"host": a}, {"host": b}, {"host": c}, {"host": f}],
                       2, [expect(a), expect(b), expect(c), expect(f)])
    assert actions(outcome["steps"], "step_down") == 0
    assert outcome["primary"] in (a, b, c)
    assert not global_default_write_concern(cluster), "the run set a cluster-wide default it was not given"


# ---------------------------------------------------------------- b. PSS -> PSA and back


def test_pss_to_psa_needs_a_default_write_concern_then_back(mongosim_cluster, run_playbook, majority_writer):
    cluster = start_set(mongosim_cluster, run_playbook, 4, lambda h: [{"host": x} for x in h[:3]])
    primary = cluster.primary()
    secondaries = [h for h in cluster.hosts[:3] if h != primary]
    kept, replaced, arbiter = [primary, secondaries[0]], secondaries[1], cluster.hosts[3]
    psa = [{"host": h} for h in kept] + [{"host": arbiter, "arbiter_only": True}]
    pss = [{"host": h} for h in kept + [replaced]]

    # P S S has the implicit write concern majority, P S A w:1 (2 > 3/2 + 1 is false): refused as long
    # as no cluster-wide default is set.
    refused(cluster, run_playbook, psa)
    assert_members(cluster, [expect(h) for h in kept + [replaced]])

    # With one, by hand, 2 reconfigs: a secondary leaves and an arbiter (voting at once) enters, two
    # voting changes. The primary stays.
    outcome = converge(cluster, run_playbook, majority_writer, psa, 2,
                       [expect(h) for h in kept] + [expect(arbiter, priority=0, arbiter=True)],
                       default_write_concern=MAJORITY)
    assert [s["action"] for s in outcome["steps"]][:1] == ["set_default_write_concern"]
    assert actions(outcome["steps"], "step_down") == 0
    assert global_default_write_concern(cluster)

    # Back to P S S with the member that left, without default_write_concern: the cluster-wide
    # default set above is found and the write-concern rule no longer applies. By hand, 1 reconfig:
    # the arbiter leaves (the one voting change) and the old member is added again, as newlyAdded.
    # mongod's PSA rule does not apply: the old config has 2 writable voters of 3, a majority.
    outcome = converge(cluster, run_playbook, majority_writer, pss, 1, [expect(h) for h in kept + [replaced]])
    assert actions(outcome["steps"], "set_default_write_concern") == 0


# ---------------------------------------------------------------- c. PSA -> PSS' (the arbiter replaced)


def test_arbiter_replaced_by_a_data_member_needs_a_default_write_concern(
        mongosim_cluster, run_playbook, majority_writer):
    # P S A has the implicit write concern w:1, P S S' majority. Every path between them changes it at
    # some step (each step keeps it, and the two ends differ), so without a cluster-wide default no
    # path exists at all, in one run or several: plan() raises WriteConcernRuleError and the module
    # refuses before anything is sent. Adding S' first (P S A S', w:1 still) and removing the arbiter
    # in a later run meets the same rule at the removal.
    cluster = start_set(mongosim_cluster, run_playbook, 4, lambda h: [
        {"host": h[0]}, {"host": h[1]}, {"host": h[2], "arbiter_only": True}])
    a, b, arbiter, new = cluster.hosts
    declared = [{"host": a}, {"host": b}, {"host": new}]
    refused(cluster, run_playbook, declared)
    assert_members(cluster, [expect(a), expect(b), expect(arbiter, priority=0, arbiter=True)])

    # With a cluster-wide default, by hand 1 reconfig: the arbiter leaves (the one voting change) and
    # S' enters as newlyAdded. The PSA rule does not apply (2 writable voters of 3 is a majority).
    outcome = converge(cluster, run_playbook, majority_writer, declared, 1, [expect(a), expect(b), expect(new)],
                       default_write_concern=MAJORITY)
    assert [s["action"] for s in outcome["steps"]] == ["set_default_write_concern", "reconfig"]


# ---------------------------------------------------------------- d. votes moved at the 7-voter cap


def test_votes_moved_between_members_at_the_seven_voter_cap(mongosim_cluster, run_playbook, majority_writer):
    cluster = start_set(mongosim_cluster, run_playbook, 8, lambda h: [{"host": x} for x in h[:7]] + [
        {"host": h[7], "votes": 0, "priority": 0}])
    primary = cluster.primary()
    loser = [h for h in cluster.hosts[:7] if h != primary][-1]
    gainer = cluster.hosts[7]
    # By hand, 2 reconfigs: the voter count may never exceed 7 (a newlyAdded voter included, once it
    # counts), so the gainer cannot vote before the loser stops. If the gainer keeps its identity, its
    # vote is a voting change of its own, in another step than the loser's; if it is removed and added
    # again (entering as newlyAdded, no counted change), the removal and the addition of one host are
    # two configs. Either way two steps, and two are enough.
    declared = [{"host": h, "votes": 0} if h == loser else {"host": h} for h in cluster.hosts]
    assert_members(cluster, [expect(h, votes=0, priority=0) if h == gainer else expect(h) for h in cluster.hosts])
    outcome = converge(cluster, run_playbook, majority_writer, declared, 2,
                       [expect(h, votes=0, priority=0) if h == loser else expect(h) for h in cluster.hosts])
    assert actions(outcome["steps"], "step_down") == 0
    assert len([m for m in live_config(cluster)["members"] if m["votes"]]) == 7


# ---------------------------------------------------------------- e. the primary removed with another member


def test_primary_removed_together_with_another_member(mongosim_cluster, run_playbook, majority_writer):
    cluster = start_set(mongosim_cluster, run_playbook, 5, lambda h: [{"host": x} for x in h])
    primary = cluster.primary()
    others = [h for h in cluster.hosts if h != primary]
    kept, removed = others[1:], [primary, others[0]]
    # By hand, 2 reconfigs and 1 step-down: two voters leave, one voting change each; the primary
    # cannot remove itself (it must stay electable), so it steps down before its removal.
    outcome = converge(cluster, run_playbook, majority_writer, [{"host": h} for h in kept], 2,
                       [expect(h) for h in kept])
    assert actions(outcome["steps"], "step_down") == actions(outcome["planned"], "step_down") == 1
    assert [s["member"] for s in outcome["steps"] if s["action"] == "step_down"] == [primary]
    assert outcome["primary"] in kept
    assert cluster.primary() in kept
    for host in removed:
        wait_for(lambda host=host: cluster.hello(host).get("setName") is None,
                 what="%s to leave the set" % host)


# ---------------------------------------------------------------- f. buildIndexes changed on two members


def test_build_indexes_turned_off_on_two_members_in_one_run(mongosim_cluster, run_playbook, majority_writer):
    cluster = start_set(mongosim_cluster, run_playbook, 5, lambda h: [{"host": x} for x in h])
    primary = cluster.primary()
    changed = [h for h in cluster.hosts if h != primary][-2:]
    # By hand, 3 reconfigs: buildIndexes changes only by remove-then-add, and a host cannot leave and
    # come back in one config. The two removals are voting changes, so they take two steps; the second
    # member comes back after its removal, in a third step at the earliest. Three suffice: (1) remove
    # the first; (2) remove the second, add the first again (newlyAdded: no counted change); (3) add the
    # second again. buildIndexes: false needs priority 0, and hidden is declared with it.
    declared = [{"host": h, "build_indexes": False, "hidden": True, "priority": 0} if h in changed
                else {"host": h} for h in cluster.hosts]
    before = {m["host"]: m["_id"] for m in live_config(cluster)["members"]}
    converge(cluster, run_playbook, majority_writer, declared, 3,
             [expect(h, priority=0, hidden=True, build_indexes=False) if h in changed else expect(h)
              for h in cluster.hosts])
    after = {m["host"]: m["_id"] for m in live_config(cluster)["members"]}
    # Removed and added again: new _ids for the two, the same for the others.
    assert all(after[h] != before[h] for h in changed)
    assert all(after[h] == before[h] for h in cluster.hosts if h not in changed)
