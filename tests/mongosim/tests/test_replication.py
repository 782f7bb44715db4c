"""Replication between mongosim processes: elections, failover without losing
majority-acknowledged writes, restart from dbPath, rollback, step-down with
hand-off, priority takeover, arbiters, hidden and delayed members, write
concern, majority loss."""

import json
import os
import threading
import time

import pytest
from bson.timestamp import Timestamp
from pymongo import MongoClient, WriteConcern
from pymongo.errors import PyMongoError, WTimeoutError

from conftest import FAST, direct, error_of, primary_of, state_of, wait_for


def rs_client(cluster, **kwargs):
    kwargs.setdefault("serverSelectionTimeoutMS", 30000)
    return MongoClient(",".join(cluster.hosts), replicaSet=cluster.repl_set, **kwargs)


def initiate(cluster, members=None, **settings):
    default_members = [{"_id": i, "host": h} for i, h in enumerate(cluster.hosts)]
    config = {"_id": cluster.repl_set, "members": members or default_members,
              "settings": dict(FAST, **settings)}
    direct(cluster.hosts[0]).admin.command("replSetInitiate", config)
    return primary_of([m["host"] for m in config["members"] if not m.get("arbiterOnly")])


def port_of(host):
    return int(host.rsplit(":", 1)[1])


def log_entries(cluster, host, log_id):
    with open(cluster.member(port_of(host)).logpath, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if '"id":%d,' % log_id in line.replace(" ", "")]


def test_initiate_elects_one_primary_and_two_secondaries(rs3):
    states = sorted(state_of(h) for h in rs3.hosts)
    assert states == [1, 2, 2]
    primary = primary_of(rs3.hosts)
    hello = direct(primary).admin.command("hello")
    assert hello["setName"] == "rs0" and hello["primary"] == primary and hello["me"] == primary
    assert hello["hosts"] == rs3.hosts
    term = direct(primary).admin.command("replSetGetStatus")["term"]
    assert hello["electionId"].binary == bytes.fromhex("7fffffff") + int(term).to_bytes(8, "big")


def state_transitions(cluster, host):
    return [e["attr"]["newState"] for e in log_entries(cluster, host, 21358) if "newState" in e.get("attr", {})]


def test_the_initiator_wins_the_first_election(make_cluster):
    """After replSetInitiate the initiator is SECONDARY at once; the others first learn
    the config by heartbeat, wait for 2N heartbeat responses before they choose an
    initial sync source, sync, pass through RECOVERING and only then start their
    election timers, so the initiator's timer runs out first (mongod's causes, not a
    rule that it wins)."""
    settings = {"electionTimeoutMillis": 2000, "heartbeatIntervalMillis": 1000}
    for attempt in range(5):
        cluster = make_cluster(3)
        direct(cluster.hosts[0]).admin.command("replSetInitiate", cluster.initiate_config(**settings))
        assert primary_of(cluster.hosts) == cluster.hosts[0], "attempt %d" % attempt
        for host in cluster.hosts[1:]:
            wait_for(lambda h=host: state_of(h) == 2, what="%s to be SECONDARY" % host)
            assert state_transitions(cluster, host)[:3] == ["STARTUP2", "RECOVERING", "SECONDARY"]
        cluster.kill()


def test_failover_after_sigkill_loses_no_majority_acknowledged_write(rs3):
    client = rs_client(rs3, w="majority")
    acknowledged = []
    stop = threading.Event()

    def writer():
        i = 0
        while not stop.is_set():
            try:
                client.test.acked.insert_one({"_id": i})
                acknowledged.append(i)
            except PyMongoError:
                pass  # not acknowledged: allowed to be lost
            i += 1

    thread = threading.Thread(target=writer)
    thread.start()
    wait_for(lambda: len(acknowledged) > 50, what="writes before the kill")
    old = primary_of(rs3.hosts)
    killed_at = time.monotonic()
    rs3.kill(port_of(old))
    new = primary_of([h for h in rs3.hosts if h != old])
    failover = time.monotonic() - killed_at
    count_at_failover = len(acknowledged)
    wait_for(lambda: len(acknowledged) > count_at_failover + 50, what="writes on the new primary")
    rs3.member(port_of(old)).start()
    wait_for(lambda: state_of(old) == 2, what="the old primary to rejoin as SECONDARY")
    stop.set()
    thread.join()
    assert new != old
    assert failover < (FAST["electionTimeoutMillis"] + 4 * FAST["heartbeatIntervalMillis"]) / 1000.0 + 5
    stored = {d["_id"] for d in client.test.acked.find({}, {"_id": 1})}
    assert [i for i in acknowledged if i not in stored] == []
    for host in rs3.hosts:
        member = direct(host, readPreference="secondaryPreferred")
        wait_for(lambda m=member: m.test.acked.count_documents({}) == len(stored),
                 what="every member to hold all the documents")


def test_restart_from_dbpath_after_sigkill_of_every_member(rs3):
    client = rs_client(rs3, w="majority")
    client.test.docs.insert_many([{"_id": i} for i in range(200)])
    version = client.admin.command("replSetGetConfig")["config"]["version"]
    rs3.kill()
    rs3.start()
    primary_of(rs3.hosts)
    client = rs_client(rs3)
    assert client.test.docs.count_documents({}) == 200
    assert client.admin.command("replSetGetConfig")["config"]["version"] == version


def test_clean_shutdown_of_the_primary_steps_down_first(rs3):
    old = primary_of(rs3.hosts)
    rs3.member(port_of(old)).stop()
    new = primary_of([h for h in rs3.hosts if h != old])
    with open(rs3.member(port_of(old)).logpath, encoding="utf-8") as handle:
        log = handle.read()
    assert "Stepping down: shutdown" in log
    assert new != old


def test_rollback_of_unreplicated_w1_writes(make_cluster):
    """A write acknowledged with w:1 by a primary that dies before it
    replicates is rolled back when that member rejoins, into dbPath/rollback."""
    cluster = make_cluster(3, parameters={"enableTestCommands": 1})
    old = initiate(cluster)
    client = rs_client(cluster)
    client.test.r.insert_one({"_id": "committed"})
    others = [h for h in cluster.hosts if h != old]
    for host in others:
        direct(host).admin.command("configureFailPoint", "stopReplProducer", mode="alwaysOn")
    direct(old).test.r.with_options(write_concern=WriteConcern(w=1)).insert_one({"_id": "doomed"})
    cluster.kill(port_of(old))
    for host in others:
        direct(host).admin.command("configureFailPoint", "stopReplProducer", mode="off")
    new = primary_of(others)
    direct(new).test.r.insert_one({"_id": "after"})
    cluster.member(port_of(old)).start()
    rejoined = direct(old, readPreference="secondaryPreferred")
    wait_for(lambda: {d["_id"] for d in rejoined.test.r.find()} == {"committed", "after"},
             what="the old primary to roll back 'doomed' and replicate 'after'")
    assert state_of(old) == 2
    rollback_dir = os.path.join(cluster.member(port_of(old)).dbpath, "rollback", "test.r")
    files = os.listdir(rollback_dir)
    assert len(files) == 1 and files[0].startswith("removed.")
    import bson
    with open(os.path.join(rollback_dir, files[0]), "rb") as handle:
        saved = bson.decode_all(handle.read())
    assert saved == [{"_id": "doomed"}]
    assert direct(new).admin.command("replSetGetStatus")["members"][0]["health"] == 1.0


def test_step_down_hands_off_and_waits_out_the_period(rs3):
    old = primary_of(rs3.hosts)
    started = time.monotonic()
    direct(old).admin.command("replSetStepDown", 30, secondaryCatchUpPeriodSecs=10)
    new = primary_of([h for h in rs3.hosts if h != old])
    handoff = time.monotonic() - started
    assert new != old
    # Election hand-off: no need to wait for an election timeout.
    assert handoff < FAST["electionTimeoutMillis"] / 1000.0
    assert direct(old).admin.command("hello")["isWritablePrimary"] is False


def test_step_down_without_a_caught_up_secondary(make_cluster):
    cluster = make_cluster(3, parameters={"enableTestCommands": 1})
    primary = initiate(cluster)
    for host in cluster.hosts:
        if host != primary:
            direct(host).admin.command("configureFailPoint", "stopReplProducer", mode="alwaysOn")
    direct(primary).test.lag.with_options(write_concern=WriteConcern(w=1)).insert_one({"x": 1})
    code, msg = error_of(lambda: direct(primary).admin.command("replSetStepDown", 10,
                                                               secondaryCatchUpPeriodSecs=1))
    assert code == 262
    assert msg.startswith("No electable secondaries caught up as of ")
    assert direct(primary).admin.command("hello")["isWritablePrimary"] is True
    assert direct(primary).admin.command("replSetStepDown", 10, secondaryCatchUpPeriodSecs=1,
                                         force=True)["ok"] == 1.0
    assert direct(primary).admin.command("hello")["isWritablePrimary"] is False


def test_step_down_argument_checks(rs3):
    primary = primary_of(rs3.hosts)
    assert error_of(lambda: direct(primary).admin.command("replSetStepDown", -1))[0] == 2
    code, msg = error_of(lambda: direct(primary).admin.command("replSetStepDown", 5,
                                                               secondaryCatchUpPeriodSecs=10))
    assert (code, msg) == (2, "stepdown period must be longer than secondaryCatchUpPeriodSecs")


def test_priority_takeover(make_cluster):
    cluster = make_cluster(3)
    members = [{"_id": 0, "host": cluster.hosts[0], "priority": 5},
               {"_id": 1, "host": cluster.hosts[1]}, {"_id": 2, "host": cluster.hosts[2]}]
    initiate(cluster, members)
    wait_for(lambda: direct(cluster.hosts[0]).admin.command("hello")["isWritablePrimary"], timeout=60,
             what="the priority-5 member to be primary")
    direct(cluster.hosts[0]).admin.command("replSetStepDown", 3, secondaryCatchUpPeriodSecs=2)
    primary_of(cluster.hosts[1:])
    wait_for(lambda: direct(cluster.hosts[0]).admin.command("hello")["isWritablePrimary"], timeout=60,
             what="priority takeover by the priority-5 member")


def test_arbiter_votes_and_holds_no_data(make_cluster):
    cluster = make_cluster(3)
    members = [{"_id": 0, "host": cluster.hosts[0]}, {"_id": 1, "host": cluster.hosts[1]},
               {"_id": 2, "host": cluster.hosts[2], "arbiterOnly": True}]
    primary = initiate(cluster, members)
    arbiter = cluster.hosts[2]
    wait_for(lambda: state_of(arbiter) == 7, what="ARBITER state")
    hello = direct(arbiter).admin.command("hello")
    assert hello["arbiterOnly"] is True and hello["isWritablePrimary"] is False and hello["secondary"] is False
    assert direct(primary).admin.command("hello")["arbiters"] == [arbiter]
    config = direct(primary).admin.command("replSetGetConfig")["config"]
    assert config["members"][2]["priority"] == 0.0
    client = rs_client(cluster)
    client.test.a.insert_one({"x": 1})
    assert direct(arbiter).local.oplog.rs.count_documents({}) == 0
    code, _errmsg = error_of(lambda: direct(arbiter).test.a.count_documents({}))
    assert code == 13436  # an arbiter serves no reads
    status = direct(primary).admin.command("replSetGetStatus")
    arbiter_entry = next(m for m in status["members"] if m["name"] == arbiter)
    assert "optime" not in arbiter_entry
    assert status["writableVotingMembersCount"] == 2 and status["votingMembersCount"] == 3
    # With the data-bearing secondary down, the arbiter's vote keeps a majority.
    other = next(h for h in cluster.hosts[:2] if h != primary)
    cluster.kill(port_of(other))
    cluster.kill(port_of(primary))
    cluster.member(port_of(other)).start()
    assert primary_of([other]) == other


def test_hidden_and_delayed_members(make_cluster):
    cluster = make_cluster(4)
    members = [{"_id": 0, "host": cluster.hosts[0]}, {"_id": 1, "host": cluster.hosts[1]},
               {"_id": 2, "host": cluster.hosts[2], "priority": 0, "hidden": True},
               {"_id": 3, "host": cluster.hosts[3], "priority": 0, "hidden": True, "secondaryDelaySecs": 3}]
    primary = initiate(cluster, members)
    hello = direct(primary).admin.command("hello")
    assert cluster.hosts[2] not in hello["hosts"] and cluster.hosts[3] not in hello.get("passives", [])
    hidden = direct(cluster.hosts[2]).admin.command("hello")
    assert hidden["hidden"] is True and hidden["passive"] is True
    delayed = direct(cluster.hosts[3]).admin.command("hello")
    assert delayed["secondaryDelaySecs"] == 3
    assert direct(cluster.hosts[3]).admin.command("isMaster")["slaveDelay"] == 3
    wait_for(lambda: state_of(cluster.hosts[3]) == 2, what="the delayed member to be SECONDARY")
    client = rs_client(cluster)
    written_at = time.monotonic()
    client.test.d.with_options(write_concern=WriteConcern(w=2)).insert_one({"_id": 1})
    delayed_client = direct(cluster.hosts[3], readPreference="secondaryPreferred")
    assert delayed_client.test.d.count_documents({}) == 0
    wait_for(lambda: delayed_client.test.d.count_documents({}) == 1, timeout=20, what="the delayed apply")
    assert time.monotonic() - written_at >= 2.5


def test_a_member_too_stale_for_one_source_syncs_from_another(make_cluster):
    """mongod's SyncSourceResolver denylists a candidate whose oplog begins after our
    last entry and tries the next one; only when no candidate can serve the member does
    it go too stale. Here a delayed member is sent (replSetSyncFrom) to a member that
    has just done its initial sync, whose oplog starts after the delayed member's
    position: it must come back to the primary and stay SECONDARY."""
    cluster = make_cluster(4)
    primary_host, other, delayed, newcomer = cluster.hosts
    members = [{"_id": 0, "host": primary_host, "priority": 2}, {"_id": 1, "host": other},
               {"_id": 2, "host": delayed, "priority": 0, "votes": 0, "hidden": True, "secondaryDelaySecs": 120}]
    initiate(cluster, members)
    primary = primary_host
    wait_for(lambda: direct(primary).admin.command("hello")["isWritablePrimary"], what="the priority-2 primary")
    wait_for(lambda: state_of(delayed) == 2, what="the delayed member to be SECONDARY")
    client = rs_client(cluster)
    client.test.d.with_options(write_concern=WriteConcern(w=2)).insert_one({"_id": 1})
    config = direct(primary).admin.command("replSetGetConfig")["config"]
    config["version"] += 1
    config["members"].append({"_id": 3, "host": newcomer, "priority": 0, "votes": 0})
    direct(primary).admin.command("replSetReconfig", config)
    wait_for(lambda: state_of(newcomer) == 2, what="the new member's initial sync")
    newcomer_first = next(iter(direct(newcomer).local.oplog.rs.find().sort("$natural", 1).limit(1)))["ts"]
    delayed_status = direct(delayed).admin.command("replSetGetStatus")
    assert delayed_status["optimes"]["appliedOpTime"]["ts"] < newcomer_first     # the newcomer cannot serve it
    wait_for(lambda: direct(delayed).admin.command("hello")["setVersion"] == config["version"],
             what="the delayed member to have the new config")
    wait_for(lambda: any(m["name"] == newcomer and m["health"] == 1
                         for m in direct(delayed).admin.command("replSetGetStatus")["members"]),
             what="the delayed member to see the newcomer up")
    reply = direct(delayed).admin.command("replSetSyncFrom", newcomer)
    assert reply["syncFromRequested"] == newcomer and reply["prevSyncTarget"] in (primary, other)
    denied = wait_for(lambda: log_entries(cluster, delayed, 5579708), what="the newcomer to be found too far ahead")
    assert denied[0]["attr"]["candidate"] == newcomer

    def on_a_good_source():
        st = direct(delayed).admin.command("replSetGetStatus")
        return st if st["syncSourceHost"] in (primary, other) else None

    status = wait_for(on_a_good_source, what="the delayed member on a source that has its entry")
    me = next(m for m in status["members"] if m.get("self"))
    assert status["myState"] == 2 and "tooStale" not in status and "maintenanceMode" not in me


def test_replset_sync_from_refusals(rs3):
    primary = primary_of(rs3.hosts)
    secondary = next(h for h in rs3.hosts if h != primary)
    assert error_of(lambda: direct(primary).admin.command("replSetSyncFrom", secondary)) == \
        (95, "primaries don't sync")
    assert error_of(lambda: direct(secondary).admin.command("replSetSyncFrom", secondary)) == \
        (72, "I cannot sync from myself")
    assert error_of(lambda: direct(secondary).admin.command("replSetSyncFrom", "127.0.0.1:1")) == \
        (74, 'Could not find member "127.0.0.1:1" in replica set')


def test_write_concern_timeout_and_unsatisfiable(rs3):
    client = rs_client(rs3)
    primary = primary_of(rs3.hosts)
    victim = next(h for h in rs3.hosts if h != primary)
    rs3.kill(port_of(victim))
    coll = client.test.wc
    coll.with_options(write_concern=WriteConcern(w="majority", wtimeout=5000)).insert_one({"_id": 1})
    with pytest.raises(WTimeoutError) as info:
        coll.with_options(write_concern=WriteConcern(w=3, wtimeout=500)).insert_one({"_id": 2})
    assert info.value.code == 64
    assert info.value.details["errInfo"]["wtimeout"] is True
    reply = direct(primary).test.command("insert", "wc", documents=[{"_id": 3}], writeConcern={"w": 5})
    assert reply["writeConcernError"]["code"] == 100


def test_primary_steps_down_when_it_loses_the_majority(rs3):
    primary = primary_of(rs3.hosts)
    for host in rs3.hosts:
        if host != primary:
            rs3.kill(port_of(host))
    wait_for(lambda: not direct(primary).admin.command("hello")["isWritablePrimary"],
             timeout=FAST["electionTimeoutMillis"] / 1000.0 + 10, what="the lonely primary to step down")
    with open(rs3.member(port_of(primary)).logpath, encoding="utf-8") as handle:
        assert "Can't see a majority of the set, relinquishing primary" in handle.read()
    status = direct(primary).admin.command("replSetGetStatus")
    down = [m for m in status["members"] if not m.get("self")]
    assert all(m["health"] == 0.0 and m["stateStr"] == "(not reachable/healthy)" for m in down)


def test_fast_election_timeout_keeps_one_primary_and_its_term(make_cluster):
    """electionTimeoutMillis 1000 with the default 2 s heartbeats: secondaries keep
    the primary's view of them alive with replSetUpdatePosition keep-alives every
    electionTimeout/2 (sync_source_feedback.cpp), and their oplog getMores wait at most
    electionTimeout/2 (oplog_fetcher.cpp), so the primary neither steps down nor loses
    an election while nothing fails."""
    cluster = make_cluster(3)
    direct(cluster.hosts[0]).admin.command("replSetInitiate", cluster.initiate_config(electionTimeoutMillis=1000))
    primary = primary_of(cluster.hosts)
    wait_for(lambda: sorted(state_of(h) for h in cluster.hosts) == [1, 2, 2], what="two secondaries")
    term = direct(primary).admin.command("replSetGetStatus")["term"]
    seen = set()
    window_end = time.monotonic() + 20
    while time.monotonic() < window_end:
        for host in cluster.hosts:
            status = direct(host).admin.command("replSetGetStatus")
            seen.add((host, status["term"], status["myState"]))
        time.sleep(0.25)     # the polling interval of a bounded observation window, not a wait for a state
    terms = {t for _h, t, _s in seen}
    assert terms == {term}, "the term moved on from %d: %s" % (term, sorted(terms))
    assert {s for h, _t, s in seen if h == primary} == {1}
    assert {s for h, _t, s in seen if h != primary} == {2}


def test_awaitable_hello_answers_on_topology_change(rs3):
    primary = primary_of(rs3.hosts)
    client = direct(primary)
    first = client.admin.command("hello")
    tv = first["topologyVersion"]
    result = {}

    def waiter():
        started = time.monotonic()
        result["reply"] = direct(primary).admin.command("hello", topologyVersion=tv, maxAwaitTimeMS=20000)
        result["waited"] = time.monotonic() - started

    thread = threading.Thread(target=waiter)
    thread.start()
    time.sleep(0.5)
    assert thread.is_alive()  # it waits for a change...
    client.admin.command("replSetStepDown", 10, secondaryCatchUpPeriodSecs=5)
    thread.join(20)
    assert result["reply"]["topologyVersion"]["counter"] > tv["counter"]
    assert result["waited"] < 15
    code, _errmsg = error_of(lambda: client.admin.command("hello", topologyVersion=tv))
    assert code == 31368


def test_oplog_is_capped_and_a_lagging_member_goes_stale(make_cluster):
    cluster = make_cluster(3, oplog_size_mb=1)
    primary = initiate(cluster)
    lagging = next(h for h in cluster.hosts if h != primary)
    cluster.kill(port_of(lagging))
    client = rs_client(cluster, w=1)
    blob = "x" * 10000
    for i in range(300):
        client.test.big.insert_one({"_id": i, "blob": blob})
    first = next(iter(direct(primary).local.oplog.rs.find().sort("$natural", 1).limit(1)))
    assert first["ts"] > Timestamp(0, 0)
    oplog_count = direct(primary).local.oplog.rs.count_documents({})
    assert oplog_count < 300
    cluster.member(port_of(lagging)).start()
    wait_for(lambda: direct(lagging).admin.command("replSetGetStatus").get("tooStale") is True, timeout=30,
             what="the lagging member to report tooStale")
    status = direct(lagging).admin.command("replSetGetStatus")
    me = next(m for m in status["members"] if m.get("self"))
    # BackgroundSync::_produce: no candidate can serve it, so maintenance mode and RECOVERING.
    assert status["myState"] == 3 and me["maintenanceMode"] == 1
    assert {e["attr"]["candidate"] for e in log_entries(cluster, lagging, 5579708)} == \
        {h for h in cluster.hosts if h != lagging}
