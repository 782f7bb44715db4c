"""The feature compatibility version (SEMANTICS.md 11.1): its document in the dbPath,
getParameter, setFeatureCompatibilityVersion and its transitional states, arbiters,
a binary refusing data of the wrong FCV, and a mixed-version set."""

import os

import pytest
from pymongo.write_concern import WriteConcern

from conftest import FAST, direct, error_of, primary_of, state_of, wait_for
from mongosim import fcv as fcvmod


def fcv_of(host):
    return direct(host).admin.command("getParameter", 1, featureCompatibilityVersion=1)["featureCompatibilityVersion"]


def stored_fcv(host):
    return direct(host, readPreference="secondaryPreferred").admin["system.version"].find_one(
        {"_id": "featureCompatibilityVersion"})


def set_fcv(host, version, **kwargs):
    return direct(host).admin.command("setFeatureCompatibilityVersion", version, confirm=True, **kwargs)


def single(make_cluster, version, **kwargs):
    cluster = make_cluster(1, version=version, **kwargs)
    direct(cluster.hosts[0]).admin.command("replSetInitiate")
    primary_of(cluster.hosts)
    return cluster


# ---------------------------------------------------------------- pure rules

@pytest.mark.parametrize("doc, requested, binary, written", [
    (fcvmod.steady("7.0"), "8.0", "8.0", [fcvmod.upgrading("7.0", "8.0"), fcvmod.steady("8.0")]),
    (fcvmod.steady("8.0"), "7.0", "8.0", [fcvmod.downgrading("8.0", "7.0"), fcvmod.steady("7.0")]),
    (fcvmod.steady("8.0"), "8.0", "8.0", []),
    (fcvmod.upgrading("7.0", "8.0"), "8.0", "8.0", [fcvmod.steady("8.0")]),
    (fcvmod.downgrading("8.0", "7.0"), "7.0", "8.0", [fcvmod.steady("7.0")]),
    (fcvmod.downgrading("8.0", "7.0"), "8.0", "8.0", [fcvmod.upgrading("7.0", "8.0"), fcvmod.steady("8.0")]),
])
def test_permitted_transitions(doc, requested, binary, written):
    assert fcvmod.plan(doc, requested, binary) == written


def test_an_upgrade_in_progress_cannot_turn_into_a_downgrade():
    with pytest.raises(fcvmod.FCVError) as info:
        fcvmod.plan(fcvmod.upgrading("7.0", "8.0"), "7.0", "8.0")
    assert info.value.code == 5147403
    assert info.value.message == ("cannot set featureCompatibilityVersion to '7.0' while featureCompatibilityVersion "
                                  "is 'upgrading from 7.0 to 8.0'")


@pytest.mark.parametrize("doc, binary, ok", [
    (fcvmod.steady("7.0"), "8.0", True), (fcvmod.steady("6.0"), "8.0", False), (fcvmod.steady("8.0"), "7.0", False),
    (fcvmod.upgrading("7.0", "8.0"), "7.0", False), (fcvmod.steady("6.0"), "7.0", True),
])
def test_which_documents_a_binary_starts_on(doc, binary, ok):
    assert (fcvmod.startup_problem(doc, binary) is None) == ok


# ---------------------------------------------------------------- against the server

def test_fcv_document_is_created_by_initiate_replicated_and_persisted(rs3):
    primary = primary_of(rs3.hosts)
    for host in rs3.hosts:
        wait_for(lambda h=host: stored_fcv(h) == {"_id": "featureCompatibilityVersion", "version": "8.0"},
                 what="the FCV document on %s" % host)
        assert fcv_of(host) == {"version": "8.0"}
    assert set_fcv(primary, "7.0")["ok"] == 1.0
    for host in rs3.hosts:
        wait_for(lambda h=host: fcv_of(h) == {"version": "7.0"}, what="FCV 7.0 on %s" % host)
    member = rs3.members[1]
    member.restart()
    wait_for(lambda: fcv_of(member.host) == {"version": "7.0"}, what="FCV 7.0 after a restart")


def test_set_fcv_is_idempotent(make_cluster):
    cluster = single(make_cluster, "8.0.4")
    host = cluster.hosts[0]
    assert set_fcv(host, "8.0")["ok"] == 1.0
    assert fcv_of(host) == {"version": "8.0"}


def test_set_fcv_without_confirm_names_the_flag(make_cluster):
    cluster = single(make_cluster, "8.0.4")
    code, msg = error_of(lambda: direct(cluster.hosts[0]).admin.command("setFeatureCompatibilityVersion", "7.0"))
    assert code == 7369100
    assert "Please re-run this command with 'confirm: true'" in msg
    assert fcv_of(cluster.hosts[0]) == {"version": "8.0"}


@pytest.mark.parametrize("target", ["6.0", "9.0"])
def test_set_fcv_outside_the_binary_range(make_cluster, target):
    cluster = single(make_cluster, "8.0.4")
    code, msg = error_of(lambda: set_fcv(cluster.hosts[0], target))
    assert code == 2
    assert "expected '7.0' or '8.0'" in msg


def test_interrupted_upgrade_is_visible_survives_a_restart_and_is_finished_by_repeating(make_cluster):
    cluster = single(make_cluster, "8.0.4", parameters={"enableTestCommands": 1})
    host = cluster.hosts[0]
    set_fcv(host, "7.0")
    direct(host).admin.command("configureFailPoint", "failAfterReachingTransitioningState", mode="alwaysOn")
    code, _msg = error_of(lambda: set_fcv(host, "8.0"))
    assert code == 7555200
    assert fcv_of(host) == {"version": "7.0", "targetVersion": "8.0"}
    cluster.members[0].restart()
    primary_of(cluster.hosts)
    assert fcv_of(host) == {"version": "7.0", "targetVersion": "8.0"}
    code, msg = error_of(lambda: set_fcv(host, "7.0"))
    assert (code, msg) == (5147403, "cannot set featureCompatibilityVersion to '7.0' while "
                                    "featureCompatibilityVersion is 'upgrading from 7.0 to 8.0'")
    assert set_fcv(host, "8.0")["ok"] == 1.0
    assert fcv_of(host) == {"version": "8.0"}


def test_interrupted_downgrade_can_be_finished_or_reverted(make_cluster):
    cluster = single(make_cluster, "8.0.4", parameters={"enableTestCommands": 1})
    host = cluster.hosts[0]
    direct(host).admin.command("configureFailPoint", "failAfterReachingTransitioningState", mode="alwaysOn")
    assert error_of(lambda: set_fcv(host, "7.0"))[0] == 7555200
    assert fcv_of(host) == {"version": "7.0", "targetVersion": "7.0", "previousVersion": "8.0"}
    direct(host).admin.command("configureFailPoint", "failAfterReachingTransitioningState", mode="off")
    assert set_fcv(host, "8.0")["ok"] == 1.0
    assert fcv_of(host) == {"version": "8.0"}


def test_arbiter_reports_its_binary_last_lts(make_cluster):
    cluster = make_cluster(3)
    config = cluster.initiate_config(**FAST)
    config["members"][2]["arbiterOnly"] = True
    direct(cluster.hosts[0]).admin.command("replSetInitiate", config)
    primary_of(cluster.hosts)
    wait_for(lambda: state_of(cluster.hosts[2]) == 7, what="the arbiter")
    assert fcv_of(cluster.hosts[2]) == {"version": "7.0"}
    wait_for(lambda: fcv_of(cluster.hosts[1]) == {"version": "8.0"}, what="the secondary's FCV")


def start_fails(member):
    member.start(wait=False)
    assert member.wait_exit(30.0), "the member kept running"
    return member.proc.returncode


@pytest.mark.parametrize("written_by, started_with", [("6.0.19", "8.0.4"), ("8.0.4", "7.0.14")])
def test_binary_refuses_data_of_an_fcv_it_cannot_use(make_cluster, written_by, started_with):
    cluster = single(make_cluster, written_by)
    member = cluster.members[0]
    member.stop()
    member.version = started_with
    assert start_fails(member) == 62
    with open(os.path.join(member.dir, "stdout.log"), encoding="utf-8") as handle:
        output = handle.read()
    assert "UPGRADE PROBLEM: Found an invalid featureCompatibilityVersion document" in output
    with open(member.logpath, encoding="utf-8") as handle:
        assert '"id":20573' in handle.read()


def test_one_major_up_starts_and_keeps_the_fcv(make_cluster):
    cluster = single(make_cluster, "7.0.14")
    member = cluster.members[0]
    member.stop()
    member.version = "8.0.4"
    member.start()
    primary_of(cluster.hosts)
    assert direct(member.host).admin.command("buildInfo")["version"] == "8.0.4"
    assert fcv_of(member.host) == {"version": "7.0"}


def test_mixed_version_set_replicates_until_the_fcv_is_raised(make_cluster):
    cluster = make_cluster(3, version="7.0.14")
    config = cluster.initiate_config(**FAST)
    config["members"][2]["priority"] = 0
    direct(cluster.hosts[0]).admin.command("replSetInitiate", config)
    primary_of(cluster.hosts)
    for member in cluster.members[:2]:
        member.stop()
        member.version = "8.0.4"
        member.start()
        wait_for(lambda m=member: state_of(m.host) == 2, what="%s SECONDARY on 8.0" % member.host)
    primary = primary_of(cluster.hosts)
    assert direct(primary).admin.command("buildInfo")["version"] == "8.0.4"
    old = cluster.members[2].host
    coll = direct(primary).test.get_collection("mixed")
    coll.with_options(write_concern=WriteConcern(w=3, wtimeout=20000)).insert_one({"_id": 1})
    assert direct(old, readPreference="secondaryPreferred").test.mixed.find_one({"_id": 1}) == {"_id": 1}
    assert fcv_of(primary) == {"version": "7.0"}
    # mongod does not refuse here: it raises its minimum wire version, so the 7.0 member is cut off.
    assert set_fcv(primary, "8.0")["ok"] == 1.0

    def old_member_unreachable():
        status = direct(primary).admin.command("replSetGetStatus")
        return any(m["name"] == old and m["health"] == 0 for m in status["members"])
    wait_for(old_member_unreachable, what="the 7.0 member cut off once the FCV is 8.0")
