"""User-defined roles: createRole, updateRole, dropRole, grantRolesToRole,
revokeRolesFromRole, grantPrivilegesToRole, revokePrivilegesFromRole and
rolesInfo.

Role documents live in admin.system.roles with mongod's shape (_id
"<db>.<role>", role, db, privileges, roles, authenticationRestrictions when
given) and are written through the oplog like users, so they replicate.
Checks, codes and messages follow mongod's user management commands
[src: db/auth/user_management_commands.cpp (CmdUMCTyped<CreateRoleCommand> and
the others, checkOkayToGrantRolesToRole, checkOkayToGrantPrivilegesToRole,
insertRoleDocument, updateRoleDocument); db/auth/user_management_commands.idl;
docs: reference/command/createRole, rolesInfo, reference/resource-document].
SEMANTICS.md section 4.3 lists them.
"""

import copy

from . import auth as authmod
from .commands import _entry, _user_doc, _write_entries, check_writable, command, require, role_doc
from .errors import CommandError

ROLES_NS = "admin.system.roles"
USERS_NS = "admin.system.users"
INVALID_ROLE_MODIFICATION = 49
ROLE_ALREADY_EXISTS = 51002


def _role_name(given, db):
    if isinstance(given, str):
        return {"role": given, "db": db}
    if isinstance(given, dict) and isinstance(given.get("role"), str) and isinstance(given.get("db"), str):
        return {"role": given["role"], "db": given["db"]}
    raise CommandError(2, "Role names must be either strings or objects")


def _resolve_role_names(roles, db):
    return [_role_name(r, db) for r in roles]


def _exists(server, role):
    return authmod.is_builtin_role(role["role"], role["db"]) or role_doc(server, role["db"], role["role"]) \
        is not None


def _roles_exist(server, roles):
    for role in roles:
        if not _exists(server, role):
            raise CommandError(31, "Could not find role: %s@%s" % (role["role"], role["db"]))


def _full(role):
    return "%s@%s" % (role["role"], role["db"])


def _subordinates(server, role, seen=None):
    """Every role reachable from ``role`` through inheritance (not including it)."""
    seen = set() if seen is None else seen
    doc = role_doc(server, role["db"], role["role"])
    for sub in (doc or {}).get("roles", []):
        key = (sub["role"], sub["db"])
        if key not in seen:
            seen.add(key)
            _subordinates(server, sub, seen)
    return seen


def _check_grant_roles(server, role, to_add):
    """checkOkayToGrantRolesToRole: the roles exist, none is the role itself, a
    role outside admin inherits only from its own database, and no cycle."""
    for add in to_add:
        if add == role:
            raise CommandError(INVALID_ROLE_MODIFICATION, "Cannot grant role %s to itself." % _full(role))
        if role["db"] != "admin" and add["db"] != role["db"]:
            raise CommandError(INVALID_ROLE_MODIFICATION, "Roles on the '%s' database cannot be granted roles from "
                               "other databases" % role["db"])
        _roles_exist(server, [add])
        if (role["role"], role["db"]) in _subordinates(server, add):
            raise CommandError(INVALID_ROLE_MODIFICATION, "Granting %s to %s would introduce a cycle in the role "
                               "graph." % (_full(add), _full(role)))


def _parse_privileges(privileges, db):
    """Validate privileges (resource documents and action names) and merge
    those with the same resource, as privilegeVectorFromParsedPrivilegeVector and
    addPrivilegesToPrivilegeVector do."""
    if not isinstance(privileges, list):
        raise CommandError(14, "BSON field 'privileges' is the wrong type, expected type 'array'")
    out = []
    for priv in privileges:
        if not isinstance(priv, dict) or not isinstance(priv.get("resource"), dict) or \
                not isinstance(priv.get("actions"), list):
            raise CommandError(40414, "BSON field 'privilege.resource' is missing but a required field",
                               code_name_override="Location40414")
        resource = dict(priv["resource"])
        keys = set(resource)
        valid = (keys == {"cluster"} and resource["cluster"] is True) or \
                (keys == {"anyResource"} and resource["anyResource"] is True) or \
                (keys == {"db", "collection"} and all(isinstance(v, str) for v in resource.values()))
        if not valid:
            raise CommandError(2, "resource must have exactly one of 'cluster', 'anyResource' or 'db' and "
                               "'collection': %s" % resource)
        for action in priv["actions"]:
            if action not in authmod.ACTIONS:
                raise CommandError(9, "Unrecognized action privilege string: %s" % action)
        for existing in out:
            if existing["resource"] == resource:
                for action in priv["actions"]:
                    if action not in existing["actions"]:
                        existing["actions"].append(action)
                break
        else:
            out.append({"resource": resource, "actions": list(dict.fromkeys(priv["actions"]))})
    return out


def _check_grant_privileges(role, privileges):
    """checkOkayToGrantPrivilegesToRole: outside admin, only its own database."""
    if role["db"] == "admin":
        return
    for priv in privileges:
        res = priv["resource"]
        if "db" in res and res["db"] == role["db"]:
            continue
        raise CommandError(INVALID_ROLE_MODIFICATION, "Roles on the '%s' database cannot be granted privileges "
                           "that target other databases or the cluster" % role["db"])


def _require_array(ctx, field):
    if field not in ctx.body:
        raise CommandError(40414, "BSON field '%s.%s' is missing but a required field" % (ctx.name, field),
                           code_name_override="Location40414")
    if not isinstance(ctx.body[field], list):
        raise CommandError(14, "BSON field '%s.%s' is the wrong type '%s', expected type 'array'"
                           % (ctx.name, field, type(ctx.body[field]).__name__))
    return ctx.body[field]


def _not_builtin(role):
    if authmod.is_builtin_role(role["role"], role["db"]):
        raise CommandError(2, "%s is a built-in role and cannot be modified" % _full(role))


def _existing(ctx, role):
    doc = role_doc(ctx.server, role["db"], role["role"])
    if doc is None:
        raise CommandError(31, "Could not find role: %s" % _full(role))
    return doc


async def _replace(ctx, doc):
    await _write_entries(ctx, [_entry(ctx, "u", ROLES_NS, doc, {"_id": doc["_id"]})], "admin")


@command("createRole", auth=("db", "createRole"), write=True)
async def cmd_create_role(ctx):
    check_writable(ctx, "admin")
    name, db = ctx.arg, ctx.db
    if not isinstance(name, str) or not name:
        raise CommandError(2, "Role name must be non-empty")
    role = {"role": name, "db": db}
    if db == "local":
        raise CommandError(2, "Cannot create roles in the local database")
    if db == "$external":
        raise CommandError(2, "Cannot create roles in the $external database")
    if authmod.is_builtin_role(name, db):
        raise CommandError(2, "Cannot create roles with the same name as a built-in role")
    privileges = _parse_privileges(_require_array(ctx, "privileges"), db)
    roles = _resolve_role_names(_require_array(ctx, "roles"), db)
    doc = {"_id": "%s.%s" % (db, name), "role": name, "db": db, "privileges": privileges, "roles": roles}
    restrictions = ctx.body.get("authenticationRestrictions")
    if restrictions:
        doc["authenticationRestrictions"] = restrictions
    _check_grant_roles(ctx.server, role, roles)
    _check_grant_privileges(role, privileges)
    if role_doc(ctx.server, db, name) is not None:
        raise CommandError(ROLE_ALREADY_EXISTS, "Role \"%s\" already exists" % _full(role),
                           code_name_override="Location51002")
    await _write_entries(ctx, [_entry(ctx, "i", ROLES_NS, doc)], "admin")
    return {}


@command("updateRole", auth=("db", "createRole"), write=True)
async def cmd_update_role(ctx):
    check_writable(ctx, "admin")
    role = {"role": ctx.arg, "db": ctx.db}
    has = [f for f in ("roles", "privileges", "authenticationRestrictions") if f in ctx.body]
    if not has:
        raise CommandError(2, "Must specify at least one field to update in updateRole")
    privileges = roles = None
    if "privileges" in ctx.body:
        privileges = _parse_privileges(ctx.body["privileges"], ctx.db)
    if "roles" in ctx.body:
        roles = _resolve_role_names(_require_array(ctx, "roles"), ctx.db)
    doc = _existing(ctx, role)
    if roles is not None:
        _check_grant_roles(ctx.server, role, roles)
    if privileges:
        _check_grant_privileges(role, privileges)
    new = copy.deepcopy(doc)
    if privileges is not None:
        new["privileges"] = privileges
    if roles is not None:
        new["roles"] = roles
    if "authenticationRestrictions" in ctx.body:
        if ctx.body["authenticationRestrictions"]:
            new["authenticationRestrictions"] = ctx.body["authenticationRestrictions"]
        else:
            new.pop("authenticationRestrictions", None)
    await _replace(ctx, new)
    return {}


@command("dropRole", auth=("db", "dropRole"), write=True)
async def cmd_drop_role(ctx):
    check_writable(ctx, "admin")
    role = {"role": ctx.arg, "db": ctx.db}
    _not_builtin(role)
    doc = _existing(ctx, role)
    server = ctx.server
    entries = []
    # Like mongod, take the role away from every user and role that has it, then
    # delete it (mongod does this in one transaction; here in one oplog batch).
    users = server.storage.collection("admin", "system.users")
    for user in list(users.docs.values()) if users else []:
        if role in user.get("roles", []):
            new = copy.deepcopy(user)
            new["roles"] = [r for r in new["roles"] if r != role]
            entries.append(_entry(ctx, "u", USERS_NS, new, {"_id": user["_id"]}))
    roles = server.storage.collection("admin", "system.roles")
    for other in list(roles.docs.values()) if roles else []:
        if role in other.get("roles", []):
            new = copy.deepcopy(other)
            new["roles"] = [r for r in new["roles"] if r != role]
            entries.append(_entry(ctx, "u", ROLES_NS, new, {"_id": other["_id"]}))
    entries.append(_entry(ctx, "d", ROLES_NS, {"_id": doc["_id"]}))
    await _write_entries(ctx, entries, "admin")
    return {}


@command("grantRolesToRole", auth=("db", "grantRole"), write=True)
async def cmd_grant_roles_to_role(ctx):
    check_writable(ctx, "admin")
    role = {"role": ctx.arg, "db": ctx.db}
    given = _require_array(ctx, "roles")
    if not given:
        raise CommandError(2, "grantRolesToRole command requires a non-empty \"roles\" array")
    _not_builtin(role)
    to_add = _resolve_role_names(given, ctx.db)
    doc = _existing(ctx, role)
    _check_grant_roles(ctx.server, role, to_add)
    new = copy.deepcopy(doc)
    for add in to_add:
        if add not in new["roles"]:
            new["roles"].append(add)
    await _replace(ctx, new)
    return {}


@command("revokeRolesFromRole", auth=("db", "revokeRole"), write=True)
async def cmd_revoke_roles_from_role(ctx):
    check_writable(ctx, "admin")
    role = {"role": ctx.arg, "db": ctx.db}
    given = _require_array(ctx, "roles")
    if not given:
        raise CommandError(2, "revokeRolesFromRole command requires a non-empty \"roles\" array")
    _not_builtin(role)
    to_remove = _resolve_role_names(given, ctx.db)
    doc = _existing(ctx, role)
    new = copy.deepcopy(doc)
    new["roles"] = [r for r in new["roles"] if r not in to_remove]
    await _replace(ctx, new)
    return {}


@command("grantPrivilegesToRole", auth=("db", "grantRole"), write=True)
async def cmd_grant_privileges_to_role(ctx):
    check_writable(ctx, "admin")
    role = {"role": ctx.arg, "db": ctx.db}
    given = _require_array(ctx, "privileges")
    if not given:
        raise CommandError(2, "grantPrivilegesToRole command requires a non-empty \"privileges\" array")
    _not_builtin(role)
    privileges = _parse_privileges(given, ctx.db)
    _check_grant_privileges(role, privileges)
    doc = _existing(ctx, role)
    new = copy.deepcopy(doc)
    new["privileges"] = _parse_privileges(new.get("privileges", []) + privileges, ctx.db)
    await _replace(ctx, new)
    return {}


@command("revokePrivilegesFromRole", auth=("db", "revokeRole"), write=True)
async def cmd_revoke_privileges_from_role(ctx):
    check_writable(ctx, "admin")
    role = {"role": ctx.arg, "db": ctx.db}
    given = _require_array(ctx, "privileges")
    if not given:
        raise CommandError(2, "revokePrivilegesFromRole command requires a non-empty \"privileges\" array")
    _not_builtin(role)
    removing = _parse_privileges(given, ctx.db)
    doc = _existing(ctx, role)
    new = copy.deepcopy(doc)
    kept = []
    for priv in new.get("privileges", []):
        for rm in removing:
            if rm["resource"] == priv["resource"]:
                priv["actions"] = [a for a in priv["actions"] if a not in rm["actions"]]
        if priv["actions"]:
            kept.append(priv)
    new["privileges"] = kept
    await _replace(ctx, new)
    return {}


# ---------------------------------------------------------------- rolesInfo

def _builtin_privileges(role, db):
    """mongosim's tables for a built-in role, as privilege documents (mongod's
    lists are longer; these are the actions mongosim enforces)."""
    cluster, dbs = authmod.role_privileges(role, db)
    out = []
    if cluster:
        out.append({"resource": {"cluster": True}, "actions": sorted(cluster)})
    for name, actions in sorted(dbs.items()):
        out.append({"resource": {"db": "" if name == "*" else name, "collection": ""}, "actions": sorted(actions)})
    return out


def _builtin_names(db):
    if db == "admin":
        return sorted(r for r in authmod.BUILTIN_ROLES if r != "__system") + ["__system"]
    return sorted(r for r in authmod.BUILTIN_ROLES if r not in authmod.ANY_DATABASE_ROLES and r != "__system")


def _describe(server, role, show_privileges, show_restrictions):
    """One entry of rolesInfo's reply [docs: reference/command/rolesInfo, "Output"]."""
    builtin = authmod.is_builtin_role(role["role"], role["db"])
    doc = None if builtin else role_doc(server, role["db"], role["role"])
    if not builtin and doc is None:
        return None
    direct = [] if builtin else list(doc.get("roles", []))
    inherited = []
    privileges = _builtin_privileges(role["role"], role["db"]) if builtin else list(doc.get("privileges", []))
    inherited_privileges = [copy.deepcopy(p) for p in privileges]
    restrictions = [] if builtin else list(doc.get("authenticationRestrictions", []))
    inherited_restrictions = [restrictions] if restrictions else []
    seen = set()
    stack = list(direct)
    while stack:
        sub = stack.pop(0)
        key = (sub["role"], sub["db"])
        if key in seen:
            continue
        seen.add(key)
        inherited.append({"role": sub["role"], "db": sub["db"]})
        if authmod.is_builtin_role(*key):
            sub_privs = _builtin_privileges(*key)
        else:
            sub_doc = role_doc(server, sub["db"], sub["role"]) or {}
            sub_privs = sub_doc.get("privileges", [])
            stack.extend(sub_doc.get("roles", []))
            if sub_doc.get("authenticationRestrictions"):
                inherited_restrictions.append(sub_doc["authenticationRestrictions"])
        for priv in sub_privs:
            for have in inherited_privileges:
                if have["resource"] == priv["resource"]:
                    have["actions"] = sorted(set(have["actions"]) | set(priv["actions"]))
                    break
            else:
                inherited_privileges.append(copy.deepcopy(priv))
    entry = {}
    if not builtin:
        entry["_id"] = doc["_id"]
    entry.update({"role": role["role"], "db": role["db"], "isBuiltin": builtin, "roles": direct,
                  "inheritedRoles": inherited})
    if show_privileges:
        entry["privileges"] = privileges
        entry["inheritedPrivileges"] = inherited_privileges
    if show_restrictions:
        # Each restriction document wrapped in an array, as the peer's
        # community.mongodb mongodb_role reads it back (item[0]) [inferred].
        entry["authenticationRestrictions"] = [[r] for r in restrictions]
        entry["inheritedAuthenticationRestrictions"] = inherited_restrictions
    return entry


@command("rolesInfo", auth=None)
async def cmd_roles_info(ctx):
    server, db = ctx.server, ctx.db
    spec = ctx.arg
    show_privileges = ctx.body.get("showPrivileges")
    if show_privileges == "asUserFragment":
        raise CommandError(2, "mongosim does not implement rolesInfo's showPrivileges: \"asUserFragment\"")
    show_privileges = bool(show_privileges)
    show_restrictions = bool(ctx.body.get("showAuthenticationRestrictions"))
    if isinstance(spec, (int, float)) and not isinstance(spec, bool) and spec == 1:
        wanted = None
    elif isinstance(spec, (str, dict)):
        wanted = [_role_name(spec, db)]
    elif isinstance(spec, list):
        wanted = [_role_name(item, db) for item in spec]
    else:
        raise CommandError(2, "BSON field 'rolesInfo' is not a valid role specification: must be 1, a role name, "
                           "a role document or an array of them")
    if server.auth_enabled:
        # viewRole on the role's database, except for roles the session holds
        # [docs: reference/command/rolesInfo, "Required Access"].
        held = set()
        for (user, udb) in list(ctx.conn.principals):
            udoc = _user_doc(server, udb, user)
            if udoc is not None:
                held |= authmod.Principal(user, udb, udoc["roles"], lambda r, d: role_doc(server, d, r)).all_roles
        if wanted is None:
            require(ctx, db, "viewRole")
        else:
            for role in wanted:
                if (role["role"], role["db"]) not in held:
                    require(ctx, role["db"], "viewRole")
    out = []
    if wanted is None:
        coll = server.storage.collection("admin", "system.roles")
        for doc in sorted((coll.docs.values() if coll else []), key=lambda d: d["role"]):
            if doc["db"] == db:
                out.append(_describe(server, {"role": doc["role"], "db": doc["db"]}, show_privileges,
                                     show_restrictions))
        if ctx.body.get("showBuiltinRoles"):
            for name in _builtin_names(db):
                out.append(_describe(server, {"role": name, "db": db}, show_privileges, show_restrictions))
    else:
        for role in wanted:
            entry = _describe(server, role, show_privileges, show_restrictions)
            if entry is not None:
                out.append(entry)
    return {"roles": out}
