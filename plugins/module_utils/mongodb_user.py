# -*- coding: utf-8 -*-
# Copyright: quorum.mongodb contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What quorum.mongodb.user does on the server: find out how it may log in
(mongodb_common.decide_login: credentials, no authorization, or the localhost
exception; refused is an error here), read the user,
check a password by authenticating with it, and send the one user command
user_plan decided on.

Talks to the server only through a mongodb_common.Connector, so the unit tests
(tests/unit/plugins/module_utils/test_mongodb_user.py) drive it with a fake
server that follows mongod's authorization rules.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.quorum.mongodb.plugins.module_utils.mongodb_common import (
    LOGIN_CREDENTIALS,
    LOGIN_LOCALHOST_EXCEPTION,
    LOGIN_REFUSED,
    ErrorCode,
    MongoModuleError,
    decide_login,
    login_hello_command,
)
from ansible_collections.quorum.mongodb.plugins.module_utils.user_plan import command_for, plan_user

WRITE_CONCERN = {"w": "majority", "wtimeout": 60000}


def _code(exc):
    return exc.details.get("code")


def require_primary(hello, address, who):
    """Fail unless the member is a writable primary (or a standalone), naming the primary it knows of."""
    if hello.get("isWritablePrimary", hello.get("ismaster")):
        return
    if hello.get("secondary"):
        what = "a SECONDARY"
    elif hello.get("arbiterOnly"):
        what = "an ARBITER"
    elif hello.get("isreplicaset") and not hello.get("setName"):
        what = "not a member of an initiated replica set (it has no valid config)"
    else:
        what = "not writable (no primary at the moment)"
    primary = hello.get("primary")
    where = ("the primary is %s according to %s" % (primary, address)) if primary else \
        "%s knows of no primary right now" % address
    raise MongoModuleError("cannot manage user %s on %s: the member is %s, and users are managed on the primary; "
                           "%s. Run the task against the primary." % (who, address, what, where), member=address)


def login(connector, address, params, hello):
    """The login mode (mongodb_common.decide_login), or MongoModuleError when the user module cannot go on.

    Stricter than the decision itself in one case: credentials of a user that exists but whose password is
    wrong are an error even where nothing asks for credentials, so a typo never goes unnoticed.
    """
    login_user = params.get("login_user")
    login_db = params.get("login_database") or "admin"
    decision = decide_login(connector, address, params, hello)
    mode = decision["mode"]
    if decision["credentials_failed"]:
        failure = "authenticating as %s@%s on %s failed: code %d: Authentication failed." % (
            login_user, login_db, address, ErrorCode.AuthenticationFailed)
        if decision["user_exists"]:
            raise MongoModuleError("%s. User %s@%s exists on %s, so login_password is wrong for it."
                                   % (failure, login_user, login_db, address), code=ErrorCode.AuthenticationFailed,
                                   member=address)
        if mode == LOGIN_REFUSED:
            raise MongoModuleError(
                "%s. User %s@%s does not exist on %s and the localhost exception is closed there (users exist "
                "already, or the connection does not come from localhost): log in as an existing user that can "
                "manage users." % (failure, login_user, login_db, address),
                code=ErrorCode.AuthenticationFailed, member=address)
    if mode == LOGIN_REFUSED:
        raise MongoModuleError("%s requires authentication (users exist there, so the localhost exception is "
                               "closed): set login_user and login_password." % address,
                               code=ErrorCode.Unauthorized, member=address)
    return mode


def current_user(connector, address, name, database, with_credentials):
    reply = connector.command(address, {"usersInfo": {"user": name, "db": database}},
                              "usersInfo for %s@%s" % (name, database), with_credentials=with_credentials,
                              database=database)
    users = reply.get("users") or []
    return users[0] if users else None


def same_login(params):
    """Whether the module logs in as the user it manages, with the declared password."""
    return (params.get("login_user") == params["name"]
            and (params.get("login_database") or "admin") == params["database"]
            and params.get("login_password") == params.get("password"))


def manage_user(connector, address, params, roles, check_mode=False, diff=False):
    """Converge one user; the module's result (without the password)."""
    name, database, state = params["name"], params["database"], params["state"]
    password = params.get("password")
    who = "%s@%s" % (name, database)

    hello_reply = connector.command(address, login_hello_command(params), "hello", with_credentials=False)
    require_primary(hello_reply, address, who)
    mode = login(connector, address, params, hello_reply)
    with_credentials = mode == LOGIN_CREDENTIALS

    if mode == LOGIN_LOCALHOST_EXCEPTION:
        # No user and no role exists, so neither does this one.
        current = None
    else:
        current = current_user(connector, address, name, database, with_credentials)

    matches = None
    if (state == "present" and current is not None and password is not None
            and params["update_password"] == "always"):
        if with_credentials and same_login(params):
            matches = True  # we are logged in with exactly this password
        else:
            matches = connector.credentials_valid(address, name, password, database)

    plan = plan_user(name, database, state, current, roles, password is not None, params["update_password"],
                     password_matches=matches, check_mode=check_mode)

    if plan["action"] and not check_mode:
        command = command_for(plan, name, password, WRITE_CONCERN)
        try:
            connector.command(address, command, "%s %s" % (list(command)[0], who),
                              with_credentials=with_credentials, database=database)
        except MongoModuleError as exc:
            if mode == LOGIN_LOCALHOST_EXCEPTION and _code(exc) == ErrorCode.Unauthorized:
                raise MongoModuleError(exc.msg + " (the localhost exception only allows creating one user, in the "
                                       "admin database; create the first user there)", **exc.details) from exc
            raise
        if mode == LOGIN_LOCALHOST_EXCEPTION and with_login_as_created(params, plan):
            # The exception is closed now; the login credentials must work from here on. A fresh
            # connection proves it (the first one was refused before the user existed).
            if not connector.credentials_valid(address, name, password, database):
                raise MongoModuleError("user %s was created on %s through the localhost exception, but logging in "
                                       "as it with the declared password fails" % (who, address), member=address)

    result = dict(
        changed=plan["action"] is not None,
        msg=plan["msg"],
        member=address,
        user=dict(name=name, db=database, exists=plan["roles"] is not None, roles=plan["roles"] or []),
        password_changed=bool(plan["action"] in ("create", "update") and plan["set_password"]),
        localhost_exception=mode == LOGIN_LOCALHOST_EXCEPTION,
    )
    if diff:
        result["diff"] = plan["diff"]
    return result


def with_login_as_created(params, plan):
    return plan["action"] == "create" and same_login(params)
