"""Unit tests for read_tls_mode and raise_tls_mode (plugins/module_utils/mongodb_member.py) against a fake member
whose setParameter tlsMode follows mongod's rule as tests/mongosim/SEMANTICS.md section 9.4 writes it down: only
allowTLS to preferTLS and preferTLS to requireTLS, anything else BadValue 2."""

import pytest

from ansible_collections.quorum.mongodb.plugins.module_utils.mongodb_common import (
    LOGIN_CREDENTIALS,
    LOGIN_LOCALHOST_EXCEPTION,
    LOGIN_NO_AUTHORIZATION,
    MongoModuleError,
)
from ansible_collections.quorum.mongodb.plugins.module_utils.mongodb_member import (
    raise_tls_mode,
    read_tls_mode,
)
from ansible_collections.quorum.mongodb.plugins.module_utils.tls_modes import TLS_MODE_RUNTIME_STEPS

ADDRESS = "localhost:27017"


class FakeTlsMember:
    def __init__(self, mode, reads_back=None):
        self.mode = mode
        self.reads_back = reads_back
        self.calls = []

    def command(self, address, command, what, with_credentials=True, database="admin", **kwargs):
        self.calls.append((what, with_credentials))
        if "getParameter" in command:
            return {"tlsMode": self.mode}
        if "setParameter" in command:
            if (self.mode, command["tlsMode"]) not in (("allowTLS", "preferTLS"), ("preferTLS", "requireTLS")):
                raise MongoModuleError("setParameter on %s failed: code 2: Illegal state transition" % address,
                                       code=2, member=address)
            was, self.mode = self.mode, self.reads_back or command["tlsMode"]
            return {"was": was}
        raise AssertionError(command)


def report(login=LOGIN_CREDENTIALS, state="PRIMARY"):
    return {"state": state, "login": login, "login_msg": "the login"}


def test_the_module_and_the_fake_share_mongods_two_moves():
    assert set(TLS_MODE_RUNTIME_STEPS) == {("allowTLS", "preferTLS"), ("preferTLS", "requireTLS")}


@pytest.mark.parametrize("login, expected", [(LOGIN_CREDENTIALS, "preferTLS"), (LOGIN_NO_AUTHORIZATION, "preferTLS"),
                                             (LOGIN_LOCALHOST_EXCEPTION, None)])
def test_the_live_mode_is_read_where_the_login_may(login, expected):
    member = FakeTlsMember("preferTLS")
    assert read_tls_mode(member, ADDRESS, report(login)) == expected
    assert read_tls_mode(member, ADDRESS, report(state="UNREACHABLE")) is None


@pytest.mark.parametrize("start, asked", [("allowTLS", "preferTLS"), ("preferTLS", "requireTLS")])
def test_one_step_up_is_sent_and_read_back(start, asked):
    member = FakeTlsMember(start)
    assert raise_tls_mode(member, ADDRESS, report(), asked) == (True, start)
    assert member.mode == asked
    assert [what for what, _creds in member.calls] == ["getParameter", "setParameter", "getParameter"]


def test_the_mode_already_running_sends_nothing():
    member = FakeTlsMember("requireTLS")
    assert raise_tls_mode(member, ADDRESS, report(), "requireTLS") == (False, "requireTLS")
    assert [what for what, _creds in member.calls] == ["getParameter"]


def test_check_mode_reads_and_sends_nothing():
    member = FakeTlsMember("allowTLS")
    assert raise_tls_mode(member, ADDRESS, report(), "preferTLS", check_mode=True) == (True, "allowTLS")
    assert member.mode == "allowTLS" and [what for what, _c in member.calls] == ["getParameter"]


@pytest.mark.parametrize("start, asked", [("allowTLS", "requireTLS"), ("disabled", "allowTLS"),
                                          ("requireTLS", "preferTLS"), ("preferTLS", "disabled")])
def test_a_move_mongod_does_not_make_is_refused_before_anything_is_sent(start, asked):
    member = FakeTlsMember(start)
    with pytest.raises(MongoModuleError, match="cannot set the tlsMode of %s from %s to %s" % (ADDRESS, start, asked)):
        raise_tls_mode(member, ADDRESS, report(), asked)
    assert [what for what, _creds in member.calls] == ["getParameter"]


def test_a_mode_that_does_not_read_back_fails():
    member = FakeTlsMember("allowTLS", reads_back="allowTLS")
    with pytest.raises(MongoModuleError, match="reads back allowTLS"):
        raise_tls_mode(member, ADDRESS, report(), "preferTLS")


def test_the_localhost_exception_cannot_set_the_mode():
    with pytest.raises(MongoModuleError, match="setParameter needs a user with hostManager"):
        raise_tls_mode(FakeTlsMember("allowTLS"), ADDRESS, report(LOGIN_LOCALHOST_EXCEPTION), "preferTLS")


def test_an_arbiter_is_read_under_the_localhost_exception_but_not_raised():
    member = FakeTlsMember("allowTLS")
    arbiter = report(LOGIN_LOCALHOST_EXCEPTION, state="ARBITER")
    assert read_tls_mode(member, ADDRESS, arbiter) == "allowTLS"
    with pytest.raises(MongoModuleError, match="setParameter needs a user with hostManager"):
        raise_tls_mode(member, ADDRESS, arbiter, "preferTLS")
