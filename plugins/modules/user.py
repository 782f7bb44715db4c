#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: quorum.mongodb contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: user
short_description: Manage a MongoDB user and its roles, including the first admin through the localhost exception
version_added: "0.1.0"
description:
  - Creates, updates or drops one user on a replica set's primary (or a standalone mongod), idempotently.
  - Roles are compared as a set of (role, database) pairs; when they differ the user's roles are replaced by the
    declared ones.
  - The first user of a set with authorization enabled can be created through the localhost exception. Connect
    over localhost without credentials, or with the credentials of the user being created (they fail to
    authenticate while the user does not exist, and the module then falls back to the exception). The exception
    allows exactly one user to be created, in the C(admin) database; give it a role that can manage users
    (C(root) or C(userAdminAnyDatabase)).
  - The task must run against the primary. The module asks the member with C(hello) first and fails, naming the
    member and the primary it knows of, when it is not the primary.
  - User commands are sent with write concern C(majority) (60 seconds timeout), so a change the module reports
    survives a failover.
author:
  - quorum.mongodb contributors (!UNKNOWN)
options:
  name:
    description: Name of the user.
    type: str
    required: true
  password:
    description:
      - Password of the user. Needed to create it. Never logged, never shown in a diff.
      - How it is applied to an existing user is set by O(update_password).
    type: str
  database:
    description: Database the user is defined in (its authentication database).
    type: str
    default: admin
  roles:
    description:
      - Roles of the user. Each is either a role name (a role on O(database)) or a dictionary with C(role) and
        C(db) (C(db) defaults to O(database)).
      - When given, the user ends up with exactly these roles (an empty list removes them all).
      - When not given, an existing user keeps its roles and a new user is created without roles.
    type: list
    elements: raw
  update_password:
    description:
      - C(on_create) sets the password only when the user is created.
      - C(always) also makes an existing user's password the declared one. The module first checks the declared
        password by authenticating with it (SCRAM) and changes it, reporting a change, only when that fails.
    type: str
    choices: [always, on_create]
    default: on_create
  state:
    description: Whether the user exists (C(present)) or not (C(absent)).
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - quorum.mongodb.connection
attributes:
  check_mode:
    support: full
    description: Reports what would change (and checks passwords by authenticating), changes nothing.
  diff_mode:
    support: full
    description: Before and after of the user's existence and roles, and whether a password is set; never a password.
notes:
  - The localhost exception closes as soon as the first user exists. If that user cannot manage users, only
    that user can be used from then on, so give the first user C(root) or C(userAdminAnyDatabase).
  - Verified against mongosim (the project's MongoDB-compatible test server), not against a real mongod.
seealso:
  - name: Localhost exception
    description: MongoDB's description of the localhost exception.
    link: https://www.mongodb.com/docs/manual/core/localhost-exception/
"""

EXAMPLES = r"""
- name: Create the first admin through the localhost exception (and keep it as it is later)
  quorum.mongodb.user:
    name: admin
    password: "{{ mongodb_admin_password }}"
    database: admin
    roles: [root]
    login_user: admin
    login_password: "{{ mongodb_admin_password }}"
  no_log: true

- name: An application user with roles on two databases, password enforced on every run
  quorum.mongodb.user:
    name: shop
    password: "{{ shop_password }}"
    database: shop
    roles:
      - readWrite
      - role: read
        db: reporting
    update_password: always
    login_user: admin
    login_password: "{{ mongodb_admin_password }}"
  no_log: true

- name: Remove a user
  quorum.mongodb.user:
    name: legacy
    database: shop
    state: absent
    login_user: admin
    login_password: "{{ mongodb_admin_password }}"
  no_log: true
"""

RETURN = r"""
changed:
  description: Whether the user was (or, in check mode, would be) created, updated or dropped.
  returned: always
  type: bool
msg:
  description: What was done (or would be done in check mode), naming the user and its roles.
  returned: always
  type: str
  sample: "created user admin@admin with root@admin"
user:
  description: The user as it is after the task (as it would be in check mode).
  returned: success
  type: dict
  contains:
    name:
      description: Name of the user.
      type: str
      returned: success
    db:
      description: Database the user is defined in.
      type: str
      returned: success
    exists:
      description: Whether the user exists after the task.
      type: bool
      returned: success
    roles:
      description: Roles of the user, sorted by database and role; empty when it does not exist.
      type: list
      elements: dict
      returned: success
      sample: [{"role": "root", "db": "admin"}]
password_changed:
  description: Whether the password was (or would be) set, on creation or by O(update_password=always).
  returned: success
  type: bool
localhost_exception:
  description: Whether the module worked through the localhost exception (no user existed yet).
  returned: success
  type: bool
member:
  description: The member the module talked to (C(host:port)).
  returned: always
  type: str
  sample: "localhost:27017"
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.quorum.mongodb.plugins.module_utils.mongodb_common import (
    CONNECTION_REQUIRED_TOGETHER,
    Connector,
    MongoModuleError,
    connection_argument_spec,
    ensure_pymongo,
)
from ansible_collections.quorum.mongodb.plugins.module_utils.user_plan import (
    UserPlanError,
    command_for,
    normalize_roles,
    plan_user,
)

WRITE_CONCERN = {"w": "majority", "wtimeout": 60000}
NOT_AUTHORIZED = 13
AUTHENTICATION_FAILED = 18
# Connecting with credentials, when nothing else fails, means they are good.
LOGIN_MODE_CREDENTIALS = "credentials"
# Authorization disabled: everything is allowed without credentials.
LOGIN_MODE_NO_AUTH = "no authorization"
LOGIN_MODE_EXCEPTION = "localhost exception"


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


def unauthenticated_mode(connector, address):
    """How far a connection without credentials gets: no authorization, the localhost exception, or nothing (None).

    ``usersInfo`` needs authentication whenever authorization is on; ``replSetGetStatus``
    needs it too except under the localhost exception (which grants it, not usersInfo).
    Any answer but Unauthorized (13) to the second means the exception let it through.
    """
    try:
        connector.command(address, {"usersInfo": 1}, "usersInfo without credentials", with_credentials=False)
        return LOGIN_MODE_NO_AUTH
    except MongoModuleError as exc:
        if _code(exc) != NOT_AUTHORIZED:
            raise
    try:
        connector.command(address, {"replSetGetStatus": 1}, "replSetGetStatus without credentials",
                          with_credentials=False)
        return LOGIN_MODE_EXCEPTION
    except MongoModuleError as exc:
        if _code(exc) == NOT_AUTHORIZED:
            return None
        if _code(exc) is None:
            raise
        # A standalone (76) or not yet initiated member (94): authorization let the command through.
        return LOGIN_MODE_EXCEPTION


def login(connector, address, params, hello):
    """The login mode: credentials when given and accepted, else what works without them."""
    login_user = params.get("login_user")
    login_db = params.get("login_database") or "admin"
    if login_user:
        try:
            connector.command(address, {"connectionStatus": 1},
                              "authenticating as %s@%s" % (login_user, login_db))
            return LOGIN_MODE_CREDENTIALS
        except MongoModuleError as exc:
            if _code(exc) != AUTHENTICATION_FAILED:
                raise
            failure = exc.msg
        if "saslSupportedMechs" in hello:
            raise MongoModuleError("%s. User %s@%s exists on %s, so login_password is wrong for it."
                                   % (failure, login_user, login_db, address), code=AUTHENTICATION_FAILED,
                                   member=address)
        mode = unauthenticated_mode(connector, address)
        if mode is None:
            raise MongoModuleError(
                "%s. User %s@%s does not exist on %s and the localhost exception is closed there (users exist "
                "already, or the connection does not come from localhost): log in as an existing user that can "
                "manage users." % (failure, login_user, login_db, address),
                code=AUTHENTICATION_FAILED, member=address)
        return mode
    mode = unauthenticated_mode(connector, address)
    if mode is None:
        raise MongoModuleError("%s requires authentication (users exist there, so the localhost exception is "
                               "closed): set login_user and login_password." % address,
                               code=NOT_AUTHORIZED, member=address)
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


def manage(module, connector, address, roles):
    params = module.params
    name, database, state = params["name"], params["database"], params["state"]
    password = params.get("password")
    who = "%s@%s" % (name, database)

    hello = {"hello": 1}
    if params.get("login_user"):
        hello["saslSupportedMechs"] = "%s.%s" % (params.get("login_database") or "admin", params["login_user"])
    hello_reply = connector.command(address, hello, "hello", with_credentials=False)
    require_primary(hello_reply, address, who)
    mode = login(connector, address, params, hello_reply)
    with_credentials = mode == LOGIN_MODE_CREDENTIALS

    if mode == LOGIN_MODE_EXCEPTION:
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
                     password_matches=matches, check_mode=module.check_mode)

    if plan["action"] and not module.check_mode:
        command = command_for(plan, name, password, WRITE_CONCERN)
        try:
            connector.command(address, command, "%s %s" % (list(command)[0], who),
                              with_credentials=with_credentials, database=database)
        except MongoModuleError as exc:
            if mode == LOGIN_MODE_EXCEPTION and _code(exc) == NOT_AUTHORIZED:
                exc.msg += (" (the localhost exception only allows creating one user, in the admin database; "
                            "create the first user there)")
            raise
        if mode == LOGIN_MODE_EXCEPTION and with_login_as_created(params, plan):
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
        localhost_exception=mode == LOGIN_MODE_EXCEPTION,
    )
    if module._diff:
        result["diff"] = plan["diff"]
    return result


def with_login_as_created(params, plan):
    return plan["action"] == "create" and same_login(params)


def main():
    argument_spec = connection_argument_spec()
    argument_spec.update(
        name=dict(type="str", required=True),
        password=dict(type="str", no_log=True),
        database=dict(type="str", default="admin"),
        roles=dict(type="list", elements="raw"),
        update_password=dict(type="str", default="on_create", choices=["always", "on_create"], no_log=False),
        state=dict(type="str", default="present", choices=["present", "absent"]),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           required_together=CONNECTION_REQUIRED_TOGETHER)
    ensure_pymongo(module)
    connector = Connector(module.params, app_name="quorum.mongodb.user")
    address = connector.login_address()
    try:
        roles = normalize_roles(module.params["roles"], module.params["database"])
        result = manage(module, connector, address, roles)
    except UserPlanError as exc:
        module.fail_json(msg=str(exc), member=address)
    except MongoModuleError as exc:
        module.fail_json(msg=exc.msg, member=address, code=exc.details.get("code"))
    finally:
        connector.close()
    module.exit_json(**result)


if __name__ == "__main__":
    main()
