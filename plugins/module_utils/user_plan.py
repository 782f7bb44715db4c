# -*- coding: utf-8 -*-
# Copyright: quorum.mongodb contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure decisions behind quorum.mongodb.user: which roles a declaration means,
whether the user must be created, updated or dropped, and the diff to show.

No connection and no I/O here (the module asks the server and passes the
answers in); unit-tested in tests/unit/plugins/module_utils/test_user_plan.py.
Passwords never enter a result of this module: only whether one is set.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class UserPlanError(ValueError):
    """A declaration that cannot be carried out; the message says which option to fix."""


def normalize_roles(roles, database):
    """Declared roles as a sorted, duplicate-free list of ``{"role": ..., "db": ...}``.

    A string names a role on ``database`` (the user's own database); a dict
    gives ``role`` and optionally ``db`` (default ``database``). ``None`` stays
    ``None``: roles are then not managed.
    """
    if roles is None:
        return None
    if not isinstance(roles, (list, tuple)):
        raise UserPlanError("roles must be a list of role names or {role, db} dicts, got %r" % (roles,))
    seen = set()
    for index, item in enumerate(roles):
        if isinstance(item, str):
            role, db = item, database
        elif isinstance(item, dict):
            unknown = sorted(set(item) - set(("role", "db")))
            if unknown:
                raise UserPlanError("roles[%d] has unknown keys %s; a role is a name or a dict with role and db"
                                    % (index, ", ".join(unknown)))
            role, db = item.get("role"), item.get("db", database)
        else:
            raise UserPlanError("roles[%d] must be a role name or a dict with role and db, got %r" % (index, item))
        if not isinstance(role, str) or not role.strip():
            raise UserPlanError("roles[%d] needs a role name (a non-empty string), got %r" % (index, role))
        if not isinstance(db, str) or not db.strip():
            raise UserPlanError("roles[%d] (%s) needs a database name (a non-empty string), got %r"
                                % (index, role, db))
        seen.add((db.strip(), role.strip()))
    return [{"role": role, "db": db} for db, role in sorted(seen)]


def server_roles(user_doc):
    """The roles of a ``usersInfo`` entry, in the same normal form."""
    roles = (user_doc or {}).get("roles") or []
    return [{"role": r["role"], "db": r["db"]} for r in sorted(roles, key=lambda r: (r["db"], r["role"]))]


def roles_match(granted, declared, database):
    """Whether ``granted`` (roles as ``connectionStatus`` or ``usersInfo`` give them) are exactly ``declared``.

    ``declared`` is a user's roles as a task declares them (names or ``{role, db}`` dicts, for normalize_roles;
    names are on ``database``). ``granted`` None (not known) never matches.
    """
    if granted is None:
        return False
    return server_roles({"roles": granted}) == normalize_roles(declared, database)


def _verb(check_mode, done, planned):
    return planned if check_mode else done


def roles_text(roles):
    return ", ".join("%s@%s" % (r["role"], r["db"]) for r in roles) if roles else "no roles"


def plan_user(name, database, state, current, roles, password_given, update_password, password_matches=None,
              check_mode=False):
    """What to do for one user.

    ``current`` is the ``usersInfo`` entry of the user, or None when it does not
    exist. ``roles`` comes from normalize_roles (None: not managed).
    ``password_matches`` is whether the declared password authenticates as the
    existing user (None when not checked); it matters only with
    ``update_password: always``.

    Returns a dict: ``action`` (None, "create", "update" or "drop"), ``roles``
    (what the user will have, or None after a drop), ``set_roles`` and
    ``set_password`` (what an update sends), ``diff`` (before/after, no password)
    and ``msg`` (worded "would ..." in check mode).
    """
    who = "%s@%s" % (name, database)
    exists = current is not None
    now = server_roles(current) if exists else None
    before = {"user": name, "db": database, "exists": exists, "roles": now if exists else []}
    plan = {"action": None, "roles": now, "set_roles": False, "set_password": False}

    if state == "absent":
        if exists:
            plan["action"] = "drop"
            plan["roles"] = None
            plan["msg"] = "%s user %s" % (_verb(check_mode, "dropped", "would drop"), who)
            after = {"user": name, "db": database, "exists": False, "roles": []}
        else:
            plan["msg"] = "user %s does not exist" % who
            after = dict(before)
        plan["diff"] = {"before": before, "after": after}
        return plan

    if not exists:
        if not password_given:
            raise UserPlanError("user %s does not exist and no password is given: set password to create it" % who)
        plan.update(action="create", roles=roles or [], set_roles=True, set_password=True)
        plan["msg"] = "%s user %s with %s" % (_verb(check_mode, "created", "would create"), who,
                                              roles_text(plan["roles"]))
    else:
        wanted = now if roles is None else roles
        plan["set_roles"] = wanted != now
        plan["set_password"] = bool(password_given and update_password == "always" and password_matches is False)
        plan["roles"] = wanted
        if plan["set_roles"] or plan["set_password"]:
            plan["action"] = "update"
            changes = []
            if plan["set_roles"]:
                changes.append("roles %s -> %s" % (roles_text(now), roles_text(wanted)))
            if plan["set_password"]:
                changes.append("password")
            plan["msg"] = "%s user %s: %s" % (_verb(check_mode, "updated", "would update"), who, "; ".join(changes))
        else:
            plan["msg"] = "user %s is up to date (%s)" % (who, roles_text(now))
    after = {"user": name, "db": database, "exists": True, "roles": plan["roles"]}
    if plan["set_password"]:
        # Say that a password is set, never which.
        after["password"] = "set"
    plan["diff"] = {"before": before, "after": after}
    return plan


def command_for(plan, name, password, write_concern):
    """The user command the plan sends (with the password, so never return or log it)."""
    action = plan["action"]
    if action == "create":
        return dict([("createUser", name), ("pwd", password), ("roles", plan["roles"]),
                     ("writeConcern", write_concern)])
    if action == "update":
        command = dict([("updateUser", name)])
        if plan["set_password"]:
            command["pwd"] = password
        if plan["set_roles"]:
            command["roles"] = plan["roles"]
        command["writeConcern"] = write_concern
        return command
    if action == "drop":
        return dict([("dropUser", name), ("writeConcern", write_concern)])
    return None
