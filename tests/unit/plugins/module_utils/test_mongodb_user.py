"""Unit tests for plugins/module_utils/mongodb_user.py: how quorum.mongodb.user logs in and
what it sends, against a fake server that follows mongod's authorization rules
(tests/mongosim/SEMANTICS.md section 9: the localhost exception grants createUser on admin and
replSetGetStatus, not usersInfo; a bad password is AuthenticationFailed 18; a missing
privilege is Unauthorized 13)."""

import pytest

from ansible_collections.quorum.mongodb.plugins.module_utils.mongodb_common import MongoModuleError
from ansible_collections.quorum.mongodb.plugins.module_utils.mongodb_user import manage_user
from ansible_collections.quorum.mongodb.plugins.module_utils.user_plan import normalize_roles

ADDRESS = "localhost:27017"
WRITES = ("createUser", "updateUser", "dropUser")


class FakeServer:
    """One member and a Connector-shaped view of it for the module's parameters."""

    def __init__(self, params, auth=True, local=True, primary=True, primary_name="db1:27017", users=None):
        self.params = params
        self.auth = auth
        self.local = local
        self.primary = primary
        self.primary_name = primary_name
        self.users = dict(users or {})  # (user, db) -> {"pwd": ..., "roles": [...]}
        self.calls = []  # (command name, with_credentials, database)
        self.checked = []  # (user, db) whose password was checked

    # ---- mongod's rules
    def exception_open(self):
        return self.auth and self.local and not self.users

    def _fail(self, what, code, message):
        raise MongoModuleError("%s on %s failed: code %d: %s" % (what, ADDRESS, code, message), code=code,
                               member=ADDRESS)

    def _authenticate(self, what):
        user, db = self.params.get("login_user"), self.params.get("login_database") or "admin"
        doc = self.users.get((user, db))
        if doc is None or doc["pwd"] != self.params.get("login_password"):
            self._fail(what, 18, "Authentication failed.")

    def command(self, address, command, what, with_credentials=True, database="admin"):
        assert address == ADDRESS
        name = next(iter(command))
        self.calls.append((name, with_credentials, database))
        logged_in = bool(with_credentials and self.params.get("login_user"))
        if logged_in:
            self._authenticate(what)
        if name == "hello":
            reply = {"isWritablePrimary": self.primary, "secondary": not self.primary, "setName": "rs0"}
            if self.primary_name:
                reply["primary"] = self.primary_name
            if "saslSupportedMechs" in command:
                db, user = command["saslSupportedMechs"].split(".", 1)
                if (user, db) in self.users:
                    reply["saslSupportedMechs"] = ["SCRAM-SHA-256"]
            return reply
        if name == "connectionStatus":
            return {"authInfo": {}}
        if self.auth and not logged_in:
            allowed = self.exception_open() and (name == "replSetGetStatus" or
                                                 (name == "createUser" and database == "admin"))
            if not allowed:
                self._fail(what, 13, "Command %s requires authentication" % name)
        if name in WRITES:
            assert command["writeConcern"]["w"] == "majority"
            assert self.primary, "a write was sent to a member that is not primary"
        if name == "usersInfo":
            spec = command["usersInfo"]
            if spec == 1:
                return {"users": []}
            doc = self.users.get((spec["user"], spec["db"]))
            return {"users": [dict(user=spec["user"], db=spec["db"], roles=doc["roles"])] if doc else []}
        if name == "replSetGetStatus":
            return {"ok": 1}
        if name == "createUser":
            self.users[(command["createUser"], database)] = {"pwd": command["pwd"], "roles": command["roles"]}
            return {"ok": 1}
        if name == "updateUser":
            doc = self.users[(command["updateUser"], database)]
            doc.update((key, command[key]) for key in ("pwd", "roles") if key in command)
            return {"ok": 1}
        if name == "dropUser":
            del self.users[(command["dropUser"], database)]
            return {"ok": 1}
        raise AssertionError("unexpected command %r" % command)

    def credentials_valid(self, address, user, password, database):
        self.checked.append((user, database))
        doc = self.users.get((user, database))
        return doc is not None and doc["pwd"] == password

    def writes(self):
        return [call for call in self.calls if call[0] in WRITES]


def params(**overrides):
    base = {"name": "admin", "password": "admin-pw", "database": "admin", "roles": ["root"],
            "update_password": "on_create", "state": "present", "login_user": None, "login_password": None,
            "login_database": "admin"}
    base.update(overrides)
    return base


def run(server, check_mode=False, diff=False):
    p = server.params
    return manage_user(server, ADDRESS, p, normalize_roles(p["roles"], p["database"]), check_mode, diff)


ROOT = [{"role": "root", "db": "admin"}]


# ---------------------------------------------------------------- the localhost exception


@pytest.mark.parametrize("login_user", [None, "admin"])
def test_first_admin_through_the_exception(login_user):
    p = params(login_user=login_user, login_password="admin-pw" if login_user else None)
    server = FakeServer(p)
    result = run(server)
    assert result["changed"] is True and result["localhost_exception"] is True
    assert server.users == {("admin", "admin"): {"pwd": "admin-pw", "roles": ROOT}}
    assert server.writes() == [("createUser", False, "admin")]
    # with credentials for the new user, the module proves they work now
    assert server.checked == ([("admin", "admin")] if login_user else [])


def test_check_mode_through_the_exception_creates_nothing():
    server = FakeServer(params(login_user="admin", login_password="admin-pw"))
    result = run(server, check_mode=True, diff=True)
    assert result["changed"] is True and result["msg"] == "would create user admin@admin with root@admin"
    assert result["diff"]["after"]["password"] == "set"
    assert server.writes() == [] and server.users == {}


def test_exception_only_creates_in_admin():
    server = FakeServer(params(name="app", database="shop", roles=["readWrite"]))
    with pytest.raises(MongoModuleError, match="only allows creating one user, in the admin database"):
        run(server)


def test_the_exception_is_only_for_localhost():
    server = FakeServer(params(), local=False)
    with pytest.raises(MongoModuleError) as info:
        run(server)
    assert info.value.msg == ("%s requires authentication (users exist there, so the localhost exception is closed): "
                              "set login_user and login_password." % ADDRESS)
    assert server.writes() == []


def test_no_credentials_once_users_exist():
    server = FakeServer(params(), users={("other", "admin"): {"pwd": "x", "roles": ROOT}})
    with pytest.raises(MongoModuleError, match="set login_user and login_password"):
        run(server)


def test_missing_login_user_once_users_exist():
    server = FakeServer(params(login_user="admin", login_password="admin-pw"),
                        users={("other", "admin"): {"pwd": "x", "roles": ROOT}})
    with pytest.raises(MongoModuleError) as info:
        run(server)
    assert "User admin@admin does not exist on %s and the localhost exception is closed" % ADDRESS in info.value.msg
    assert info.value.details["code"] == 18


def test_wrong_login_password():
    server = FakeServer(params(name="app", login_user="admin", login_password="Zq9-not-the-pw"),
                        users={("admin", "admin"): {"pwd": "admin-pw", "roles": ROOT}})
    with pytest.raises(MongoModuleError) as info:
        run(server)
    assert info.value.msg.endswith("User admin@admin exists on %s, so login_password is wrong for it." % ADDRESS)
    assert "Zq9-not-the-pw" not in info.value.msg
    assert server.writes() == []


def test_without_authorization_a_missing_login_user_is_no_obstacle():
    server = FakeServer(params(login_user="admin", login_password="admin-pw"), auth=False)
    result = run(server)
    assert result["changed"] is True and result["localhost_exception"] is False
    assert server.writes() == [("createUser", False, "admin")]


# ---------------------------------------------------------------- primary only


def test_secondary_is_refused_naming_the_primary():
    server = FakeServer(params(login_user="admin", login_password="admin-pw"), primary=False)
    with pytest.raises(MongoModuleError) as info:
        run(server, check_mode=True)
    assert info.value.msg == ("cannot manage user admin@admin on %s: the member is a SECONDARY, and users are managed "
                              "on the primary; the primary is db1:27017 according to %s. Run the task against the "
                              "primary." % (ADDRESS, ADDRESS))
    assert [call[0] for call in server.calls] == ["hello"]


def test_member_without_primary():
    server = FakeServer(params(), primary=False, primary_name=None)
    with pytest.raises(MongoModuleError, match="%s knows of no primary right now" % ADDRESS):
        run(server)


# ---------------------------------------------------------------- with credentials


def logged_in(**overrides):
    p = params(login_user="admin", login_password="admin-pw", **overrides)
    users = {("admin", "admin"): {"pwd": "admin-pw", "roles": ROOT},
             ("app", "shop"): {"pwd": "app-pw", "roles": [{"role": "read", "db": "shop"}]}}
    return FakeServer(p, users=users)


def test_idempotent_with_credentials():
    server = logged_in()
    result = run(server)
    assert result["changed"] is False and result["localhost_exception"] is False
    assert server.writes() == [] and server.checked == []


@pytest.mark.parametrize(("password", "changed"), [("app-pw", False), ("new-pw", True)])
def test_update_password_always_checks_then_sets(password, changed):
    server = logged_in(name="app", database="shop", password=password, roles=["read"], update_password="always")
    result = run(server)
    assert result["changed"] is changed and result["password_changed"] is changed
    assert server.checked == [("app", "shop")]
    assert server.writes() == ([("updateUser", True, "shop")] if changed else [])
    assert server.users[("app", "shop")]["pwd"] == password


def test_own_password_is_known_good_without_a_second_login():
    server = logged_in(update_password="always")
    assert run(server)["changed"] is False
    assert server.checked == []


def test_roles_change_and_drop_use_credentials_on_the_users_database():
    server = logged_in(name="app", database="shop", password=None, roles=["readWrite"])
    result = run(server)
    assert result["user"] == {"name": "app", "db": "shop", "exists": True,
                              "roles": [{"role": "readWrite", "db": "shop"}]}
    assert server.writes() == [("updateUser", True, "shop")]
    server.params["state"] = "absent"
    result = run(server)
    assert result["changed"] is True and result["user"]["exists"] is False
    assert ("app", "shop") not in server.users


def test_creating_needs_a_password():
    server = logged_in(name="new", password=None)
    with pytest.raises(ValueError, match="user new@admin does not exist and no password is given"):
        run(server)
