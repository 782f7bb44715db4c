"""The peer collection's modules (community.mongodb, bundled in the ``ansible``
package) through ansible-playbook against mongosim, as a standing fidelity test:
each assertion is what those modules give against a real mongod (their docs and
the replies of the commands they send). A failure here is mongosim's bug until
shown otherwise. Verified against mongosim.
"""

import pathlib

import pytest

from conftest import ROOT, wait_for

MONGOSH = ROOT / "tests" / "mongosh" / "node_modules" / ".bin" / "mongosh"
ROOT_PASSWORD = "peer-root-secret-1"
APP_PASSWORD = "peer-app-secret-2"
CM = "community.mongodb."


def login(host, **extra):
    name, port = host.rsplit(":", 1)
    args = {"login_host": name, "login_port": int(port)}
    args.update(extra)
    return args


def task(module, title=None, **args):
    return {"name": title or module, CM + module: args}


def test_replica_set_lifecycle_modules(mongosim_cluster, run_playbook):
    cluster = mongosim_cluster(3)
    hosts = cluster.hosts
    first = hosts[0]
    run = run_playbook([
        # The default election timeout (10 s): one shorter than the heartbeat
        # interval (2 s by default) lets members call elections between heartbeats.
        task("mongodb_replicaset", "initiate", replica_set="rs0", members=hosts, **login(first)),
        task("mongodb_status", "status", replica_set="rs0", poll=60, interval=1, validate="default",
             **login(first)),
        task("mongodb_replicaset", "initiate again", replica_set="rs0", members=hosts, **login(first)),
    ])
    assert run.result("initiate")["changed"] is True
    status = run.result("status")
    assert status["failed"] is False
    assert sorted(status["replicaset"]) == sorted(hosts)
    assert sorted(status["replicaset"].values()) == ["PRIMARY", "SECONDARY", "SECONDARY"]
    assert run.result("initiate again")["changed"] is False
    config = cluster.command(cluster.primary(), "replSetGetConfig")["config"]
    assert [m["host"] for m in config["members"]] == hosts
    assert config["settings"]["electionTimeoutMillis"] == 10000

    primary = cluster.wait_settled()
    secondary = next(h for h in hosts if h != primary)
    client = cluster.client(primary)
    try:
        client.app.things.insert_many([{"k": i, "tag": "peer"} for i in range(3)])
    finally:
        client.close()
    # No projection: with ansible-core 2.19 the lookup cannot encode a templated
    # boolean (its own bug: "cannot encode object: _LazyValue(value=False)").
    lookup = ("{{ lookup('community.mongodb.mongodb', {'connection_string': 'mongodb://%s/?directConnection=true',"
              " 'database': 'app', 'collection': 'things', 'filter': {'tag': 'peer'},"
              " 'sort': [['k', 'ASCENDING']]}) | map(attribute='k') | list }}" % primary)
    run = run_playbook([
        task("mongodb_info", "info", **login(primary)),
        task("mongodb_parameter", "parameter", param="cursorTimeoutMillis", value="300000", param_type="int",
             **login(primary)),
        task("mongodb_index", "index", indexes=[{"database": "app", "collection": "things", "keys": {"k": 1},
                                                 "options": {"name": "k_1", "unique": True}, "state": "present"}],
             **login(primary)),
        task("mongodb_index", "index again", indexes=[{"database": "app", "collection": "things",
                                                       "keys": {"k": 1}, "options": {"name": "k_1", "unique": True},
                                                       "state": "present"}], **login(primary)),
        task("mongodb_oplog", "oplog", oplog_size_mb=2000, **login(primary)),
        task("mongodb_oplog", "oplog again", oplog_size_mb=2000, **login(primary)),
        task("mongodb_shell", "shell", mongo_cmd=str(MONGOSH), db="app",
             eval="db.things.countDocuments({tag: 'peer'})", **login(primary)),
        {"name": "lookup", "ansible.builtin.set_fact": {"found": lookup}},
        {"name": "show lookup", "ansible.builtin.debug": {"var": "found"}},
    ])
    info = run.result("info")
    build = cluster.command(primary, "buildInfo")
    assert info["general"]["version"] == build["version"]
    assert "app" in info["databases"]
    assert info["parameters"]["cursorTimeoutMillis"] == 600000  # info ran before the parameter task
    assert "SCRAM-SHA-256" in info["parameters"]["authenticationMechanisms"]
    assert "root" in info["roles"]["admin"] and info["roles"]["admin"]["root"]["isBuiltin"] is True
    assert all(not users for users in info["users"].values())
    parameter = run.result("parameter")
    assert parameter["changed"] is True and parameter["before"] == 600000 and parameter["after"] == 300000
    assert cluster.command(primary, "getParameter", 1, cursorTimeoutMillis=1)["cursorTimeoutMillis"] == 300000
    assert run.result("index")["changed"] is True
    assert run.result("index again")["changed"] is False
    client = cluster.client(primary)
    try:
        index = next(ix for ix in client.app.things.list_indexes() if ix["name"] == "k_1")
        assert index["unique"] is True and dict(index["key"]) == {"k": 1}
    finally:
        client.close()
    oplog = run.result("oplog")
    assert oplog["changed"] is True and oplog["msg"] == "oplog has been resized from 990 mb to 2000 mb"
    assert run.result("oplog again")["changed"] is False
    assert run.result("oplog again")["msg"] == "oplog_size_mb is already 2000 mb"
    # transform "auto": output that is not a JSON document is split on spaces (the module's docs).
    assert run.result("shell")["transformed_output"] == ["3"]
    assert run.result("show lookup")["found"] == [0, 1, 2]

    primary = cluster.wait_settled()
    secondary = next(h for h in hosts if h != primary)
    run = run_playbook([task("mongodb_maintenance", "maintenance on", maintenance=True, **login(secondary))])
    assert run.result("maintenance on")["changed"] is True, run.result("maintenance on")
    assert run.result("maintenance on")["msg"] == "member was placed into maintenance mode"
    assert cluster.command(secondary, "replSetGetStatus")["myState"] == 3
    # The module then cannot reach a RECOVERING member: its auth probe runs
    # listDatabases, which mongod refuses there (not maintenanceOk: 13436 "node is
    # recovering", src db/commands/list_databases.cpp, service_entry_point_common.cpp).
    run = run_playbook([task("mongodb_maintenance", "maintenance off", maintenance=False, **login(secondary))],
                       expect_failure=True)
    assert "node is recovering" in run.result("maintenance off")["msg"]
    cluster.command(secondary, "replSetMaintenance", False)
    wait_for(lambda: cluster.command(secondary, "replSetGetStatus")["myState"] == 2, what="SECONDARY again")
    primary = cluster.wait_settled()
    run = run_playbook([
        task("mongodb_maintenance", "maintenance off again", maintenance=False, **login(secondary)),
        task("mongodb_stepdown", "stepdown", poll=30, interval=1, stepdown_seconds=60, **login(primary)),
    ])
    assert run.result("maintenance off again")["changed"] is False
    stepdown = run.result("stepdown")
    assert stepdown["changed"] is True, stepdown
    assert stepdown["failed"] is False
    new_primary = cluster.wait_settled()
    assert new_primary != primary

    victim = next(h for h in hosts if h != new_primary)
    member = next(m for m in cluster.members if m.host == victim)
    run = run_playbook([task("mongodb_shutdown", "shutdown", timeout=10, **login(victim))])
    assert run.result("shutdown")["changed"] is True
    assert member.wait_exit(60)


def test_user_and_role_modules_under_auth(mongosim_cluster, run_playbook, tmp_path):
    cluster = mongosim_cluster(1, auth=True, keyfile=True, initiate=True)
    host = cluster.primary()
    marker = tmp_path / "localhost-exception-used"
    # Passwords through variables: ansible-core shows a failing task's source.
    secrets = {"peer_root_password": ROOT_PASSWORD, "peer_app_password": APP_PASSWORD}
    root = {"login_user": "root", "login_password": "{{ peer_root_password }}"}
    run = run_playbook([
        task("mongodb_user", "first user", database="admin", name="root", password="{{ peer_root_password }}",
             roles=["root"], create_for_localhost_exception=str(marker), **login(host)),
    ], extra_vars=secrets)
    assert run.result("first user")["changed"] is True
    assert pathlib.Path(marker).exists()
    admin = cluster.client(host, username="root", password=ROOT_PASSWORD)
    try:
        admin.app.things.insert_one({"x": 1})
        admin.app.other.insert_one({"y": 1})
    finally:
        admin.close()
    privileges = [{"resource": {"db": "app", "collection": "things"}, "actions": ["find"]}]
    run = run_playbook([
        task("mongodb_role", "role", name="thingsReader", database="app", privileges=privileges, roles=[],
             **login(host, **root)),
        task("mongodb_role", "role again", name="thingsReader", database="app", privileges=privileges, roles=[],
             **login(host, **root)),
        task("mongodb_user", "app user", database="app", name="narrow", password="{{ peer_app_password }}",
             roles=["thingsReader"], **login(host, **root)),
        task("mongodb_info", "info", filter=["roles", "users"], **login(host, **root)),
    ], extra_vars=secrets)
    assert run.result("role")["changed"] is True
    assert run.result("role again")["changed"] is False
    assert run.result("app user")["changed"] is True
    info = run.result("info")
    assert info["roles"]["app"]["thingsReader"]["isBuiltin"] is False
    # mongodb_info turns each user field into its str() (the module's code).
    assert info["users"]["app"]["narrow"]["roles"] == str([{"role": "thingsReader", "db": "app"}])

    narrow = cluster.client(host, username="narrow", password=APP_PASSWORD, auth_source="app")
    try:
        assert narrow.app.things.find_one({}, {"_id": 0}) == {"x": 1}
        with pytest.raises(Exception) as info_exc:
            narrow.app.other.find_one()
        assert getattr(info_exc.value, "code", None) == 13
    finally:
        narrow.close()

    run = run_playbook([
        task("mongodb_role", "drop role", name="thingsReader", database="app", state="absent",
             **login(host, **root)),
    ], extra_vars=secrets)
    assert run.result("drop role")["changed"] is True
    reply = wait_for(lambda: cluster.command(host, "usersInfo", {"user": "narrow", "db": "app"}, username="root",
                                             password=ROOT_PASSWORD), what="usersInfo")
    assert reply["users"][0]["roles"] == []
