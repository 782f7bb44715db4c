"""Unit tests for plugins/module_utils/replicaset_versions.py (preflight, order and FCV decisions)."""

import pytest

from ansible_collections.quorum.mongodb.plugins.module_utils import replicaset_versions as rv


def member(host, state="SECONDARY", version="7.0.14", fcv="7.0", arbiter=False, **extra):
    doc = {"host": host, "state": state, "version": version, "arbiter": arbiter}
    if arbiter:
        doc["fcv"] = {"version": rv.LAST_LTS[rv.series(version)]}
    elif isinstance(fcv, dict):
        doc["fcv"] = fcv
    else:
        doc["fcv"] = {"version": fcv} if fcv else None
    doc.update(extra)
    return doc


def set_of(versions, fcv="7.0", primary="db1:27017", arbiter=None):
    members = [member(host, "PRIMARY" if host == primary else "SECONDARY", version, fcv)
               for host, version in versions.items()]
    if arbiter:
        members.append(member(arbiter[0], "ARBITER", arbiter[1], arbiter=True))
    return members


# ------------------------------------------------------------------ versions

@pytest.mark.parametrize("text, parsed", [("8.0", (8, 0, None)), ("8.0.4", (8, 0, 4)), ("7.0.14-rc0", (7, 0, 14))])
def test_parse_version(text, parsed):
    assert rv.parse_version(text) == parsed


@pytest.mark.parametrize("text", ["8", "eight", "8.0.x", "", None, "8.0.4.1"])
def test_parse_version_refuses(text):
    with pytest.raises(rv.VersionError, match="is not a MongoDB version"):
        rv.parse_version(text, "install_mongodb_version")


def test_next_major():
    assert rv.next_major("7.0") == "8.0"
    assert rv.next_major("6.0") == "7.0"


# ------------------------------------------------------------------ preflight

def test_one_major_up_from_the_fcv_is_allowed():
    assert rv.binary_preflight(set_of({"db1:27017": "7.0.14", "db2:27017": "7.0.14"}), "8.0") == []


def test_two_majors_up_is_refused_with_the_way_through():
    problems = rv.binary_preflight(set_of({"db1:27017": "6.0.19", "db2:27017": "6.0.19"}, fcv="6.0"), "8.0")
    assert len(problems) == 1
    assert "6.0 to 8.0 skips a major release" in problems[0]
    assert 'install_mongodb_version: "7.0"' in problems[0]
    assert 'replicaset_feature_compatibility_version: "7.0"' in problems[0]


def test_binaries_one_up_but_fcv_left_behind_is_still_a_skip():
    # 7.0 binaries on FCV 6.0: 8.0 would not start on that data.
    problems = rv.binary_preflight(set_of({"db1:27017": "7.0.14", "db2:27017": "7.0.14"}, fcv="6.0"), "8.0")
    assert len(problems) == 1
    assert "7.0 to 8.0 skips a major release" in problems[0]
    assert "feature compatibility version is 6.0" in problems[0]
    # The way through is the FCV, not another binary step.
    assert 'raise the FCV first (replicaset_feature_compatibility_version: "7.0"' in problems[0]
    assert 'install_mongodb_version: "7.0"' not in problems[0]


def test_unhealthy_members_are_named():
    members = set_of({"db1:27017": "7.0.14", "db2:27017": "7.0.14", "db3:27017": "7.0.14"})
    members[1]["state"] = "RECOVERING"
    members[2]["error"] = "connection refused"
    problems = rv.binary_preflight(members, "8.0")
    assert "db2:27017 is RECOVERING (must be PRIMARY, SECONDARY or ARBITER)" in problems
    assert "db3:27017 did not answer: connection refused" in problems


def test_no_primary_is_a_problem():
    members = set_of({"db1:27017": "7.0.14", "db2:27017": "7.0.14"}, primary=None)
    assert "no member is PRIMARY" in rv.binary_preflight(members, "8.0")


def test_downgrade_needs_the_fcv_and_the_user():
    members = set_of({"db1:27017": "8.0.4", "db2:27017": "8.0.4"}, fcv="7.0")
    problems = rv.binary_preflight(members, "7.0")
    assert len(problems) == 1 and "mongod_allow_binary_downgrade: true" in problems[0]
    assert rv.binary_preflight(members, "7.0", allow_downgrade=True) == []


def test_downgrade_below_the_fcv_is_refused_even_when_allowed():
    members = set_of({"db1:27017": "8.0.4", "db2:27017": "8.0.4"}, fcv="8.0")
    problems = rv.binary_preflight(members, "7.0", allow_downgrade=True)
    assert len(problems) == 1 and "below the feature compatibility version 8.0" in problems[0]


def test_an_interrupted_fcv_change_blocks_binaries():
    members = set_of({"db1:27017": "8.0.4", "db2:27017": "8.0.4"},
                     fcv={"version": "7.0", "targetVersion": "8.0"})
    problems = rv.binary_preflight(members, "8.0.5")
    assert any("upgrading from 7.0 to 8.0 (interrupted)" in p for p in problems)


def test_the_arbiter_is_not_the_gate():
    # An 8.0 arbiter reports FCV 7.0; the set's FCV is 8.0 on the data members.
    members = set_of({"db1:27017": "8.0.4", "db2:27017": "8.0.4"}, fcv="8.0", arbiter=("arb:27017", "8.0.4"))
    assert rv.live_fcv(members) == {"version": "8.0"}
    assert rv.binary_preflight(members, "8.0.5") == []


def test_unsupported_target():
    problems = rv.binary_preflight(set_of({"db1:27017": "7.0.14"}), "9.0")
    assert problems == ["install_mongodb_version 9.0: supported releases are 6.0, 7.0, 8.0"]


# ------------------------------------------------------------------ order

def test_rolling_order_secondaries_and_arbiters_first_primary_last():
    members = set_of({"db2:27017": "7.0.14", "db1:27017": "7.0.14", "db3:27017": "7.0.14"},
                     primary="db2:27017", arbiter=("arb:27017", "7.0.14"))
    assert rv.rolling_order(members, "8.0") == ["arb:27017", "db1:27017", "db3:27017", "db2:27017"]


def test_rolling_order_resumes_where_it_stopped():
    members = set_of({"db1:27017": "7.0.14", "db2:27017": "8.0.4", "db3:27017": "8.0.4"})
    assert rv.rolling_order(members, "8.0") == ["db1:27017"]
    assert rv.rolling_order(members, "8.0.4") == ["db1:27017"]
    assert rv.rolling_order(members, "8.0.5") == ["db2:27017", "db3:27017", "db1:27017"]
    done = set_of({"db1:27017": "8.0.4", "db2:27017": "8.0.4"})
    assert rv.rolling_order(done, "8.0") == []


def down(members, host):
    for m in members:
        if m["host"] == host:
            m.update(state="UNKNOWN", version=None, fcv=None, error="connection refused")
    return members


def test_a_member_down_does_not_refuse_a_run_that_replaces_no_binary():
    # Every member that answers runs 8.0 already: nothing is replaced now, so the health rule has nothing to
    # guard; the member that did not answer is deferred (checked when it answers), not a refusal.
    members = down(set_of({"db1:27017": "8.0.4", "db2:27017": "8.0.4", "db3:27017": "8.0.4"}, fcv="8.0"),
                   "db3:27017")
    assert rv.upgrade_decision(members, "8.0") == {"problems": [], "order": [], "deferred": ["db3:27017"]}
    # Nor a member in another state, or no primary, when every member runs its target.
    recovering = set_of({"db1:27017": "8.0.4", "db2:27017": "8.0.4"}, fcv="8.0", primary=None)
    recovering[1]["state"] = "RECOVERING"
    assert rv.upgrade_decision(recovering, "8.0") == {"problems": [], "order": [], "deferred": []}


def test_a_member_down_still_refuses_a_run_that_replaces_a_binary():
    members = down(set_of({"db1:27017": "7.0.14", "db2:27017": "7.0.14", "db3:27017": "7.0.14"}), "db3:27017")
    decision = rv.upgrade_decision(members, "8.0")
    assert "db3:27017 did not answer: connection refused" in decision["problems"]
    assert decision["order"] == ["db2:27017", "db3:27017", "db1:27017"] and decision["deferred"] == []
    # A skip is refused whoever answers, and a target of another series always.
    assert any("skips a major release" in p for p in rv.upgrade_decision(set_of(
        {"db1:27017": "6.0.19", "db2:27017": "6.0.19"}, fcv="6.0"), "8.0")["problems"])
    assert rv.upgrade_decision(down(set_of({"db1:27017": "8.0.4", "db2:27017": "8.0.4"}, fcv="8.0"), "db2:27017"),
                               "8.0", {"db1:27017": "7.0.14"})["problems"] != []


def test_a_patch_upgrade_of_archive_members_goes_by_each_members_own_version():
    # install_mongodb_version stays "8.0"; the archive members' new tarball is 8.0.5, the member that installs
    # the newest 8.0 package from a repository is not pinned. Only the archive members are replaced, the
    # primary last, and a member already on its archive's release is done.
    members = set_of({"db1:27017": "8.0.4", "db2:27017": "8.0.4", "db3:27017": "8.0.4"})
    targets = {"db1:27017": "8.0.5", "db2:27017": "8.0.5"}
    assert rv.rolling_order(members, "8.0", targets) == ["db2:27017", "db1:27017"]
    half = set_of({"db1:27017": "8.0.4", "db2:27017": "8.0.5", "db3:27017": "8.0.4"})
    assert rv.rolling_order(half, "8.0", targets) == ["db1:27017"]
    assert rv.target_problems("8.0", targets) == []


def test_members_to_run_different_series_are_refused_by_name():
    problems = rv.target_problems("8.0", {"db1:27017": "8.0.5", "db2:27017": "7.0.14"})
    assert len(problems) == 1
    assert "db2:27017 7.0.14" in problems[0] and "db1" not in problems[0]
    assert "one series" in problems[0]
    with pytest.raises(rv.VersionError, match="db3:27017"):
        rv.target_problems("8.0", {"db3:27017": "eight"})


def test_a_half_done_upgrade_may_go_on():
    # An interrupted run left the first secondary on 8.0.4: the next run's check accepts the mixed set and
    # replaces the rest, the primary last.
    half = set_of({"db1:27017": "7.0.14", "db2:27017": "8.0.4", "db3:27017": "7.0.14"})
    assert rv.binary_preflight(half, "8.0") == []
    assert rv.binary_preflight(half, "8.0.4") == []
    assert rv.rolling_order(half, "8.0") == ["db3:27017", "db1:27017"]


def test_a_half_done_upgrade_still_refuses_what_a_whole_set_would():
    half = set_of({"db1:27017": "7.0.14", "db2:27017": "8.0.4", "db3:27017": "7.0.14"})
    # Going back to 7.0 from the half-done set is a binary downgrade for db2: only when the user says so.
    assert any("binary downgrade" in p for p in rv.binary_preflight(half, "7.0"))
    assert rv.binary_preflight(half, "7.0", allow_downgrade=True) == []
    # A member that is down in the middle of it is named.
    half[2]["state"] = "(not reachable/healthy)"
    assert any("db3:27017" in p for p in rv.binary_preflight(half, "8.0"))
    # A mixed set under a 6.0 FCV cannot take 8.0 either.
    old = set_of({"db1:27017": "6.0.19", "db2:27017": "7.0.14"}, fcv="6.0")
    assert any("skips a major release" in p for p in rv.binary_preflight(old, "8.0"))


# ------------------------------------------------------------------ mixed versions

def test_mixed_versions_names_members_and_versions():
    message = rv.mixed_versions(set_of({"db1:27017": "8.0.4", "db2:27017": "7.0.14"}))
    assert "db1:27017 runs 8.0.4, db2:27017 runs 7.0.14" in message
    assert "no replica-set reconfig" in message


def test_patch_levels_are_not_mixed_releases():
    assert rv.mixed_versions(set_of({"db1:27017": "8.0.4", "db2:27017": "8.0.5"})) is None


# ------------------------------------------------------------------ FCV

def test_fcv_set_when_declared_differs_and_every_binary_supports_it():
    members = set_of({"db1:27017": "8.0.4", "db2:27017": "8.0.4"}, fcv="7.0", arbiter=("arb:27017", "8.0.4"))
    decision = rv.fcv_decision("8.0", members)
    assert decision["action"] == "set"
    assert decision["command"] == {"setFeatureCompatibilityVersion": "8.0", "confirm": True}
    assert decision["before"] == "7.0"


def test_fcv_already_there_is_idempotent():
    members = set_of({"db1:27017": "8.0.4", "db2:27017": "8.0.4"}, fcv="8.0")
    assert rv.fcv_decision("8.0", members)["action"] == "none"


def test_fcv_not_declared_leaves_it():
    members = set_of({"db1:27017": "8.0.4", "db2:27017": "7.0.14"}, fcv="7.0")
    assert rv.fcv_decision(None, members)["action"] == "none"


def test_fcv_refused_while_a_data_member_runs_an_older_binary():
    members = set_of({"db1:27017": "8.0.4", "db2:27017": "7.0.14"}, fcv="7.0")
    with pytest.raises(rv.VersionError) as info:
        rv.fcv_decision("8.0", members)
    assert "db2:27017 runs 7.0.14" in str(info.value)
    assert "db1:27017" not in str(info.value)


def test_fcv_arbiter_fcv_is_not_read_but_its_binary_counts():
    # An 8.0 arbiter reports 7.0: the set's FCV (8.0) comes from the data members.
    members = set_of({"db1:27017": "8.0.4", "db2:27017": "8.0.4"}, fcv="8.0", arbiter=("arb:27017", "8.0.4"))
    assert rv.fcv_decision("8.0", members)["action"] == "none"
    # A 7.0 arbiter would be cut off by an FCV of 8.0.
    members = set_of({"db1:27017": "8.0.4", "db2:27017": "8.0.4"}, fcv="7.0", arbiter=("arb:27017", "7.0.14"))
    with pytest.raises(rv.VersionError, match="arb:27017 runs 7.0.14"):
        rv.fcv_decision("8.0", members)


def test_fcv_on_6_0_has_no_confirm():
    members = set_of({"db1:27017": "6.0.19", "db2:27017": "6.0.19"}, fcv="5.0")
    assert rv.fcv_decision("6.0", members)["command"] == {"setFeatureCompatibilityVersion": "6.0"}


def test_fcv_interrupted_upgrade_is_finished():
    members = set_of({"db1:27017": "8.0.4", "db2:27017": "8.0.4"}, fcv={"version": "7.0", "targetVersion": "8.0"})
    decision = rv.fcv_decision("8.0", members)
    assert decision["action"] == "set"
    assert decision["reason"] == "finish the interrupted upgrading from 7.0 to 8.0"


def test_fcv_interrupted_upgrade_cannot_be_reverted():
    members = set_of({"db1:27017": "8.0.4", "db2:27017": "8.0.4"}, fcv={"version": "7.0", "targetVersion": "8.0"})
    with pytest.raises(rv.VersionError, match='only finishing an interrupted upgrade.*"8.0"'):
        rv.fcv_decision("7.0", members)


@pytest.mark.parametrize("declared, reason", [
    ("7.0", "finish the interrupted downgrading from 8.0 to 7.0"),
    ("8.0", "revert the interrupted downgrade from 8.0 to 7.0: back up to 8.0"),
])
def test_fcv_interrupted_downgrade_is_finished_or_reverted(declared, reason):
    members = set_of({"db1:27017": "8.0.4", "db2:27017": "8.0.4"},
                     fcv={"version": "7.0", "targetVersion": "7.0", "previousVersion": "8.0"})
    decision = rv.fcv_decision(declared, members)
    assert (decision["action"], decision["reason"]) == ("set", reason)
    assert decision["before"] == "downgrading from 8.0 to 7.0 (interrupted)"


@pytest.mark.parametrize("declared", ["8", "8.0.4"])
def test_fcv_must_be_a_series(declared):
    members = set_of({"db1:27017": "8.0.4"}, fcv="8.0")
    with pytest.raises(rv.VersionError):
        rv.fcv_decision(declared, members)


def test_fcv_unknown_binary_blocks():
    members = set_of({"db1:27017": "8.0.4", "db2:27017": "8.0.4"}, fcv="7.0")
    members[1]["version"] = None
    members[1]["error"] = "timed out"
    with pytest.raises(rv.VersionError, match="db2:27017 is unknown"):
        rv.fcv_decision("8.0", members)
