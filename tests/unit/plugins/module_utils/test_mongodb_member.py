"""Unit tests for the one login decision (mongodb_common.decide_login) and for what quorum.mongodb.member
does (plugins/module_utils/mongodb_member.py), against a fake member that follows mongod's rules as
tests/mongosim/SEMANTICS.md writes them down: hello needs no authentication (section 2); privileges are
checked before a command runs, Unauthorized 13 without them, AuthenticationFailed 18 for bad credentials
(9.2); the localhost exception grants replSetGetStatus but not usersInfo or replSetStepDown (9.3); a
member without a config answers replica-set commands with 94 (3)."""

import datetime

import pytest

from ansible_collections.quorum.mongodb.plugins.module_utils.mongodb_common import (
    LOGIN_CREDENTIALS,
    LOGIN_LOCALHOST_EXCEPTION,
    LOGIN_NO_AUTHORIZATION,
    LOGIN_REFUSED,
    MongoModuleError,
    decide_login,
    login_hello_command,
    member_state,
)
from ansible_collections.quorum.mongodb.plugins.module_utils.mongodb_member import (
    ask,
    caught_up,
    oplog_command,
    oplog_option_problems,
    read_lag,
    replication_lag,
    step_down,
    tls_failure,
)

ADDRESS = "localhost:27017"
SECRET = "Zq9-the-password"


class FakeMember:
    def __init__(self, params, auth=True, local=True, users=(), state="PRIMARY", hosts=("db1:27017", "db2:27017"),
                 answers=True, step_down_error=None, closes_on_step_down=False):
        self.params = params
        self.auth = auth
        self.local = local
        self.users = dict(users)  # (user, db) -> password
        self.state = state
        self.hosts = list(hosts)
        self.answers = answers
        self.step_down_error = step_down_error
        self.closes_on_step_down = closes_on_step_down
        self.calls = []

    def _fail(self, what, code, message):
        raise MongoModuleError("%s on %s failed: code %s: %s" % (what, ADDRESS, code, message), code=code,
                               member=ADDRESS)

    def hello(self, command):
        reply = {"setName": "rs0", "me": "db1:27017", "hosts": self.hosts, "setVersion": 3}
        if self.state == "NO_CONFIG":
            reply = {"isreplicaset": True, "isWritablePrimary": False, "secondary": False}
        elif self.state == "PRIMARY":
            reply.update(isWritablePrimary=True, primary="db1:27017")
        elif self.state == "SECONDARY":
            reply.update(isWritablePrimary=False, secondary=True, primary="db2:27017")
        if "saslSupportedMechs" in command:
            db, user = command["saslSupportedMechs"].split(".", 1)
            if (user, db) in self.users:
                reply["saslSupportedMechs"] = ["SCRAM-SHA-256"]
        return reply

    def try_command(self, address, command, with_credentials=False):
        assert address == ADDRESS and not with_credentials
        self.calls.append(("hello", False))
        if not self.answers:
            return None, "localhost:27017: [Errno 111] Connection refused"
        return self.hello(command), None

    def command(self, address, command, what, with_credentials=True, database="admin"):
        name = next(iter(command))
        self.calls.append((name, with_credentials))
        if with_credentials and self.params.get("login_user"):
            key = (self.params["login_user"], self.params.get("login_database") or "admin")
            if self.users.get(key) != self.params.get("login_password"):
                self._fail(what, 18, "Authentication failed.")
            logged_in = True
        else:
            logged_in = False
        exception = self.local and not self.users
        if self.auth and not logged_in:
            if not (exception and name == "replSetGetStatus") and name != "connectionStatus":
                self._fail(what, 13, "Command %s requires authentication" % name)
        if name in ("replSetGetStatus", "replSetStepDown") and self.state == "NO_CONFIG":
            self._fail(what, 94, "no replset config has been received")
        if name == "replSetStepDown":
            if self.step_down_error:
                self._fail(what, *self.step_down_error)
            self.state = "SECONDARY"
            if self.closes_on_step_down:
                raise MongoModuleError("%s on %s failed: connection closed" % (what, ADDRESS), code=None,
                                       member=ADDRESS)
        return {"ok": 1}


def params(user=None, password=None):
    return {"login_user": user, "login_password": password, "login_database": "admin"}


def decide(member):
    return decide_login(member, ADDRESS, member.params, member.hello(login_hello_command(member.params)))


# ---------------------------------------------------------------- the login decision


@pytest.mark.parametrize("case, member, mode, failed", [
    ("good credentials", FakeMember(params("admin", SECRET), users={("admin", "admin"): SECRET}),
     LOGIN_CREDENTIALS, False),
    ("no user yet, no credentials", FakeMember(params()), LOGIN_LOCALHOST_EXCEPTION, False),
    ("no user yet, credentials of the user to come", FakeMember(params("admin", SECRET)),
     LOGIN_LOCALHOST_EXCEPTION, True),
    ("no user yet, set not initiated (94 is an answer)", FakeMember(params(), state="NO_CONFIG"),
     LOGIN_LOCALHOST_EXCEPTION, False),
    ("no user yet, but not over localhost", FakeMember(params(), local=False), LOGIN_REFUSED, False),
    ("users exist, no credentials", FakeMember(params(), users={("admin", "admin"): SECRET}), LOGIN_REFUSED, False),
    ("users exist, wrong password", FakeMember(params("admin", "wrong-one"), users={("admin", "admin"): SECRET}),
     LOGIN_REFUSED, True),
    ("users exist, not this one", FakeMember(params("ops", SECRET), users={("admin", "admin"): SECRET}),
     LOGIN_REFUSED, True),
    ("authorization off", FakeMember(params(), auth=False), LOGIN_NO_AUTHORIZATION, False),
    ("authorization off, unknown user", FakeMember(params("admin", SECRET), auth=False),
     LOGIN_NO_AUTHORIZATION, True),
])
def test_one_decision(case, member, mode, failed):
    decision = decide(member)
    assert (decision["mode"], decision["credentials_failed"]) == (mode, failed), case
    assert SECRET not in decision["msg"]


def test_the_refusal_says_whether_the_user_exists():
    wrong = decide(FakeMember(params("admin", "wrong-one"), users={("admin", "admin"): SECRET}))
    assert wrong["user_exists"] is True
    assert wrong["msg"] == "users exist on localhost:27017 and admin@admin does not log in: its password is wrong"
    missing = decide(FakeMember(params("ops", SECRET), users={("admin", "admin"): SECRET}))
    assert missing["user_exists"] is False
    assert missing["msg"] == "users exist on localhost:27017, but not ops@admin, and nothing else may log in"
    none = decide(FakeMember(params(), users={("admin", "admin"): SECRET}))
    assert none["msg"] == "users exist on localhost:27017 and no credentials were given"


def test_good_credentials_need_one_command():
    member = FakeMember(params("admin", SECRET), users={("admin", "admin"): SECRET})
    decide(member)
    assert member.calls == [("connectionStatus", True)]


def test_credentials_that_log_in_report_the_roles_connection_status_gives():
    class Granted(FakeMember):
        def command(self, address, command, what, with_credentials=True, database="admin"):
            reply = super().command(address, command, what, with_credentials, database)
            if next(iter(command)) == "connectionStatus":
                reply["authInfo"] = {"authenticatedUsers": [{"user": "admin", "db": "admin"}],
                                     "authenticatedUserRoles": [{"role": "root", "db": "admin"},
                                                                {"role": "read", "db": "app"}]}
            return reply
    granted = decide(Granted(params("admin", SECRET), users={("admin", "admin"): SECRET}))
    assert granted["mode"] == "credentials"
    # Sorted by database, then role (as usersInfo's roles are compared).
    assert granted["roles"] == [{"role": "root", "db": "admin"}, {"role": "read", "db": "app"}]
    refused = decide(Granted(params("admin", "wrong"), users={("admin", "admin"): SECRET}))
    assert refused["roles"] is None


def test_a_silent_member_is_an_error_not_a_mode():
    class Silent(FakeMember):
        def command(self, address, command, what, with_credentials=True, database="admin"):
            raise MongoModuleError("%s on %s failed: timed out" % (what, address), code=None, member=address)
    with pytest.raises(MongoModuleError, match="timed out"):
        decide(Silent(params()))


@pytest.mark.parametrize("hello, state", [
    (None, "UNREACHABLE"),
    ({"isWritablePrimary": True, "setName": "rs0"}, "PRIMARY"),
    ({"ismaster": True}, "STANDALONE"),
    ({"secondary": True, "setName": "rs0"}, "SECONDARY"),
    ({"arbiterOnly": True, "setName": "rs0"}, "ARBITER"),
    ({"setName": "rs0", "secondary": False}, "OTHER"),
    ({"isreplicaset": True}, "NO_CONFIG"),
    ({}, "NOT_REPLICA_SET"),
])
def test_member_state(hello, state):
    assert member_state(hello) == state


# ---------------------------------------------------------------- the member module


def test_ask_reports_state_and_login():
    member = FakeMember(params("admin", SECRET), users={("admin", "admin"): SECRET})
    report = ask(member, ADDRESS, member.params)
    assert report["state"] == "PRIMARY" and report["primary"] == "db1:27017"
    assert report["login"] == LOGIN_CREDENTIALS and report["can_step_down"] is True
    assert report["hosts"] == ["db1:27017", "db2:27017"] and report["config_version"] == 3


def test_ask_for_polling_sends_hello_only():
    member = FakeMember(params("admin", SECRET), users={("admin", "admin"): SECRET})
    report = ask(member, ADDRESS, member.params, check_login=False)
    assert member.calls == [("hello", False)]
    assert report["login"] is None and report["can_step_down"] is None


def test_a_member_that_does_not_answer_is_reported():
    member = FakeMember(params(), answers=False)
    report = ask(member, ADDRESS, member.params)
    assert report["state"] == "UNREACHABLE" and "Connection refused" in report["error"]
    assert report["login"] is None


def test_a_certificate_problem_is_an_error():
    assert tls_failure("localhost:27017: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: Hostname "
                       "mismatch, certificate is not valid for 'localhost'.")
    assert not tls_failure("localhost:27017: [Errno 111] Connection refused")


def test_step_down_with_credentials():
    member = FakeMember(params("admin", SECRET), users={("admin", "admin"): SECRET})
    report = ask(member, ADDRESS, member.params)
    changed, after = step_down(member, ADDRESS, member.params, report, 60, 10)
    assert changed is True and after["state"] == "SECONDARY" and after["can_step_down"] is False
    assert ("replSetStepDown", True) in member.calls


def test_step_down_in_check_mode_sends_nothing():
    member = FakeMember(params("admin", SECRET), users={("admin", "admin"): SECRET})
    report = ask(member, ADDRESS, member.params)
    changed, after = step_down(member, ADDRESS, member.params, report, 60, 10, check_mode=True)
    assert changed is True and after["state"] == "PRIMARY"
    assert not [call for call in member.calls if call[0] == "replSetStepDown"]


def test_a_secondary_is_left_alone():
    member = FakeMember(params(), auth=False, state="SECONDARY")
    changed, after = step_down(member, ADDRESS, member.params, ask(member, ADDRESS, member.params), 60, 10)
    assert changed is False and after["state"] == "SECONDARY"


@pytest.mark.parametrize("member, reason", [
    (FakeMember(params()), "the localhost exception does not allow replSetStepDown"),
    (FakeMember(params("admin", "wrong-one"), users={("admin", "admin"): SECRET}),
     "the login is refused: users exist on localhost:27017 and admin@admin does not log in"),
    (FakeMember(params(), auth=False, hosts=["db1:27017"]), "no other member can be elected"),
])
def test_step_down_refused_before_anything_is_sent(member, reason):
    report = ask(member, ADDRESS, member.params)
    assert report["can_step_down"] is False
    with pytest.raises(MongoModuleError, match=reason):
        step_down(member, ADDRESS, member.params, report, 60, 10)
    assert member.state == "PRIMARY"


def test_no_secondary_caught_up():
    member = FakeMember(params(), auth=False, step_down_error=(262, "No electable secondaries caught up"))
    with pytest.raises(MongoModuleError, match=r"code 262.*within catch_up_secs \(10 s\).*never forced"):
        step_down(member, ADDRESS, member.params, ask(member, ADDRESS, member.params), 60, 10)


def test_a_connection_closed_by_the_step_down_counts_when_hello_agrees():
    member = FakeMember(params(), auth=False, closes_on_step_down=True)
    changed, after = step_down(member, ADDRESS, member.params, ask(member, ADDRESS, member.params), 60, 10)
    assert changed is True and after["state"] == "SECONDARY"


# ---------------------------------------------------------------- the oplog resize's pure decisions


@pytest.mark.parametrize("size, hours, words", [
    (989, None, ["oplog_size_mb is 989", "990 to 1073741824"]),
    (1073741825, None, ["oplog_size_mb is 1073741825"]),
    (None, -0.5, ["oplog_min_retention_hours is -0.5"]),
    (100, -1, ["oplog_size_mb is 100", "oplog_min_retention_hours is -1"]),
])
def test_oplog_options_out_of_mongods_range(size, hours, words):
    text = "; ".join(oplog_option_problems(size, hours))
    for word in words:
        assert word in text


@pytest.mark.parametrize("size, hours", [(990, None), (1073741824, 0), (None, 0.5), (None, None)])
def test_oplog_options_in_range(size, hours):
    assert oplog_option_problems(size, hours) == []


def test_oplog_command_sends_only_what_differs_as_doubles():
    live = {"size_mb": 990.0, "min_retention_hours": 0.0}
    fields = oplog_command(live, 2048, 24)
    assert fields == {"size": 2048.0, "minRetentionHours": 24.0}
    assert all(isinstance(value, float) for value in fields.values())
    assert oplog_command(live, 990, None) == {}
    assert oplog_command(live, None, 0) == {}
    assert oplog_command({"size_mb": 2048.0, "min_retention_hours": 1.5}, 2048, 24) == {"minRetentionHours": 24.0}
    # A size that is not a whole number of MB (resized by hand to 2048.5) differs from 2048.
    assert oplog_command({"size_mb": 2048.5, "min_retention_hours": 0.0}, 2048, None) == {"size": 2048.0}


# ---------------------------------------------------------------- replication lag

T0 = datetime.datetime(2026, 12, 1, 12, 0, 0)


def status(me_state, me_optime, primary_optime=None, primary=True):
    members = [{"name": "db1:27017", "stateStr": me_state, "self": True}]
    if me_optime is not None:
        members[0]["optimeDate"] = me_optime
    if primary and me_state != "PRIMARY":
        members.append({"name": "db2:27017", "stateStr": "PRIMARY", "optimeDate": primary_optime})
    members.append({"name": "db3:27017", "stateStr": "SECONDARY", "optimeDate": T0 - datetime.timedelta(hours=1)})
    return {"set": "rs0", "members": members}


@pytest.mark.parametrize("reply, lag, why", [
    (status("SECONDARY", T0, T0 + datetime.timedelta(seconds=12.5)), 12.5, None),
    (status("SECONDARY", T0, T0), 0.0, None),
    # The primary's optime as the member last heard it may be older than the member's own: no negative lag.
    (status("SECONDARY", T0 + datetime.timedelta(seconds=2), T0), 0.0, None),
    (status("PRIMARY", T0), 0.0, None),
    (status("ARBITER", None, T0), None, "an arbiter keeps no data"),
    (status("SECONDARY", T0, primary=False), None, "the member knows no primary"),
    (status("SECONDARY", None, T0), None, "no optimeDate for db1:27017"),
    ({"members": [{"name": "db2:27017", "stateStr": "PRIMARY", "optimeDate": T0}]}, None, "no member as this one"),
])
def test_replication_lag(reply, lag, why):
    got, reason = replication_lag(reply)
    assert got == lag
    if why is None:
        assert reason is None
    else:
        assert why in reason


@pytest.mark.parametrize("state, lag, limit, expected", [
    ("SECONDARY", 3.0, 10, True),
    ("SECONDARY", 10.0, 10, True),
    ("SECONDARY", 10.5, 10, False),
    ("SECONDARY", None, 10, False),
    ("PRIMARY", 0.0, 0, True),
    ("ARBITER", None, 0, True),
    ("OTHER", 0.0, 10, False),
    ("UNREACHABLE", None, 10, False),
])
def test_caught_up(state, lag, limit, expected):
    assert caught_up(state, lag, limit) is expected


class LagMember:
    """replSetGetStatus only, as the wait after a restart sends it."""

    def __init__(self, reply=None, code=None):
        self.reply = reply
        self.code = code
        self.calls = []

    def command(self, address, command, what, with_credentials=True, database="admin"):
        self.calls.append((next(iter(command)), with_credentials))
        if self.code is not None or self.reply is None:
            raise MongoModuleError("%s on %s failed: code %s" % (what, address, self.code), code=self.code,
                                   member=address)
        return self.reply


def test_read_lag_reports_a_lagging_secondary_as_not_caught_up():
    member = LagMember(status("SECONDARY", T0, T0 + datetime.timedelta(seconds=30)))
    report = read_lag(member, ADDRESS, {"state": "SECONDARY"}, True, 10)
    assert (report["lag_secs"], report["caught_up"]) == (30.0, False)
    assert member.calls == [("replSetGetStatus", True)]


def test_read_lag_of_a_member_coming_up_is_not_an_error():
    for state, member in (("UNREACHABLE", LagMember()), ("OTHER", LagMember(code=None)),
                          ("SECONDARY", LagMember(code=94))):
        report = read_lag(member, ADDRESS, {"state": state}, True, 10)
        assert report["caught_up"] is False and report["lag_secs"] is None and report["lag_msg"]
    # A member that does not answer is not asked.
    silent = LagMember()
    read_lag(silent, ADDRESS, {"state": "UNREACHABLE"}, True, 10)
    assert silent.calls == []


def test_read_lag_does_not_log_in_on_an_arbiter():
    # An arbiter holds no users: credentials would fail there, and it has no data to lag with.
    arbiter = LagMember(code=18)
    report = read_lag(arbiter, ADDRESS, {"state": "ARBITER"}, True, 0)
    assert (report["caught_up"], report["lag_secs"], arbiter.calls) == (True, None, [])


@pytest.mark.parametrize("code", [13, 18])
def test_read_lag_refused_is_an_error_naming_the_member_and_the_role(code):
    with pytest.raises(MongoModuleError) as raised:
        read_lag(LagMember(code=code), ADDRESS, {"state": "SECONDARY"}, True, 10)
    assert ADDRESS in raised.value.msg and "clusterMonitor" in raised.value.msg
