"""The real MongoDB shell (mongosh, from npm) drives a 3-member mongosim set
with its replica-set helpers."""

import json
import os
import subprocess

import pytest

from conftest import FAST, direct, primary_of, wait_for

MONGOSH = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                       "mongosh", "node_modules", ".bin", "mongosh")


def mongosh(uri, script, timeout=60):
    if not os.path.exists(MONGOSH):
        pytest.fail("mongosh is not installed; scripts/setup-host installs it from npm (tests/mongosh)")
    # check=False: the assert below reports mongosh's output, which CalledProcessError would not show.
    result = subprocess.run([MONGOSH, "--quiet", "--norc", uri, "--eval", script], check=False, capture_output=True,
                            text=True, timeout=timeout, env=dict(os.environ, MONGOSH_NO_UPDATE_CHECK="1"))
    assert result.returncode == 0, result.stdout + result.stderr
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def test_mongosh_replica_set_helpers(make_cluster):
    cluster = make_cluster(4)
    first, second, third, fourth = cluster.hosts
    out = mongosh("mongodb://%s/?directConnection=true" % first, """
        const r = rs.initiate({_id: "rs0", members: [{_id: 0, host: "%s"}, {_id: 1, host: "%s"},
                                                     {_id: 2, host: "%s"}],
                               settings: {electionTimeoutMillis: %d, heartbeatIntervalMillis: %d}});
        print(JSON.stringify({initiate: r.ok}));
        print(JSON.stringify({again: (() => { try { rs.initiate(); return "no error"; }
                                             catch (e) { return e.codeName; } })()}));
    """ % (first, second, third, FAST["electionTimeoutMillis"], FAST["heartbeatIntervalMillis"]))
    assert out == [{"initiate": 1}, {"again": "AlreadyInitialized"}]
    primary = primary_of(cluster.hosts[:3])
    seeds = ",".join(cluster.hosts[:3])
    out = mongosh("mongodb://%s/?replicaSet=rs0" % seeds, """
        const s = rs.status();
        print(JSON.stringify({members: s.members.map(m => [m.name, m.stateStr]), set: s.set, ok: s.ok}));
        const c = rs.conf();
        print(JSON.stringify({version: c.version, hosts: c.members.map(m => m.host)}));
        print(JSON.stringify({add: rs.add("%s").ok}));
        print(JSON.stringify({afterAdd: rs.conf().members.length}));
    """ % fourth)
    status, conf, added, after_add = out
    assert status["ok"] == 1 and status["set"] == "rs0"
    assert sorted(state for _name, state in status["members"]) == ["PRIMARY", "SECONDARY", "SECONDARY"]
    assert dict(status["members"])[primary] == "PRIMARY"
    assert conf["hosts"] == cluster.hosts[:3]
    assert added == {"add": 1} and after_add == {"afterAdd": 4}
    wait_for(lambda: direct(primary).admin.command("replSetGetStatus")["votingMembersCount"] == 4,
             what="the added member to vote")
    out = mongosh("mongodb://%s/?replicaSet=rs0" % seeds, """
        print(JSON.stringify({remove: rs.remove("%s").ok}));
        print(JSON.stringify({hosts: rs.conf().members.map(m => m.host)}));
        print(JSON.stringify({stepDown: rs.stepDown(30).ok}));
    """ % fourth)
    assert out[0] == {"remove": 1}
    assert out[1] == {"hosts": cluster.hosts[:3]}
    assert out[2] == {"stepDown": 1}
    new_primary = primary_of(cluster.hosts[:3])
    assert new_primary != primary
    out = mongosh("mongodb://%s/?replicaSet=rs0" % seeds, """
        db.getSiblingDB("shell").c.insertOne({_id: 1, via: "mongosh"});
        print(JSON.stringify({doc: db.getSiblingDB("shell").c.findOne({_id: 1}),
                              primary: db.hello().primary}));
    """)
    assert out == [{"doc": {"_id": 1, "via": "mongosh"}, "primary": new_primary}]
