"""Unit tests for plugins/module_utils/user_plan.py (what quorum.mongodb.user decides)."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.quorum.mongodb.plugins.module_utils import user_plan as up

WC = {"w": "majority", "wtimeout": 60000}


def existing(*roles):
    return {"user": "app", "db": "shop", "roles": [{"role": r, "db": d} for r, d in roles]}


# ---------------------------------------------------------------- roles


def test_roles_strings_live_on_the_users_database_and_dicts_say_where():
    roles = up.normalize_roles(["readWrite", {"role": "read", "db": "reporting"}, {"role": "dbAdmin"}], "shop")
    assert roles == [{"role": "read", "db": "reporting"}, {"role": "dbAdmin", "db": "shop"},
                     {"role": "readWrite", "db": "shop"}]


def test_roles_are_deduplicated_and_order_does_not_matter():
    one = up.normalize_roles(["read", {"role": "read", "db": "shop"}, "readWrite"], "shop")
    two = up.normalize_roles(["readWrite", "read"], "shop")
    assert one == two == [{"role": "read", "db": "shop"}, {"role": "readWrite", "db": "shop"}]


def test_roles_not_given_are_not_managed():
    assert up.normalize_roles(None, "admin") is None
    assert up.normalize_roles([], "admin") == []


@pytest.mark.parametrize(("roles", "message"), [
    ("root", "roles must be a list"),
    ([1], "roles[0] must be a role name"),
    ([{"role": "read", "database": "x"}], "roles[0] has unknown keys database"),
    ([{"db": "x"}], "roles[0] needs a role name"),
    (["read", " "], "roles[1] needs a role name"),
    ([{"role": "read", "db": ""}], "roles[0] (read) needs a database name"),
])
def test_bad_roles_are_rejected_with_the_index(roles, message):
    with pytest.raises(up.UserPlanError, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        up.normalize_roles(roles, "admin")


@given(st.lists(st.one_of(st.sampled_from(["read", "readWrite", "dbAdmin"]),
                          st.fixed_dictionaries({"role": st.sampled_from(["read", "root"]),
                                                 "db": st.sampled_from(["admin", "shop"])})), max_size=8))
def test_normalized_roles_are_a_fixed_point(roles):
    once = up.normalize_roles(roles, "shop")
    assert up.normalize_roles(once, "shop") == once
    assert once == sorted(once, key=lambda r: (r["db"], r["role"]))
    # The server's form of the same roles compares equal.
    assert up.server_roles({"roles": list(reversed(once))}) == once


# ---------------------------------------------------------------- create


def test_create_when_missing():
    plan = up.plan_user("app", "shop", "present", None, up.normalize_roles(["readWrite"], "shop"), True, "on_create")
    assert plan["action"] == "create"
    assert plan["roles"] == [{"role": "readWrite", "db": "shop"}]
    assert plan["msg"] == "created user app@shop with readWrite@shop"
    assert plan["diff"]["before"] == {"user": "app", "db": "shop", "exists": False, "roles": []}
    assert plan["diff"]["after"] == {"user": "app", "db": "shop", "exists": True,
                                     "roles": [{"role": "readWrite", "db": "shop"}], "password": "set"}
    command = up.command_for(plan, "app", "s3cret", WC)
    assert list(command) == ["createUser", "pwd", "roles", "writeConcern"]
    assert command["pwd"] == "s3cret" and command["writeConcern"] == WC


def test_create_without_roles_given_creates_without_roles():
    plan = up.plan_user("app", "shop", "present", None, None, True, "on_create")
    assert plan["roles"] == [] and plan["action"] == "create"


def test_create_needs_a_password():
    with pytest.raises(up.UserPlanError, match="user app@shop does not exist and no password is given"):
        up.plan_user("app", "shop", "present", None, [], False, "on_create")


def test_check_mode_words_the_message_as_a_plan():
    plan = up.plan_user("app", "shop", "present", None, [], True, "on_create", check_mode=True)
    assert plan["msg"].startswith("would create user app@shop")


# ---------------------------------------------------------------- update


def test_nothing_to_do_when_roles_match_and_password_is_on_create():
    plan = up.plan_user("app", "shop", "present", existing(("readWrite", "shop")),
                        up.normalize_roles(["readWrite"], "shop"), True, "on_create", password_matches=False)
    assert plan["action"] is None
    assert plan["msg"] == "user app@shop is up to date (readWrite@shop)"
    assert plan["diff"]["before"] == plan["diff"]["after"]
    assert up.command_for(plan, "app", "pw", WC) is None


def test_roles_change_replaces_the_roles():
    plan = up.plan_user("app", "shop", "present", existing(("readWrite", "shop"), ("read", "other")),
                        up.normalize_roles(["read"], "shop"), True, "on_create")
    assert plan["action"] == "update" and plan["set_roles"] and not plan["set_password"]
    command = up.command_for(plan, "app", "pw", WC)
    assert command == {"updateUser": "app", "roles": [{"role": "read", "db": "shop"}], "writeConcern": WC}
    assert "pwd" not in command
    assert plan["msg"] == "updated user app@shop: roles read@other, readWrite@shop -> read@shop"
    assert "password" not in plan["diff"]["after"]


def test_roles_not_given_keep_the_existing_roles():
    plan = up.plan_user("app", "shop", "present", existing(("readWrite", "shop")), None, True, "on_create")
    assert plan["action"] is None and plan["roles"] == [{"role": "readWrite", "db": "shop"}]


@pytest.mark.parametrize(("update_password", "matches", "expected"), [
    ("always", False, True),
    ("always", True, False),
    ("always", None, False),
    ("on_create", False, False),
])
def test_password_is_set_only_when_always_and_it_does_not_match(update_password, matches, expected):
    plan = up.plan_user("app", "shop", "present", existing(("read", "shop")), up.normalize_roles(["read"], "shop"),
                        True, update_password, password_matches=matches)
    assert plan["set_password"] is expected
    assert (plan["action"] == "update") is expected
    if expected:
        assert up.command_for(plan, "app", "new", WC) == {"updateUser": "app", "pwd": "new", "writeConcern": WC}
        assert plan["diff"]["after"]["password"] == "set"
        assert plan["msg"] == "updated user app@shop: password"


def test_no_password_means_no_password_change():
    plan = up.plan_user("app", "shop", "present", existing(("read", "shop")), None, False, "always",
                        password_matches=False)
    assert plan["action"] is None


# ---------------------------------------------------------------- drop


def test_drop_when_present_and_nothing_when_absent():
    plan = up.plan_user("app", "shop", "absent", existing(("read", "shop")), None, False, "on_create")
    assert plan["action"] == "drop" and plan["roles"] is None
    assert up.command_for(plan, "app", None, WC) == {"dropUser": "app", "writeConcern": WC}
    assert plan["diff"]["after"]["exists"] is False
    plan = up.plan_user("app", "shop", "absent", None, None, False, "on_create", check_mode=True)
    assert plan["action"] is None and plan["msg"] == "user app@shop does not exist"


# ---------------------------------------------------------------- no secrets


@given(st.text(alphabet="xyz", min_size=12, max_size=12), st.sampled_from(["present", "absent"]), st.booleans(),
       st.sampled_from(["always", "on_create"]), st.sampled_from([None, True, False]))
def test_only_the_command_carries_the_password(password, state, exists, update_password, matches):
    current = existing(("read", "shop")) if exists else None
    plan = up.plan_user("app", "shop", state, current, up.normalize_roles(["readWrite"], "shop"), True,
                        update_password, password_matches=matches)
    command = up.command_for(plan, "app", password, WC)
    assert password not in json.dumps(plan)
    if command is not None:
        assert (password in json.dumps(command)) is ("pwd" in command)
        assert [key for key, value in command.items() if value == password] == (["pwd"] if "pwd" in command else [])
