"""User-defined roles (createRole and the other role commands, rolesInfo) and
their enforcement, as in mongod's user management commands
(db/auth/user_management_commands.cpp; SEMANTICS.md section 4.3)."""

import pytest
from pymongo import MongoClient

from conftest import FAST, direct, error_of, make_keyfile, primary_of


@pytest.fixture
def admin(make_cluster, tmp_path):
    """A one-member set with auth on, a root user, and a client logged in as it."""
    cluster = make_cluster(1, keyfile=make_keyfile(tmp_path / "keyfile"), auth=True)
    host = cluster.hosts[0]
    direct(host).admin.command("replSetInitiate", cluster.initiate_config(**FAST))
    primary_of([host])
    direct(host).admin.command("createUser", "root", pwd="pw", roles=["root"])
    client = direct(host, username="root", password="pw")
    client.host_for_test = host
    return client


def login(admin, user, db="admin"):
    return direct(admin.host_for_test, username=user, password="pw", authSource=db)


def test_custom_role_grants_exactly_its_privileges(admin):
    admin.app.things.insert_one({"x": 1})
    admin.app.other.insert_one({"y": 1})
    admin.app.command("createRole", "thingsReader", privileges=[
        {"resource": {"db": "app", "collection": "things"}, "actions": ["find"]}], roles=[])
    admin.app.command("createUser", "narrow", pwd="pw", roles=["thingsReader"])
    narrow = login(admin, "narrow", "app")
    assert narrow.app.things.find_one({}, {"_id": 0}) == {"x": 1}
    code, msg = error_of(narrow.app.other.find_one)
    assert code == 13 and msg.startswith('not authorized on app to execute command { find: "other"')
    assert error_of(lambda: narrow.app.things.insert_one({}))[0] == 13
    assert error_of(lambda: narrow.app.command("listCollections"))[0] == 13
    assert error_of(lambda: narrow.admin.command("replSetGetStatus"))[0] == 13
    # listDatabases needs no privilege: it lists only databases the user has some privilege in.
    assert [d["name"] for d in narrow.admin.command("listDatabases")["databases"]] == ["app"]


def test_inherited_roles_and_changes_take_effect_at_once(admin):
    admin.app.things.insert_one({"x": 1})
    admin.admin.command("createRole", "monitorPlus", privileges=[
        {"resource": {"db": "app", "collection": ""}, "actions": ["insert"]}],
        roles=["clusterMonitor"])
    admin.admin.command("createRole", "outer", privileges=[], roles=["monitorPlus"])
    admin.admin.command("createUser", "ops", pwd="pw", roles=["outer"])
    ops = login(admin, "ops")
    assert ops.admin.command("replSetGetStatus")["ok"] == 1.0  # through outer -> monitorPlus -> clusterMonitor
    ops.app.things.insert_one({"x": 2})
    assert error_of(ops.app.things.find_one)[0] == 13
    admin.admin.command("grantPrivilegesToRole", "outer", privileges=[
        {"resource": {"db": "app", "collection": "things"}, "actions": ["find"]}])
    assert ops.app.things.count_documents({}) == 2
    admin.admin.command("revokeRolesFromRole", "outer", roles=["monitorPlus"])
    assert error_of(lambda: ops.admin.command("replSetGetStatus"))[0] == 13
    assert error_of(lambda: ops.app.things.insert_one({}))[0] == 13
    admin.admin.command("revokePrivilegesFromRole", "outer", privileges=[
        {"resource": {"db": "app", "collection": "things"}, "actions": ["find"]}])
    assert error_of(ops.app.things.find_one)[0] == 13
    admin.admin.command("grantRolesToRole", "outer", roles=[{"role": "read", "db": "app"}])
    assert ops.app.things.count_documents({}) == 2
    admin.admin.command("updateRole", "outer", privileges=[], roles=[])
    assert error_of(ops.app.things.find_one)[0] == 13


def test_roles_info_shape(admin):
    admin.admin.command("createRole", "base", privileges=[
        {"resource": {"cluster": True}, "actions": ["serverStatus"]}], roles=[])
    admin.admin.command("createRole", "top", privileges=[
        {"resource": {"db": "app", "collection": ""}, "actions": ["find", "insert"]}],
        roles=["base"], authenticationRestrictions=[{"clientSource": ["127.0.0.1"]}])
    reply = admin.admin.command("rolesInfo", "top", showPrivileges=True, showAuthenticationRestrictions=True)
    (top,) = reply["roles"]
    assert top["_id"] == "admin.top"
    assert (top["role"], top["db"], top["isBuiltin"]) == ("top", "admin", False)
    assert top["roles"] == [{"role": "base", "db": "admin"}]
    assert top["inheritedRoles"] == [{"role": "base", "db": "admin"}]
    assert top["privileges"] == [{"resource": {"db": "app", "collection": ""}, "actions": ["find", "insert"]}]
    assert {"resource": {"cluster": True}, "actions": ["serverStatus"]} in top["inheritedPrivileges"]
    assert top["authenticationRestrictions"] == [[{"clientSource": ["127.0.0.1"]}]]
    listed = admin.admin.command("rolesInfo", 1)["roles"]
    assert [r["role"] for r in listed] == ["base", "top"]
    assert "privileges" not in listed[0]
    with_builtin = {r["role"]: r for r in admin.admin.command("rolesInfo", 1, showBuiltinRoles=True)["roles"]}
    assert with_builtin["root"]["isBuiltin"] is True and with_builtin["top"]["isBuiltin"] is False
    app_builtin = {r["role"] for r in admin.app.command("rolesInfo", 1, showBuiltinRoles=True)["roles"]}
    assert {"read", "readWrite", "dbAdmin", "dbOwner", "userAdmin"} <= app_builtin
    assert "root" not in app_builtin
    assert admin.admin.command("rolesInfo", "nosuch")["roles"] == []
    assert admin.admin.command("rolesInfo", {"role": "readWrite", "db": "app"})["roles"][0]["isBuiltin"] is True


@pytest.mark.parametrize("db, name, kwargs, code, message", [
    ("admin", "root", {"privileges": [], "roles": []}, 2, "Cannot create roles with the same name as a built-in role"),
    ("admin", "r", {"privileges": [{"resource": {"cluster": True}, "actions": ["fly"]}], "roles": []}, 9,
     "Unrecognized action privilege string: fly"),
    ("admin", "r", {"privileges": [], "roles": ["nosuch"]}, 31, "Could not find role: nosuch@admin"),
    ("app", "r", {"privileges": [{"resource": {"cluster": True}, "actions": ["serverStatus"]}], "roles": []}, 49,
     "Roles on the 'app' database cannot be granted privileges that target other databases or the cluster"),
    ("app", "r", {"privileges": [], "roles": [{"role": "read", "db": "other"}]}, 49,
     "Roles on the 'app' database cannot be granted roles from other databases"),
    ("admin", "r", {"roles": []}, 40414, "BSON field 'createRole.privileges' is missing but a required field"),
])
def test_create_role_refusals(admin, db, name, kwargs, code, message):
    assert error_of(lambda: admin[db].command("createRole", name, **kwargs)) == (code, message)


def test_role_graph_rules_and_drop(admin):
    admin.admin.command("createRole", "a", privileges=[], roles=[])
    admin.admin.command("createRole", "b", privileges=[], roles=["a"])
    assert error_of(lambda: admin.admin.command("createRole", "a", privileges=[], roles=[])) == (
        51002, 'Role "a@admin" already exists')
    assert error_of(lambda: admin.admin.command("grantRolesToRole", "a", roles=["b"])) == (
        49, "Granting b@admin to a@admin would introduce a cycle in the role graph.")
    assert error_of(lambda: admin.admin.command("grantRolesToRole", "a", roles=["a"])) == (
        49, "Cannot grant role a@admin to itself.")
    assert error_of(lambda: admin.admin.command("dropRole", "read")) == (
        2, "read@admin is a built-in role and cannot be modified")
    assert error_of(lambda: admin.admin.command("updateRole", "nosuch", roles=[])) == (
        31, "Could not find role: nosuch@admin")
    admin.admin.command("createUser", "u", pwd="pw", roles=["a", "b"])
    admin.admin.command("dropRole", "a")
    users = admin.admin.command("usersInfo", "u")["users"]
    assert users[0]["roles"] == [{"role": "b", "db": "admin"}]
    (b,) = admin.admin.command("rolesInfo", "b")["roles"]
    assert b["roles"] == []
    assert error_of(lambda: admin.admin.command("dropRole", "a")) == (31, "Could not find role: a@admin")


def test_roles_replicate_and_need_view_role(make_cluster, tmp_path):
    cluster = make_cluster(2, keyfile=make_keyfile(tmp_path / "keyfile"), auth=True)
    direct(cluster.hosts[0]).admin.command("replSetInitiate", cluster.initiate_config(**FAST))
    primary = primary_of(cluster.hosts)
    direct(primary).admin.command("createUser", "root", pwd="pw", roles=["root"])
    root = MongoClient(",".join(cluster.hosts), replicaSet="rs0", username="root", password="pw")
    root.admin.command("createRole", "r", privileges=[], roles=[], writeConcern={"w": 2})
    secondary = next(h for h in cluster.hosts if h != primary)
    seen = direct(secondary, username="root", password="pw").admin.command("rolesInfo", "r")["roles"]
    assert [r["role"] for r in seen] == ["r"]
    root.admin.command("createUser", "plain", pwd="pw", roles=[{"role": "read", "db": "app"}])
    plain = MongoClient(",".join(cluster.hosts), replicaSet="rs0", username="plain", password="pw")
    assert error_of(lambda: plain.admin.command("rolesInfo", 1))[0] == 13
    # A user may always see the roles it holds.
    assert plain.admin.command("rolesInfo", {"role": "read", "db": "app"})["roles"][0]["role"] == "read"


def test_admin_only_builtin_names_are_free_elsewhere(admin):
    # isBuiltinRole is per database: root exists only on admin.
    admin.app.command("createRole", "root", privileges=[], roles=[])
    (role,) = admin.app.command("rolesInfo", "root")["roles"]
    assert (role["db"], role["isBuiltin"]) == ("app", False)
    assert error_of(lambda: admin.app.command("createRole", "read", privileges=[], roles=[])) == (
        2, "Cannot create roles with the same name as a built-in role")
