"""Command dispatch and the commands mongosim implements.

Every command returns the reply fields (``ok`` and the cluster-time gossip are
added here) or raises CommandError with MongoDB's code. Anything unknown
answers 59 CommandNotFound, like mongod.
"""

import asyncio
import copy
import datetime
import math
import os
import platform
import socket
import time

from bson.decimal128 import Decimal128
from bson.int64 import Int64
from bson.objectid import ObjectId

from . import auth as authmod
from . import fcv as fcvmod
from . import query as q
from . import validation
from .bsonutil import MISSING, bson_type_name, equal, get_path, id_key
from .errors import RETRYABLE_WRITE_CODES, STATE_CHANGE_CODES, CommandError
from .log import LOG
from .storage import OpTime

CLOSE_CONNECTION = object()
# Fields drivers add to any command (sessions, gossip, API version, timeouts).
GENERIC_FIELDS = frozenset({"lsid", "txnNumber", "autocommit", "startTransaction", "$clusterTime", "$db",
                            "$readPreference", "apiVersion", "apiStrict", "apiDeprecationErrors", "maxTimeMS",
                            "readConcern", "writeConcern", "comment", "$audit", "$client", "mayBypassWriteBlocking"})
REGISTRY = {}


class Spec:
    __slots__ = ("name", "handler", "auth", "admin_only", "write", "read", "metric")

    def __init__(self, name, handler, auth, admin_only, write, read):
        self.name = name
        self.handler = handler
        self.auth = auth
        self.admin_only = admin_only
        self.write = write
        self.read = read


def command(*names, auth=("cluster", None), admin_only=False, write=False, read=False):
    """Register a handler. ``auth`` is None (no authentication needed),
    ("cluster", action), ("db", action), ("internal", None) or ("custom", fn)."""

    def decorate(fn):
        for name in names:
            REGISTRY[name] = Spec(name, fn, auth, admin_only, write, read)
        return fn

    return decorate


class Ctx:
    __slots__ = ("server", "conn", "db", "body", "name", "legacy")

    def __init__(self, server, conn, db, body, name, legacy):
        self.server = server
        self.conn = conn
        self.db = db
        self.body = body
        self.name = name
        self.legacy = legacy

    @property
    def repl(self):
        return self.server.repl

    @property
    def arg(self):
        return self.body[self.name]


def is_exhaust_hello(body, reply):
    name = next(iter(body), None)
    return name in ("hello", "isMaster", "ismaster") and "topologyVersion" in body and reply.get("ok") == 1.0


# ====================================================================== dispatch

async def dispatch(server, conn, body, legacy_op_query=False):
    name = next(iter(body), None)
    db = body.get("$db", "admin")
    spec = REGISTRY.get(name)
    metric = server.command_metrics.setdefault(name if spec else "<UNKNOWN>", [0, 0])
    metric[0] += 1
    server.opcounters["command"] += 1
    ctx = Ctx(server, conn, db, body, name, legacy_op_query)
    try:
        if spec is None:
            raise CommandError(59, "no such command: '%s'" % name)
        if server.shutting_down and name not in ("hello", "isMaster", "ismaster") and server.quiesce_until is None:
            raise CommandError(91, "The server is in quiesce mode and will shut down")
        if spec.admin_only and db != "admin":
            raise CommandError(13, "%s may only be run against the admin database." % name)
        if conn.peer_max_wire is not None and name not in ("hello", "isMaster", "ismaster") and \
                not server.accepts_wire_version(conn.peer_max_wire):
            # The FCV moved past the last LTS while this older peer was connected: drop it.
            return CLOSE_CONNECTION
        check_authorized(ctx, spec)
        check_max_time_ms(body)
        result = await spec.handler(ctx)
        if result is CLOSE_CONNECTION:
            return result
        reply = dict(result) if result else {}
        reply["ok"] = 1.0
    except CommandError as exc:
        metric[1] += 1
        reply = exc.to_reply()
        if exc.code in STATE_CHANGE_CODES and server.repl is not None:
            reply["topologyVersion"] = server.repl.topology_version()
        if exc.code in RETRYABLE_WRITE_CODES and spec is not None and spec.write and "txnNumber" in body:
            reply["errorLabels"] = ["RetryableWriteError"]
    except Exception as exc:  # noqa: BLE001 - an unexpected bug must not kill the server
        LOG.error("COMMAND", 9990002, "Unexpected error in command", {"command": name, "error": repr(exc)})
        metric[1] += 1
        reply = CommandError(1, "mongosim internal error in %s: %r" % (name, exc)).to_reply()
    _gossip(server, reply)
    return reply


INT_MAX = 2 ** 31 - 1


def check_max_time_ms(body):
    """The generic ``maxTimeMS`` argument, parsed for every command before it runs
    (parseMaxTimeMS in src/mongo/db/query/max_time_ms_parser.cpp, called from the command
    execution path in service_entry_point_common.cpp): a number, integral, 0..INT_MAX,
    else BadValue (2). 0 or absent means no limit."""
    if "maxTimeMS" not in body:
        return
    value = body["maxTimeMS"]
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal128)):
        raise CommandError(2, "maxTimeMS must be a number")
    if isinstance(value, Decimal128):
        value = float(value.to_decimal())
    as_long = value
    if isinstance(value, float):
        # safeNumberLong: NaN is 0, other doubles truncate toward zero (saturating).
        as_long = 0 if math.isnan(value) else int(max(min(value, 2.0 ** 63 - 1), -2.0 ** 63))
    if as_long < 0 or as_long > INT_MAX:
        raise CommandError(2, "%d value for maxTimeMS is out of range" % as_long)
    if isinstance(value, float) and not value.is_integer():
        raise CommandError(2, "maxTimeMS has non-integral value")


def _gossip(server, reply):
    repl = server.repl
    if repl is None or repl.config is None:
        return
    ts = server.storage.last_optime().ts
    reply["$clusterTime"] = {"clusterTime": ts, "signature": {"hash": b"\x00" * 20, "keyId": Int64(0)}}
    reply.setdefault("operationTime", ts)


# ====================================================================== authorization

def _users_exist(server):
    users = server.storage.collection("admin", "system.users")
    roles = server.storage.collection("admin", "system.roles")
    return bool(users and users.docs) or bool(roles and roles.docs)


def localhost_exception_open(server, conn):
    return (conn.is_local and server.opts.parameters.get("enableLocalhostAuthBypass", True)
            and not _users_exist(server))


def role_doc(server, db, role):
    coll = server.storage.collection("admin", "system.roles")
    if coll is None:
        return None
    return coll.docs.get(id_key("%s.%s" % (db, role)))


def _principal(server, conn, user, db):
    """The session's Principal for user@db, rebuilt when the user's roles or any
    user-defined role changed (mongod invalidates its user cache on every user
    management command)."""
    doc = _user_doc(server, db, user)
    if doc is None:
        return None
    roles_coll = server.storage.collection("admin", "system.roles")
    cached = conn.principals.get((user, db))
    if cached is None or cached.roles != doc["roles"] or (roles_coll is not None and roles_coll.docs):
        cached = conn.principals[(user, db)] = authmod.Principal(
            user, db, doc["roles"], lambda r, d: role_doc(server, d, r))
    return cached


def _principal_allows(server, conn, resource, action, collection=None):
    for (user, db) in list(conn.principals):
        if user == authmod.INTERNAL_USER and db == authmod.INTERNAL_DB:
            return True
        principal = _principal(server, conn, user, db)
        if principal is not None and principal.allows(resource, action, collection):
            return True
    return False


def authorized(server, conn, resource, action, collection=None):
    if not server.auth_enabled:
        return True
    if _principal_allows(server, conn, resource, action, collection):
        return True
    if localhost_exception_open(server, conn):
        key = ("cluster" if resource == "cluster" else resource, action)
        if key in authmod.LOCALHOST_EXCEPTION:
            return True
        if server.repl is not None and server.repl.state == 7 and key in authmod.LOCALHOST_EXCEPTION_ARBITER:
            return True
    return False


def any_privilege_in_db(server, conn, db):
    """AuthorizationSession::isAuthorizedForAnyActionOnAnyResourceInDB: any privilege
    on the database or on one of its collections (a user-defined role may name one),
    or the localhost exception's bootstrap privileges."""
    if not server.auth_enabled:
        return True
    for (user, udb) in list(conn.principals):
        if user == authmod.INTERNAL_USER and udb == authmod.INTERNAL_DB:
            return True
        principal = _principal(server, conn, user, udb)
        if principal is not None and principal.any_in_db(db):
            return True
    if localhost_exception_open(server, conn):
        return any(resource == db for resource, _action in authmod.LOCALHOST_EXCEPTION)
    return False


def _render(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"%s"' % value
    if isinstance(value, dict):
        return "{ " + ", ".join("%s: %s" % (k, _render(v)) for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[ " + ", ".join(_render(v) for v in value[:3]) + (", ..." if len(value) > 3 else "") + " ]"
    return str(value)


def _summary(body):
    """The command as mongod quotes it in "not authorized" errors (secrets left out)."""
    parts = []
    for key, value in body.items():
        if key.startswith("$") or key in ("lsid", "pwd", "txnNumber", "documents", "updates", "deletes"):
            continue
        parts.append("%s: %s" % (key, _render(value)))
    return "{ " + ", ".join(parts[:6]) + " }"


def require(ctx, resource, action, collection=None):
    server, conn = ctx.server, ctx.conn
    if authorized(server, conn, resource, action, collection):
        return
    if not conn.principals:
        raise CommandError(13, "Command %s requires authentication" % ctx.name)
    raise CommandError(13, "not authorized on %s to execute command %s" % (ctx.db, _summary(ctx.body)))


# Commands whose first field names the collection they act on: their privilege
# check is on that namespace, so a privilege on {db, collection} covers them
# [src: the commands' checkAuthForOperation / doCheckAuthorization, e.g.
# db/commands/find_cmd.cpp, db/commands/write_commands.cpp].
COLLECTION_COMMANDS = frozenset({
    "insert", "update", "delete", "findAndModify", "findandmodify", "create", "drop", "createIndexes",
    "dropIndexes", "deleteIndexes", "find", "count", "distinct", "aggregate", "listIndexes", "collStats",
    "collMod", "killCursors",
})


def _target_collection(ctx):
    if ctx.name == "getMore":
        value = ctx.body.get("collection")
    elif ctx.name in COLLECTION_COMMANDS:
        value = ctx.body.get(ctx.name)
    else:
        return None
    return value if isinstance(value, str) else None


def check_authorized(ctx, spec):
    if spec.auth is None or not ctx.server.auth_enabled:
        return
    kind, action = spec.auth
    if kind == "cluster":
        require(ctx, "cluster", action)
    elif kind == "db":
        require(ctx, ctx.db, action, _target_collection(ctx))
    elif kind == "internal":
        require(ctx, "cluster", "internal")
    elif kind == "custom":
        action(ctx)


# ====================================================================== replica-set gates

def _repl_gate(ctx):
    if ctx.repl is None:
        raise CommandError(76, "not running with --replSet")
    ctx.repl.check_initialized()
    return ctx.repl


def _not_primary_message(ctx):
    return "not primary" if ctx.conn.hello_ok or not ctx.legacy else "not master"


def check_writable(ctx, db=None):
    db = db or ctx.db
    repl = ctx.repl
    if repl is None or db == "local":
        return
    if not repl.can_accept_writes():
        raise CommandError(10107, _not_primary_message(ctx))


def _secondary_ok(ctx):
    pref = ctx.body.get("$readPreference")
    if isinstance(pref, dict) and pref.get("mode", "primary") != "primary":
        return True
    return bool(ctx.body.get("$secondaryOk") or ctx.body.get("slaveOk"))


def check_readable(ctx, db=None):
    db = db or ctx.db
    repl = ctx.repl
    if repl is None or db == "local":
        return
    if repl.state == 1:
        return
    if repl.state == 2:
        if _secondary_ok(ctx):
            return
        raise CommandError(13435, "not primary and secondaryOk=false" if ctx.conn.hello_ok or not ctx.legacy
                           else "not master and slaveOk=false")
    # Commands that are not maintenanceOk (the reads among them) on a member that is
    # neither primary nor secondary [src: db/service_entry_point_common.cpp
    # execCommandDatabase]: RECOVERING (maintenance mode included) says so.
    if repl.state == 3:
        raise CommandError(13436, "node is recovering")
    raise CommandError(13436, "node is not in primary or recovering state")


# ====================================================================== handshake and basics

@command("hello", "isMaster", "ismaster", auth=None)
async def cmd_hello(ctx):
    server = ctx.server
    body = ctx.body
    legacy = ctx.name != "hello"
    if body.get("helloOk"):
        ctx.conn.hello_ok = True
    if "client" in body and ctx.conn.client is None:
        ctx.conn.client = body["client"]
        LOG.info("NETWORK", 51800, "client metadata", {"remote": ctx.conn.remote, "client": "conn%d" % ctx.conn.id,
                                                       "doc": body["client"]}, ctx="conn%d" % ctx.conn.id)
    if "internalClient" in body:
        ctx.conn.internal = True
        if isinstance(body["internalClient"], dict):
            ctx.conn.peer_max_wire = body["internalClient"].get("maxWireVersion")
    tv = body.get("topologyVersion")
    max_await = body.get("maxAwaitTimeMS")
    if tv is not None and max_await is None:
        raise CommandError(31368, "A request with a 'topologyVersion' must include 'maxAwaitTimeMS'")
    if max_await is not None and tv is None:
        raise CommandError(31368, "A request with 'maxAwaitTimeMS' must include a 'topologyVersion'")
    if max_await is not None:
        if max_await < 0:
            raise CommandError(31373, "maxAwaitTimeMS must be a non-negative integer")
        if tv.get("counter", 0) < 0:
            raise CommandError(31372, "topologyVersion must have a non-negative counter")
        current = server.topology_version()
        if tv.get("processId") == current["processId"]:
            if tv.get("counter") > current["counter"]:
                raise CommandError(31382 if server.repl is not None else 51764,
                                   "Received a topology version with the same process ID and a higher counter than "
                                   "the current topology version")
            if tv.get("counter") == current["counter"]:
                event = server.current_topology_event()
                try:
                    await asyncio.wait_for(event.wait(), max_await / 1000.0)
                except asyncio.TimeoutError:
                    pass
    if server.quiesce_until is not None:
        remaining = max(0, int((server.quiesce_until - time.monotonic()) * 1000))
        raise CommandError(91, "The server is in quiesce mode and will shut down",
                           {"remainingQuiesceTimeMillis": remaining})
    reply = {}
    if server.repl is not None:
        reply.update(server.repl.hello_fields(legacy))
    else:
        reply["ismaster" if legacy else "isWritablePrimary"] = True
        reply["topologyVersion"] = server.topology_version()
    reply.update({
        "maxBsonObjectSize": 16777216,
        "maxMessageSizeBytes": 48000000,
        "maxWriteBatchSize": 100000,
        "localTime": _now(),
        "logicalSessionTimeoutMinutes": 30,
        "connectionId": ctx.conn.id,
        "minWireVersion": 0,
        "maxWireVersion": server.max_wire_version,
        "readOnly": False,
    })
    if ctx.conn.peer_max_wire is not None and not server.accepts_wire_version(ctx.conn.peer_max_wire):
        # An internal client of an older release, and our FCV is past the last LTS: mongod answers
        # with minWireVersion raised to maxWireVersion, which the older binary refuses (SEMANTICS 11.1).
        reply["minWireVersion"] = server.max_wire_version
    if body.get("helloOk"):
        reply["helloOk"] = True
    if "saslSupportedMechs" in body:
        ns = body["saslSupportedMechs"]
        db, _sep, user = ns.partition(".")
        doc = _user_doc(server, db, user)
        if doc is not None:
            reply["saslSupportedMechs"] = [m for m in authmod.MECHANISMS if m in doc["credentials"]]
    spec_auth = body.get("speculativeAuthenticate")
    if isinstance(spec_auth, dict) and "saslStart" in spec_auth:
        try:
            sub = Ctx(server, ctx.conn, spec_auth.get("db", "admin"), spec_auth, "saslStart", False)
            reply["speculativeAuthenticate"] = await cmd_sasl_start(sub)
        except CommandError:
            pass
    return reply


def _now():
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


@command("ping", auth=None)
async def cmd_ping(ctx):
    return {}


@command("buildInfo", "buildinfo", auth=None)
async def cmd_build_info(ctx):
    return build_info(ctx.server)


def build_info(server):
    version = server.version
    parts = [int(p) for p in version.split(".")]
    return {
        "version": version,
        "gitVersion": "mongosim",
        "modules": [],
        "allocator": "system",
        "javascriptEngine": "none",
        "sysInfo": "deprecated",
        "versionArray": parts + [0],
        "openssl": {"running": "python-ssl", "compiled": "python-ssl"},
        "buildEnvironment": {"distmod": "debian12", "distarch": "x86_64", "target_arch": "x86_64",
                             "target_os": "linux"},
        "bits": 64,
        "debug": False,
        "maxBsonObjectSize": 16777216,
        "storageEngines": ["devnull", "wiredTiger"],
    }


@command("whatsmyuri", auth=None)
async def cmd_whatsmyuri(ctx):
    return {"you": ctx.conn.remote}


@command("connectionStatus", auth=None)
async def cmd_connection_status(ctx):
    users, roles = [], []
    for (user, db) in ctx.conn.principals:
        users.append({"user": user, "db": db})
        doc = _user_doc(ctx.server, db, user)
        if doc is not None:
            roles.extend(doc["roles"])
        elif user == authmod.INTERNAL_USER:
            roles.append({"role": "__system", "db": "admin"})
    info = {"authenticatedUsers": users, "authenticatedUserRoles": roles}
    if ctx.body.get("showPrivileges"):
        info["authenticatedUserPrivileges"] = []
    return {"authInfo": info}


@command("endSessions", "killSessions", "refreshSessions", "startSession", auth=None)
async def cmd_sessions(ctx):
    if ctx.name == "startSession":
        import uuid
        from bson.binary import Binary
        return {"id": {"id": Binary(uuid.uuid4().bytes, 4)}, "timeoutMinutes": 30}
    return {}


@command("logout", auth=None)
async def cmd_logout(ctx):
    for key in [k for k in ctx.conn.principals if k[1] == ctx.db]:
        del ctx.conn.principals[key]
    return {}


@command("getCmdLineOpts", auth=("cluster", "getCmdLineOpts"), admin_only=True)
async def cmd_get_cmd_line_opts(ctx):
    return {"argv": ["mongod"] + list(ctx.server.opts.argv), "parsed": ctx.server.opts.parsed}


@command("hostInfo", auth=("cluster", "hostInfo"))
async def cmd_host_info(ctx):
    mem_mb = 0
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            mem_mb = int(handle.readline().split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    return {"system": {"currentTime": _now(), "hostname": socket.gethostname(), "cpuAddrSize": 64,
                       "memSizeMB": Int64(mem_mb), "numCores": os.cpu_count() or 1, "cpuArch": platform.machine(),
                       "numaEnabled": False},
            "os": {"type": "Linux", "name": platform.platform(), "version": platform.release()},
            "extra": {"versionString": platform.version()}}


@command("getLog", auth=("cluster", "getLog"), admin_only=True)
async def cmd_get_log(ctx):
    which = ctx.arg
    if which == "*":
        return {"names": ["global", "startupWarnings"]}
    if which == "global":
        lines = list(LOG.global_lines)
    elif which == "startupWarnings":
        lines = list(LOG.startup_warnings)
    else:
        raise CommandError(2, "log not found: %s" % which)
    return {"totalLinesWritten": LOG.total_lines if which == "global" else len(lines), "log": lines}


@command("logRotate", auth=("cluster", "logRotate"), admin_only=True)
async def cmd_log_rotate(ctx):
    LOG.reopen()
    return {}


@command("rotateCertificates", auth=("cluster", "rotateCertificates"), admin_only=True)
async def cmd_rotate_certificates(ctx):
    """SEMANTICS.md section 9.5: read the certificate, CA and cluster files again for new connections;
    on any failure keep the running ones. Without TLS there is nothing to rotate (success)."""
    from . import tlsutil
    server = ctx.server
    if server.opts.tls_mode == "disabled":
        return {}
    try:
        new_server, new_client = tlsutil.rotated_contexts(server.opts)
    except CommandError as exc:
        LOG.info("NETWORK", 4913201, "Failed to rotate SSL certificate", {"error": exc.message})
        raise
    server._server_ssl = new_server
    server._client_ssl = new_client
    LOG.info("NETWORK", 4913400, "Successfully rotated X509 certificates.")
    LOG.info("COMMAND", 4988500, "Certificate rotation completed successfully",
             {"message": ctx.body.get("message") or ""})
    return {}


@command("getParameter", auth=("cluster", "getParameter"), admin_only=True)
async def cmd_get_parameter(ctx):
    server = ctx.server
    params = dict(server.opts.parameters)
    params["tlsMode"] = server.opts.tls_mode
    params["sslMode"] = {"disabled": "disabled", "allowTLS": "allowSSL", "preferTLS": "preferSSL",
                         "requireTLS": "requireSSL"}[server.opts.tls_mode]
    params["clusterAuthMode"] = server.opts.get("security.clusterAuthMode") or (
        "keyFile" if server.opts.get("security.keyFile") else "undefined")
    params["featureCompatibilityVersion"] = fcvmod.parameter(server.fcv_document(), server.version_series)
    if ctx.arg == "*":
        return {k: v for k, v in params.items() if not k.startswith("mongosim")}
    out = {}
    for key in ctx.body:
        if key == ctx.name or key in GENERIC_FIELDS:
            continue
        if key not in params:
            raise CommandError(72, "no option found to get")
        out[key] = params[key]
    if not out:
        raise CommandError(72, "no option found to get")
    return out


# Server parameters declared "set_at: startup" in mongod's IDL files: setParameter
# refuses them with IllegalOperation "not allowed to change [name] at runtime"
# [src: db/commands/parameters.cpp CmdSet; db/auth/sasl_options.idl
# (authenticationMechanisms); db/auth/authorization_manager_impl_parameters.idl
# (enableLocalhostAuthBypass)].
STARTUP_ONLY_PARAMETERS = {"authenticationMechanisms", "enableLocalhostAuthBypass"}
# The tlsMode moves setParameter makes on a running mongod (SEMANTICS.md section 9.4).
TLS_MODE_RUNTIME_STEPS = {("allowTLS", "preferTLS"), ("preferTLS", "requireTLS")}


@command("setParameter", auth=("cluster", "setParameter"), admin_only=True)
async def cmd_set_parameter(ctx):
    server = ctx.server
    out = {}
    changed = False
    for key, value in ctx.body.items():
        if key == ctx.name or key in GENERIC_FIELDS:
            continue
        if key == "tlsMode":
            # SEMANTICS.md section 9.4: only allowTLS -> preferTLS and preferTLS -> requireTLS, one step,
            # never to the mode it runs (src util/net/ssl_parameters.cpp checkTLSModeTransition).
            current = server.opts.tls_mode
            if (current, value) not in TLS_MODE_RUNTIME_STEPS:
                raise CommandError(2, "Illegal state transition for tlsMode, attempt to change from %s to %s"
                                   % (current, value))
            out["was"] = current
            server.opts.values["net.tls.mode"] = value
            server._client_ssl = __import__("mongosim.tlsutil", fromlist=["x"]).client_context(server.opts)
            changed = True
            continue
        if key == "clusterAuthMode":
            out["was"] = server.opts.get("security.clusterAuthMode") or "keyFile"
            server.opts.values["security.clusterAuthMode"] = value
            changed = True
            continue
        if key in STARTUP_ONLY_PARAMETERS:
            raise CommandError(20, "not allowed to change [%s] at runtime" % key)
        if key not in server.opts.parameters:
            raise CommandError(72, "attempted to set unrecognized parameter [%s], use help:true to see options "
                               % key)
        out["was"] = server.opts.parameters[key]
        server.opts.parameters[key] = value
        changed = True
    if not changed:
        raise CommandError(72, "no option found to set, use help:true to see options ")
    return out


@command("setFeatureCompatibilityVersion", auth=("cluster", "setFeatureCompatibilityVersion"), admin_only=True)
async def cmd_set_fcv(ctx):
    """SEMANTICS.md 11.1: confirm on 7.0+, the permitted transitions, the transitional document
    written (w: majority) before the final one, idempotent when already there."""
    server = ctx.server
    target = ctx.arg
    binary = server.version_series
    doc = server.fcv_document()
    if binary == "6.0" and "confirm" in ctx.body:
        raise CommandError(40415, "BSON field 'setFeatureCompatibilityVersion.confirm' is an unknown field.")
    if target not in (binary, fcvmod.LAST_LTS[binary]):
        try:
            fcvmod.plan(doc, target, binary)
        except fcvmod.FCVError as exc:
            raise CommandError(exc.code, exc.message) from exc
    current = fcvmod.parameter(doc, binary)
    if binary != "6.0" and not ctx.body.get("confirm"):
        if target >= current["version"]:
            msg = ("Once you have upgraded to %s, you will not be able to downgrade FCV and binary version without "
                   "support assistance. Please re-run this command with 'confirm: true' to acknowledge this and "
                   "continue with the FCV upgrade." % target)
        else:
            msg = ("Once you have downgraded the FCV, if you choose to downgrade the binary version, it will require "
                   "support assistance. Please re-run this command with 'confirm: true' to acknowledge this and "
                   "continue with the FCV downgrade.")
        raise CommandError(7369100, msg)
    if server.repl is not None:
        check_writable(ctx, "admin")
        if server.repl.config is not None:
            for m in server.repl.config["members"]:
                if m.get("newlyAdded") or any(
                        d.state == 5 for d in server.repl.members.values() if d.id == m["_id"]):
                    raise CommandError(279, "Cannot change the FCV while an initial sync is in progress",
                                       code_name_override="OplogOperationUnsupported")
    try:
        steps = fcvmod.plan(doc, target, binary)
    except fcvmod.FCVError as exc:
        raise CommandError(exc.code, exc.message) from exc
    # The FCV document is always written with w: majority (the caller's wtimeout kept).
    wc = {"w": "majority"}
    user_wc = ctx.body.get("writeConcern") or {}
    if user_wc.get("wtimeout"):
        wc["wtimeout"] = user_wc["wtimeout"]
    ctx.body = dict(ctx.body, writeConcern=wc)
    reply = {}
    for index, new_doc in enumerate(steps):
        if index == 1 and "failAfterReachingTransitioningState" in server.fail_points:
            raise CommandError(7555200, "Failing upgrade or downgrade due to 'failAfterReachingTransitioningState' "
                               "failpoint set")
        exists = server.fcv_document() is not None
        entry = {"op": "u" if exists else "i", "ns": "admin.system.version", "o": new_doc}
        if exists:
            entry["o2"] = {"_id": fcvmod.DOC_ID}
        _optime, wce = await _write_entries(ctx, [entry], "admin")
        if wce:
            reply["writeConcernError"] = wce
            return reply
    return reply


@command("getDefaultRWConcern", auth=("cluster", "getDefaultRWConcern"), admin_only=True)
async def cmd_get_default_rwc(ctx):
    stored = ctx.server.storage.local.get("defaultRWConcern", {})
    out = {}
    if stored.get("defaultWriteConcern"):
        out["defaultWriteConcern"] = stored["defaultWriteConcern"]
        out["defaultWriteConcernSource"] = "global"
    else:
        out["defaultWriteConcern"] = _implicit_write_concern(ctx.server)
        out["defaultWriteConcernSource"] = "implicit"
    out["defaultReadConcern"] = stored.get("defaultReadConcern", {"level": "local"})
    out["defaultReadConcernSource"] = "global" if "defaultReadConcern" in stored else "implicit"
    return out


@command("setDefaultRWConcern", auth=("cluster", "setDefaultRWConcern"), admin_only=True)
async def cmd_set_default_rwc(ctx):
    check_writable(ctx, "admin")
    stored = dict(ctx.server.storage.local.get("defaultRWConcern", {}))
    if "defaultWriteConcern" in ctx.body:
        wc = ctx.body["defaultWriteConcern"]
        if not wc and stored.get("defaultWriteConcern"):
            raise CommandError(2, "The global default write concern cannot be unset once it is set.")
        # SetDefaultRWConcernCommand (src/mongo/db/commands/rwc_defaults_commands.cpp) checks the new
        # default with ReplicationCoordinator::validateWriteConcern: a custom mode must be one of the
        # config's getLastErrorModes (ReplSetConfig::findCustomWriteMode, repl_set_config.cpp).
        mode = wc.get("w") if isinstance(wc, dict) else None
        repl = ctx.server.repl
        if isinstance(mode, str) and mode != "majority" and repl is not None and repl.config is not None and \
                mode not in repl.config["settings"].get("getLastErrorModes", {}):
            raise CommandError(79, "No write concern mode named '%s' found in replica set configuration" % mode)
        stored["defaultWriteConcern"] = wc
    if "defaultReadConcern" in ctx.body:
        stored["defaultReadConcern"] = ctx.body["defaultReadConcern"]
    ctx.server.storage.local["defaultRWConcern"] = stored
    ctx.server.storage.save_local()
    await _write_entries(ctx, [_noop_entry(ctx, {"setDefaultRWConcern": 1})], "admin")
    return await cmd_get_default_rwc(ctx)


def _implicit_write_concern(server):
    repl = server.repl
    if repl is None or repl.config is None:
        return {"w": 1, "wtimeout": 0}
    from . import replconfig as rc
    return {"w": "majority", "wtimeout": 0} if rc.implicit_wc_is_majority(repl.config) else {"w": 1, "wtimeout": 0}


@command("serverStatus", auth=("cluster", "serverStatus"))
async def cmd_server_status(ctx):
    server = ctx.server
    uptime = time.time() - server.start_time
    resident = virtual = 0
    try:
        with open("/proc/self/statm", encoding="ascii") as handle:
            pages = handle.read().split()
        page = os.sysconf("SC_PAGE_SIZE")
        virtual = int(pages[0]) * page // (1024 * 1024)
        resident = int(pages[1]) * page // (1024 * 1024)
    except (OSError, ValueError, IndexError):
        pass
    metrics = {name: {"failed": Int64(v[1]), "total": Int64(v[0])} for name, v in sorted(
        server.command_metrics.items())}
    out = {
        "host": "%s:%d" % (socket.gethostname(), server.opts.port),
        "version": server.version,
        "process": "mongod",
        "pid": Int64(os.getpid()),
        "uptime": float(int(uptime)),
        "uptimeMillis": Int64(int(uptime * 1000)),
        "uptimeEstimate": Int64(int(uptime)),
        "localTime": _now(),
        "connections": {"current": len(server.connections), "available": 838860 - len(server.connections),
                        "totalCreated": server.total_connections, "active": 1},
        "network": {k: Int64(v) for k, v in server.network.items()},
        "opcounters": {k: Int64(v) for k, v in server.opcounters.items()},
        "mem": {"bits": 64, "resident": resident, "virtual": virtual, "supported": True},
        "metrics": {"commands": metrics},
        "storageEngine": {"name": "wiredTiger", "supportsCommittedReads": True, "persistent": True},
    }
    if server.repl is not None:
        # The oplog's truncation settings (SEMANTICS.md section 11.1).
        out["oplogTruncation"] = {"oplogMinRetentionHours": server.storage.min_retention_hours}
        # replication_coordinator_impl.cpp, CounterMetric
        # "repl.reconfig.numAutoReconfigsForRemovalOfNewlyAddedFields".
        out["metrics"]["repl"] = {"reconfig": {
            "numAutoReconfigsForRemovalOfNewlyAddedFields": Int64(server.repl.newly_added_removals)}}
        repl_section = server.repl.hello_fields(False)
        repl_section["primaryOnlyServices"] = {}
        if server.repl.config is not None:
            repl_section["rbid"] = server.repl.rbid
        out["repl"] = repl_section
    return out


@command("shutdown", auth=None, admin_only=True)
async def cmd_shutdown(ctx):
    server = ctx.server
    for key in ctx.body:
        if key not in ("shutdown", "force", "timeoutSecs") and key not in GENERIC_FIELDS:
            raise CommandError(40415, "BSON field 'shutdown.%s' is an unknown field." % key)
    if server.auth_enabled:
        require(ctx, "cluster", "shutdown")
    elif not ctx.conn.is_local:
        raise CommandError(13, "shutdown must run from localhost when running db without auth")
    timeout = ctx.body.get("timeoutSecs", 15)
    await server.shutdown(force=bool(ctx.body.get("force")), timeout_secs=float(timeout))
    return CLOSE_CONNECTION


# ====================================================================== authentication

def _user_doc(server, db, user):
    coll = server.storage.collection("admin", "system.users")
    if coll is None:
        return None
    return coll.docs.get(id_key("%s.%s" % (db, user)))


def _credential_lookup(server, db):
    def lookup(user, mechanism):
        if db == authmod.INTERNAL_DB and user == authmod.INTERNAL_USER:
            if not server.internal_keys:
                return None
            return authmod.internal_credentials(server.internal_keys, mechanism)
        doc = _user_doc(server, db, user)
        if doc is None or mechanism not in doc.get("credentials", {}):
            return None
        return [doc["credentials"][mechanism]]

    return lookup


@command("saslStart", auth=None)
async def cmd_sasl_start(ctx):
    mechanism = ctx.body.get("mechanism")
    allowed = ctx.server.opts.parameters.get("authenticationMechanisms")
    if isinstance(allowed, str):
        allowed = allowed.split(",")
    if mechanism not in authmod.MECHANISMS or (allowed and mechanism not in allowed):
        raise CommandError(334, "Received authentication for mechanism %s which is not enabled" % mechanism,
                           code_name_override="MechanismUnavailable")
    conversation = authmod.ScramServerConversation(mechanism, _credential_lookup(ctx.server, ctx.db))
    try:
        payload = conversation.start(ctx.body.get("payload", b""))
    except CommandError:
        # Like mongod, tell the client only that authentication failed, never why.
        raise CommandError(18, "Authentication failed.") from None
    conv_id = max(ctx.conn.sasl, default=0) + 1
    ctx.conn.sasl[conv_id] = (conversation, ctx.db)
    return {"conversationId": conv_id, "done": False, "payload": payload}


@command("saslContinue", auth=None)
async def cmd_sasl_continue(ctx):
    conv_id = ctx.body.get("conversationId")
    entry = ctx.conn.sasl.get(conv_id)
    if entry is None:
        raise CommandError(17, "No SASL session state found", code_name_override="ProtocolError")
    conversation, db = entry
    try:
        payload = conversation.proceed(ctx.body.get("payload", b""))
    except CommandError as exc:
        ctx.conn.sasl.pop(conv_id, None)
        LOG.info("ACCESS", 20249, "Authentication failed",
                 {"mechanism": conversation.mechanism, "principalName": conversation.user, "authenticationDatabase":
                  db, "remote": ctx.conn.remote, "error": exc.message})
        # The reason is in the log above; the client learns only that it failed.
        raise CommandError(18, "Authentication failed.") from None
    skip_empty = True
    done = conversation.step >= 2 and skip_empty
    if conversation.step >= 2:
        ctx.conn.principals[(conversation.user, db)] = None
        ctx.conn.sasl.pop(conv_id, None)
        if conversation.user == authmod.INTERNAL_USER:
            ctx.conn.internal = True
        else:
            LOG.info("ACCESS", 5286306, "Successfully authenticated",
                     {"client": ctx.conn.remote, "mechanism": conversation.mechanism, "user": conversation.user,
                      "db": db})
    return {"conversationId": conv_id, "done": done, "payload": payload}


@command("authenticate", auth=None)
async def cmd_authenticate(ctx):
    raise CommandError(334, "Received authentication for mechanism %s which is not enabled"
                       % ctx.body.get("mechanism", "MONGODB-CR"), code_name_override="MechanismUnavailable")


# ====================================================================== replica-set commands

@command("replSetInitiate", auth=("cluster", "replSetConfigure"), admin_only=True)
async def cmd_repl_set_initiate(ctx):
    if ctx.repl is None:
        raise CommandError(76, "This node was not started with replication enabled.")
    return await ctx.repl.initiate(ctx.arg)


@command("replSetGetConfig", auth=("cluster", "replSetGetConfig"), admin_only=True)
async def cmd_repl_set_get_config(ctx):
    repl = _repl_gate(ctx)
    include_newly_added = False
    if "$_internalIncludeNewlyAdded" in ctx.body:
        if not ctx.server.opts.parameters.get("enableTestCommands"):
            raise CommandError(72, "The '$_internalIncludeNewlyAdded' option is only supported when testing "
                               "commands are enabled")
        include_newly_added = bool(ctx.body["$_internalIncludeNewlyAdded"])
    return repl.get_config(commitment_status=bool(ctx.body.get("commitmentStatus")),
                           include_newly_added=include_newly_added)


@command("replSetReconfig", auth=("cluster", "replSetConfigure"), admin_only=True)
async def cmd_repl_set_reconfig(ctx):
    repl = _repl_gate(ctx)
    return await repl.reconfig(ctx.arg, bool(ctx.body.get("force")), ctx.body.get("maxTimeMS"))


@command("replSetGetStatus", auth=("cluster", "replSetGetStatus"), admin_only=True)
async def cmd_repl_set_get_status(ctx):
    if ctx.server.shutting_down:
        raise CommandError(91, "shutdown in progress")
    repl = _repl_gate(ctx)
    return repl.status(initial_sync=bool(ctx.body.get("initialSync")))


@command("replSetStepDown", auth=("cluster", "replSetStateChange"), admin_only=True)
async def cmd_repl_set_step_down(ctx):
    repl = _repl_gate(ctx)
    return await repl.step_down(ctx.body)


@command("replSetStepUp", auth=("cluster", "replSetStateChange"), admin_only=True)
async def cmd_repl_set_step_up(ctx):
    repl = _repl_gate(ctx)
    return await repl.step_up(ctx.body)


@command("replSetFreeze", auth=("cluster", "replSetStateChange"), admin_only=True)
async def cmd_repl_set_freeze(ctx):
    repl = _repl_gate(ctx)
    secs = ctx.arg
    if not isinstance(secs, (int, float)) or isinstance(secs, bool):
        raise CommandError(14, "replSetFreeze requires a number of seconds")
    return repl.freeze(int(secs))


@command("replSetMaintenance", auth=("cluster", "replSetStateChange"), admin_only=True)
async def cmd_repl_set_maintenance(ctx):
    repl = _repl_gate(ctx)
    return repl.set_maintenance(bool(ctx.arg))


@command("replSetSyncFrom", auth=("cluster", "replSetStateChange"), admin_only=True)
async def cmd_repl_set_sync_from(ctx):
    repl = _repl_gate(ctx)
    if not isinstance(ctx.arg, str):
        raise CommandError(14, "replSetSyncFrom requires a string host:port")
    return repl.sync_from(ctx.arg)


@command("replSetResizeOplog", auth=("cluster", "resizeOplog"), admin_only=True)
async def cmd_repl_set_resize_oplog(ctx):
    """SEMANTICS.md section 11.1: the oplog must exist, then the IDL parse (double fields, their ranges),
    then both settings at once. Runs on any member; nothing of it replicates."""
    server = ctx.server
    if ctx.repl is None or (server.storage.oplog_count() == 0 and "oplogMaxSizeBytes" not in server.storage.local):
        raise CommandError(26, "oplog does not exist")
    size = _resize_oplog_field(ctx, "size", 990, 1073741824)
    hours = _resize_oplog_field(ctx, "minRetentionHours", 0, None)
    if size is not None:
        server.storage.resize(size)
    if hours is not None:
        server.storage.min_retention_hours = hours
        server.storage.enforce_cap()
    LOG.info("STORAGE", 20497, "replSetResizeOplog success",
             {"size": Int64(server.storage.cap_bytes or 0), "minRetentionHours": server.storage.min_retention_hours})
    return {}


def _resize_oplog_field(ctx, name, low, high):
    """One optional double of replSetResizeOplog, checked as its IDL validator does (None when absent)."""
    value = ctx.body.get(name)
    if value is None:
        return None
    if not isinstance(value, float):
        raise CommandError(14, "BSON field 'replSetResizeOplog.%s' is the wrong type '%s', expected type 'double'"
                           % (name, bson_type_name(value)))
    # 7.0 and earlier raise the IDL's own code 51024 for a value out of range; 8.0 raises BadValue.
    code = 2 if ctx.server.version_series >= "8.0" else 51024
    for op, limit, ok in ((">=", low, value >= low), ("<=", high, high is None or value <= high)):
        if not ok:
            raise CommandError(code, "BSON field 'replSetResizeOplog.%s' value must be %s %s, actual value '%s'"
                               % (name, op, limit, _idl_number(value)))
    return value


def _idl_number(value):
    """A double as mongod's string stream prints it (900.0 as 900)."""
    return ("%d" % value) if float(value).is_integer() else repr(value)


@command("replSetGetRBID", auth=("internal", None), admin_only=True)
async def cmd_repl_set_get_rbid(ctx):
    repl = _repl_gate(ctx)
    return {"rbid": repl.rbid}


@command("replSetHeartbeat", auth=("internal", None))
async def cmd_repl_set_heartbeat(ctx):
    if ctx.repl is None:
        raise CommandError(76, "not running with --replSet")
    return await ctx.repl.handle_heartbeat(ctx.body)


@command("replSetRequestVotes", auth=("internal", None), admin_only=True)
async def cmd_repl_set_request_votes(ctx):
    repl = _repl_gate(ctx)
    return await repl.handle_request_votes(ctx.body)


@command("replSetUpdatePosition", auth=("internal", None), admin_only=True)
async def cmd_repl_set_update_position(ctx):
    repl = _repl_gate(ctx)
    repl._update_term(ctx.body.get("term"))
    repl.update_positions(ctx.body.get("optimes", []))
    return {}


@command("_mongosimOplogFetch", auth=("internal", None), admin_only=True)
async def cmd_oplog_fetch(ctx):
    repl = _repl_gate(ctx)
    return await repl.handle_fetch(ctx.body)


@command("_mongosimInitialSync", auth=("internal", None), admin_only=True)
async def cmd_initial_sync(ctx):
    repl = _repl_gate(ctx)
    return repl.handle_initial_sync()


@command("_mongosimOplogHas", auth=("internal", None), admin_only=True)
async def cmd_oplog_has(ctx):
    repl = _repl_gate(ctx)
    return repl.handle_oplog_has(ctx.body)


@command("_mongosimRefetch", auth=("internal", None), admin_only=True)
async def cmd_refetch(ctx):
    repl = _repl_gate(ctx)
    docs = []
    for item in ctx.body.get("docs", []):
        db, _sep, name = item["ns"].partition(".")
        coll = ctx.server.storage.collection(db, name)
        for _id in item["ids"]:
            doc = coll.docs.get(id_key(_id)) if coll is not None else None
            if doc is not None:
                docs.append({"ns": item["ns"], "doc": doc})
    return {"docs": docs, "optime": repl.last_applied().to_doc()}


@command("_isSelf", auth=None)
async def cmd_is_self(ctx):
    return {"id": ctx.server.instance_id}


@command("dropConnections", auth=("cluster", "dropConnections"), admin_only=True)
async def cmd_drop_connections(ctx):
    for host in ctx.body.get("hostAndPort", []):
        ctx.server.peers.drop(host)
    return {}


# ====================================================================== users

def _normalize_roles(roles, db, server=None):
    out = []
    for given in roles or []:
        role = {"role": given, "db": db} if isinstance(given, str) else given
        if not isinstance(role, dict) or "role" not in role or "db" not in role:
            raise CommandError(2, "Role names must be either strings or objects")
        if not authmod.is_builtin_role(role["role"], role["db"]) and (
                server is None or role_doc(server, role["db"], role["role"]) is None):
            raise CommandError(31, "Could not find role: %s@%s" % (role["role"], role["db"]))
        out.append({"role": role["role"], "db": role["db"]})
    return out


def _user_entry_ns():
    return "admin.system.users"


@command("createUser", auth=("db", "createUser"), write=True)
async def cmd_create_user(ctx):
    check_writable(ctx, "admin")
    user = ctx.arg
    db = ctx.db
    if not isinstance(user, str) or not user:
        raise CommandError(2, "Must provide a 'createUser' field")
    if db == "local":
        raise CommandError(2, "Cannot create users in the local database")
    if _user_doc(ctx.server, db, user) is not None:
        raise CommandError(51003, "User \"%s@%s\" already exists" % (user, db))
    if "pwd" not in ctx.body and db != "$external":
        raise CommandError(2, "Must provide a 'pwd' field for all user documents, except those with '$external' as "
                           "the user's source db")
    if "roles" not in ctx.body:
        raise CommandError(2, "\"createUser\" command requires a \"roles\" array")
    roles = _normalize_roles(ctx.body["roles"], db, ctx.server)
    mechanisms = ctx.body.get("mechanisms", list(authmod.MECHANISMS))
    if ctx.body.get("digestPassword") is False:
        raise CommandError(2, "Use of SCRAM-SHA-256 requires undigested passwords")
    doc = authmod.user_document(db, user, ctx.body.get("pwd", ""), roles, mechanisms,
                                ctx.body.get("customData"))
    doc["mechanisms"] = list(mechanisms)
    LOG.info("ACCESS", 20436, "Creating user", {"user": user, "db": db})
    await _write_entries(ctx, [_entry(ctx, "i", _user_entry_ns(), doc)], "admin")
    return {}


@command("updateUser", auth=("db", "updateUser"), write=True)
async def cmd_update_user(ctx):
    check_writable(ctx, "admin")
    user, db = ctx.arg, ctx.db
    doc = _user_doc(ctx.server, db, user)
    if doc is None:
        raise CommandError(11, "User %s@%s not found" % (user, db))
    new = copy.deepcopy(doc)
    if "pwd" in ctx.body:
        mechanisms = ctx.body.get("mechanisms", doc.get("mechanisms", list(authmod.MECHANISMS)))
        new["credentials"] = {m: authmod.make_credentials(m, user, ctx.body["pwd"]) for m in mechanisms}
        new["mechanisms"] = list(mechanisms)
    if "roles" in ctx.body:
        new["roles"] = _normalize_roles(ctx.body["roles"], db, ctx.server)
    if "customData" in ctx.body:
        new["customData"] = ctx.body["customData"]
    await _write_entries(ctx, [_entry(ctx, "u", _user_entry_ns(), new, {"_id": doc["_id"]})], "admin")
    return {}


@command("dropUser", auth=("db", "dropUser"), write=True)
async def cmd_drop_user(ctx):
    check_writable(ctx, "admin")
    user, db = ctx.arg, ctx.db
    doc = _user_doc(ctx.server, db, user)
    if doc is None:
        raise CommandError(11, "User '%s@%s' not found" % (user, db))
    await _write_entries(ctx, [_entry(ctx, "d", _user_entry_ns(), {"_id": doc["_id"]})], "admin")
    return {}


@command("grantRolesToUser", "revokeRolesFromUser", auth=("db", "grantRole"), write=True)
async def cmd_grant_roles(ctx):
    check_writable(ctx, "admin")
    user, db = ctx.arg, ctx.db
    doc = _user_doc(ctx.server, db, user)
    if doc is None:
        raise CommandError(11, "Could not find user \"%s\" for db \"%s\"" % (user, db))
    roles = _normalize_roles(ctx.body.get("roles", []), db, ctx.server)
    new = copy.deepcopy(doc)
    if ctx.name == "grantRolesToUser":
        for role in roles:
            if role not in new["roles"]:
                new["roles"].append(role)
    else:
        new["roles"] = [r for r in new["roles"] if r not in roles]
    await _write_entries(ctx, [_entry(ctx, "u", _user_entry_ns(), new, {"_id": doc["_id"]})], "admin")
    return {}


@command("usersInfo", auth=None)
async def cmd_users_info(ctx):
    spec = ctx.arg
    db = ctx.db
    wanted = []
    if spec == 1 or spec is True:
        wanted = None
    elif isinstance(spec, str):
        wanted = [(spec, db)]
    elif isinstance(spec, dict):
        if spec.get("forAllDBs"):
            wanted = "all"
        else:
            wanted = [(spec["user"], spec.get("db", db))]
    elif isinstance(spec, list):
        for item in spec:
            wanted.append((item, db) if isinstance(item, str) else (item["user"], item.get("db", db)))
    if ctx.server.auth_enabled:
        own = wanted not in (None, "all") and all((u, d) in ctx.conn.principals for u, d in wanted)
        if not own:
            for _user, d in (wanted if isinstance(wanted, list) else [(None, db)]):
                require(ctx, d if wanted != "all" else "cluster", "viewUser")
    coll = ctx.server.storage.collection("admin", "system.users")
    users = []
    for doc in (coll.docs.values() if coll else []):
        if wanted is None and doc["db"] != db:
            continue
        if isinstance(wanted, list) and (doc["user"], doc["db"]) not in wanted:
            continue
        entry = {"_id": doc["_id"], "userId": doc["userId"], "user": doc["user"], "db": doc["db"]}
        if "customData" in doc:
            entry["customData"] = doc["customData"]
        entry["roles"] = doc["roles"]
        if ctx.body.get("showCredentials"):
            entry["credentials"] = doc["credentials"]
        entry["mechanisms"] = doc.get("mechanisms", list(doc["credentials"]))
        users.append(entry)
    return {"users": users}


# ====================================================================== writes

def _entry(ctx, op, ns, obj, o2=None):
    entry = {"op": op, "ns": ns, "o": obj}
    if o2 is not None:
        entry["o2"] = o2
    return entry


def _noop_entry(ctx, msg):
    return {"op": "n", "ns": "", "o": msg}


def _write_concern(ctx):
    wc = ctx.body.get("writeConcern")
    if wc is None:
        stored = ctx.server.storage.local.get("defaultRWConcern", {}).get("defaultWriteConcern")
        wc = dict(stored) if stored else _implicit_write_concern(ctx.server)
    else:
        wc = dict(wc)
        if "w" not in wc:
            stored = ctx.server.storage.local.get("defaultRWConcern", {}).get("defaultWriteConcern")
            wc["w"] = (stored or _implicit_write_concern(ctx.server)).get("w", 1)
    if wc.get("w") == "majority" and ctx.server.repl is not None and ctx.server.repl.config is not None and \
            ctx.server.repl.config.get("writeConcernMajorityJournalDefault", True) and "j" not in wc:
        wc["j"] = True
    return wc


async def _write_entries(ctx, entries, db, stamp=True):
    """Stamp entries with time/term, append to the oplog (which applies them),
    then wait for the write concern. Returns (optime, writeConcernError)."""
    server = ctx.server
    if not entries:
        return OpTime(), None
    term = server.current_term()
    now = _now()
    for entry in entries:
        entry["ts"] = server.next_timestamp()
        entry["t"] = Int64(term)
        entry["v"] = Int64(2)
        entry["wall"] = now
    server.storage.append(entries)
    server.request_journal_flush()
    if server.repl is not None:
        server.repl.notify()
    last = entries[-1]
    optime = OpTime((last["ts"].time << 32) | last["ts"].inc, term)
    return optime, await _await_write_concern(ctx, optime)


async def _await_write_concern(ctx, optime):
    wc = _write_concern(ctx)
    timeout = wc.get("wtimeout") or wc.get("wtimeoutMS") or 0
    deadline = time.monotonic() + timeout / 1000.0 if timeout else None
    max_time = ctx.body.get("maxTimeMS")
    if max_time:
        limit = time.monotonic() + max_time / 1000.0
        deadline = limit if deadline is None else min(deadline, limit)
    if ctx.server.repl is None:
        if wc.get("j"):
            await ctx.server.wait_durable(optime, deadline)
        return None
    return await ctx.server.repl.wait_for_write_concern(optime, wc, deadline)


def _finish_write(reply, wce):
    if wce is not None:
        labels = wce.pop("errorLabels", None)
        reply["writeConcernError"] = wce
        if labels:
            reply["errorLabels"] = labels
    return reply


def _check_ns(ctx, coll_name):
    if not isinstance(coll_name, str) or not coll_name:
        raise CommandError(73, "Invalid namespace specified '%s.%s'" % (ctx.db, coll_name))
    if ctx.db == "local" and coll_name == "oplog.rs":
        raise CommandError(20, "cannot write to 'local.oplog.rs'")


def _retry_info(ctx):
    lsid = ctx.body.get("lsid")
    txn = ctx.body.get("txnNumber")
    return (lsid, txn) if lsid is not None and txn is not None else (None, None)


def _tag_retryable(entry, lsid, txn, stmt_id):
    if lsid is not None:
        entry["lsid"] = lsid
        entry["txnNumber"] = txn
        entry["stmtId"] = stmt_id
    return entry


@command("insert", auth=("db", "insert"), write=True)
async def cmd_insert(ctx):
    check_writable(ctx)
    name = ctx.arg
    _check_ns(ctx, name)
    docs = ctx.body.get("documents", [])
    ordered = ctx.body.get("ordered", True)
    lsid, txn = _retry_info(ctx)
    storage = ctx.server.storage
    coll = storage.collection(ctx.db, name)
    entries = []
    errors = []
    pending_keys = set()
    n = 0
    for i, sent in enumerate(docs):
        if lsid is not None and storage.executed(lsid, txn, i):
            n += 1
            continue
        doc = _as_stored(sent)
        key = id_key(doc["_id"])
        dup = (coll is not None and key in coll.docs) or key in pending_keys
        unique = coll.unique_violation(doc) if coll is not None and not dup else None
        if dup or unique:
            key_pattern, key_value = ({"_id": 1}, {"_id": doc["_id"]}) if dup else (unique[0]["key"], unique[1])
            index_name = "_id_" if dup else unique[0]["name"]
            errors.append({"index": i, "code": 11000, "errmsg": "E11000 duplicate key error collection: %s.%s index: "
                           "%s dup key: %s" % (ctx.db, name, index_name, _dup_repr(key_value)),
                           "keyPattern": key_pattern, "keyValue": key_value})
            if ordered:
                break
            continue
        try:
            validation.check_write(ctx, coll, doc, log=LOG)
        except CommandError as exc:
            errors.append({"index": i, "code": exc.code, "errmsg": exc.message,
                           "errInfo": exc.extra.get("errInfo", {})})
            if ordered:
                break
            continue
        pending_keys.add(key)
        entries.append(_tag_retryable(_entry(ctx, "i", "%s.%s" % (ctx.db, name), doc), lsid, txn, i))
        n += 1
    ctx.server.opcounters["insert"] += len(entries)
    _optime, wce = await _write_entries(ctx, entries, ctx.db)
    reply = {"n": n}
    if errors:
        reply["writeErrors"] = errors
    return _finish_write(reply, wce)


def _id_first(doc):
    """mongod stores _id as the first field whatever order the client used."""
    return dict([("_id", doc["_id"])] + [(k, v) for k, v in doc.items() if k != "_id"])


def _as_stored(doc):
    """An inserted document as mongod stores it: _id first, an ObjectId if the client sent none."""
    if "_id" not in doc:
        return dict([("_id", ObjectId())] + list(doc.items()))
    if next(iter(doc)) != "_id":
        return _id_first(doc)
    return doc


def _dup_repr(key_value):
    return "{ " + ", ".join("%s: %r" % (k, v) for k, v in key_value.items()) + " }"


def _matching(coll, query):
    if coll is None:
        return []
    if set(query) == {"_id"} and not isinstance(query["_id"], dict):
        doc = coll.docs.get(id_key(query["_id"]))
        return [doc] if doc is not None else []
    return [d for d in coll.docs.values() if q.matches(d, query)]


@command("update", auth=("db", "update"), write=True)
async def cmd_update(ctx):
    check_writable(ctx)
    name = ctx.arg
    _check_ns(ctx, name)
    ns = "%s.%s" % (ctx.db, name)
    ordered = ctx.body.get("ordered", True)
    lsid, txn = _retry_info(ctx)
    storage = ctx.server.storage
    n = modified = 0
    upserted = []
    errors = []
    last_optime, wce = OpTime(), None
    for i, spec in enumerate(ctx.body.get("updates", [])):
        if lsid is not None and storage.executed(lsid, txn, i):
            n += 1
            continue
        try:
            entries, matched, changed, up_id = _plan_update(ctx, ns, spec)
        except CommandError as exc:
            error = {"index": i, "code": exc.code, "errmsg": exc.message}
            if "errInfo" in exc.extra:
                error["errInfo"] = exc.extra["errInfo"]
            errors.append(error)
            if ordered:
                break
            continue
        for entry in entries:
            _tag_retryable(entry, lsid, txn, i)
        if entries:
            last_optime, _wce = await _write_entries(ctx, entries, ctx.db, stamp=True)
        ctx.server.opcounters["update"] += 1
        n += matched
        modified += changed
        if up_id is not MISSING:
            upserted.append({"index": i, "_id": up_id})
            n += 1
    if not last_optime.is_null():
        wce = await _await_write_concern(ctx, last_optime)
    reply = {"n": n, "nModified": modified}
    if upserted:
        reply["upserted"] = upserted
    if errors:
        reply["writeErrors"] = errors
    return _finish_write(reply, wce)


def _write_concern_only(ctx):
    return _write_concern(ctx)


def _plan_update(ctx, ns, spec):
    """Return (oplog entries, matched, modified, upserted _id or MISSING)."""
    db, _sep, name = ns.partition(".")
    coll = ctx.server.storage.collection(db, name)
    query = spec.get("q", {})
    update = spec.get("u", {})
    if isinstance(update, list):
        raise CommandError(2, "mongosim does not support pipeline-style updates")
    multi = spec.get("multi", False)
    if multi and not q.is_operator_update(update):
        raise CommandError(9, "multi update is not supported for replacement-style update")
    docs = _matching(coll, query)
    if not multi:
        docs = docs[:1]
    entries = []
    modified = 0
    for doc in docs:
        new = q.apply_update(doc, update)
        if coll.unique_violation(new, ignore_key=id_key(doc["_id"])):
            raise CommandError(11000, "E11000 duplicate key error collection: %s" % ns)
        validation.check_write(ctx, coll, new, old=doc, log=LOG)
        if not equal(new, doc) or list(new) != list(doc):
            entries.append(_entry(ctx, "u", ns, new, {"_id": doc["_id"]}))
            modified += 1
    if docs or not spec.get("upsert"):
        return entries, len(docs), modified, MISSING
    seed = q.upsert_seed(query)
    if q.is_operator_update(update):
        new = q.apply_update(seed, update, is_insert=True)
    else:
        new = q.apply_update({}, update)
        if "_id" in seed and "_id" not in new:
            new = dict([("_id", seed["_id"])] + list(new.items()))
    if "_id" not in new:
        new = dict([("_id", ObjectId())] + list(new.items()))
    validation.check_write(ctx, coll, new, log=LOG)
    return [_entry(ctx, "i", ns, _id_first(new))], 0, 0, new["_id"]


@command("delete", auth=("db", "remove"), write=True)
async def cmd_delete(ctx):
    check_writable(ctx)
    name = ctx.arg
    _check_ns(ctx, name)
    ns = "%s.%s" % (ctx.db, name)
    lsid, txn = _retry_info(ctx)
    storage = ctx.server.storage
    coll = storage.collection(ctx.db, name)
    entries = []
    n = 0
    for i, spec in enumerate(ctx.body.get("deletes", [])):
        if lsid is not None and storage.executed(lsid, txn, i):
            n += 1
            continue
        docs = _matching(coll, spec.get("q", {}))
        if spec.get("limit", 0) == 1:
            docs = docs[:1]
        seen = set()
        for doc in docs:
            key = id_key(doc["_id"])
            if key in seen:
                continue
            seen.add(key)
            entries.append(_tag_retryable(_entry(ctx, "d", ns, {"_id": doc["_id"]}), lsid, txn, i))
        n += len(seen)
        ctx.server.opcounters["delete"] += 1
    _optime, wce = await _write_entries(ctx, entries, ctx.db)
    return _finish_write({"n": n}, wce)


@command("findAndModify", "findandmodify", auth=("db", "update"), write=True)
async def cmd_find_and_modify(ctx):
    check_writable(ctx)
    name = ctx.arg
    _check_ns(ctx, name)
    ns = "%s.%s" % (ctx.db, name)
    coll = ctx.server.storage.collection(ctx.db, name)
    docs = q.sort_docs(_matching(coll, ctx.body.get("query", {})), ctx.body.get("sort"))
    doc = docs[0] if docs else None
    fields = ctx.body.get("fields")
    lsid, txn = _retry_info(ctx)
    if ctx.body.get("remove"):
        if doc is None:
            return {"lastErrorObject": {"n": 0}, "value": None}
        removal = _tag_retryable(_entry(ctx, "d", ns, {"_id": doc["_id"]}), lsid, txn, 0)
        _optime, wce = await _write_entries(ctx, [removal], ctx.db)
        return _finish_write({"lastErrorObject": {"n": 1}, "value": q.project(doc, fields)}, wce)
    spec = {"q": ctx.body.get("query", {}) if doc is None else {"_id": doc["_id"]}, "u": ctx.body.get("update", {}),
            "upsert": ctx.body.get("upsert", False)}
    entries, matched, _modified, up_id = _plan_update(ctx, ns, spec)
    for entry in entries:
        _tag_retryable(entry, lsid, txn, 0)
    _optime, wce = await _write_entries(ctx, entries, ctx.db)
    coll = ctx.server.storage.collection(ctx.db, name)
    if ctx.body.get("new"):
        target = up_id if up_id is not MISSING else (doc["_id"] if doc else None)
        value = coll.docs.get(id_key(target)) if coll is not None and target is not None else None
    else:
        value = doc
    last_error = {"n": 1 if (matched or up_id is not MISSING) else 0, "updatedExisting": bool(matched)}
    if up_id is not MISSING:
        last_error["upserted"] = up_id
    return _finish_write({"lastErrorObject": last_error, "value": q.project(value, fields) if value else None}, wce)


# ====================================================================== collections and indexes

@command("create", auth=("db", "createCollection"), write=True)
async def cmd_create(ctx):
    check_writable(ctx)
    name = ctx.arg
    _check_ns(ctx, name)
    if ctx.server.storage.collection(ctx.db, name) is not None:
        raise CommandError(48, "Collection %s.%s already exists." % (ctx.db, name))
    options = {k: v for k, v in ctx.body.items() if k != "create" and k not in GENERIC_FIELDS}
    validation.check_options(options.get("validationLevel"), options.get("validationAction"), "create")
    if "validator" in options:
        validation.check_validator_allowed(ctx.db, name)
        validation.check_validator(options["validator"])
    o = {"create": name}
    o.update(options)
    _optime, wce = await _write_entries(ctx, [_entry(ctx, "c", "%s.$cmd" % ctx.db, o)], ctx.db)
    return _finish_write({}, wce)


COLL_MOD_FIELDS = {"validator", "validationLevel", "validationAction"}
# collMod options mongod 8.0 has and mongosim does not implement: refused, not ignored.
COLL_MOD_UNSUPPORTED = {"index", "expireAfterSeconds", "viewOn", "pipeline", "changeStreamPreAndPostImages",
                        "timeseries", "clusteredIndex", "prepareUnique", "cappedSize", "cappedMax", "dryRun",
                        "timeseriesBucketsMayHaveMixedSchemaData", "recordIdsReplicated"}


@command("collMod", auth=("db", "collMod"), write=True)
async def cmd_coll_mod(ctx):
    """collMod with validator, validationLevel and validationAction [docs:
    reference/command/collMod; src: db/catalog/coll_mod.cpp, db/coll_mod.idl].
    The reply is {ok: 1}; the change is replicated as a "c" oplog entry."""
    check_writable(ctx)
    name = ctx.arg
    _check_ns(ctx, name)
    for key in ctx.body:
        if key == ctx.name or key in GENERIC_FIELDS or key in COLL_MOD_FIELDS:
            continue
        if key in COLL_MOD_UNSUPPORTED:
            raise CommandError(2, "mongosim does not implement collMod option '%s'" % key)
        raise CommandError(40415, "BSON field 'collMod.%s' is an unknown field." % key,
                           code_name_override="Location40415")
    level, action = ctx.body.get("validationLevel"), ctx.body.get("validationAction")
    validation.check_options(level, action)
    coll = ctx.server.storage.collection(ctx.db, name)
    if coll is None:
        raise CommandError(26, "ns does not exist: %s.%s" % (ctx.db, name))
    if "validator" in ctx.body:
        validation.check_validator_allowed(ctx.db, name)
        validation.check_validator(ctx.body["validator"])
    o = {"collMod": name}
    o.update({k: ctx.body[k] for k in ("validator", "validationLevel", "validationAction") if k in ctx.body})
    _optime, wce = await _write_entries(ctx, [_entry(ctx, "c", "%s.$cmd" % ctx.db, o)], ctx.db)
    return _finish_write({}, wce)


@command("drop", auth=("db", "dropCollection"), write=True)
async def cmd_drop(ctx):
    check_writable(ctx)
    name = ctx.arg
    coll = ctx.server.storage.collection(ctx.db, name)
    if coll is None:
        return {"ns": "%s.%s" % (ctx.db, name), "nIndexesWas": 0}
    was = len(coll.indexes)
    _optime, wce = await _write_entries(ctx, [_entry(ctx, "c", "%s.$cmd" % ctx.db, {"drop": name})], ctx.db)
    return _finish_write({"ns": "%s.%s" % (ctx.db, name), "nIndexesWas": was}, wce)


@command("dropDatabase", auth=("db", "dropDatabase"), write=True)
async def cmd_drop_database(ctx):
    check_writable(ctx)
    if ctx.db in ("admin", "local", "config"):
        raise CommandError(20, "Dropping the '%s' database is prohibited." % ctx.db)
    if ctx.db not in ctx.server.storage.dbs:
        return {}
    _optime, wce = await _write_entries(ctx, [_entry(ctx, "c", "%s.$cmd" % ctx.db, {"dropDatabase": 1})], ctx.db)
    return _finish_write({"dropped": ctx.db}, wce)


@command("createIndexes", auth=("db", "createIndex"), write=True)
async def cmd_create_indexes(ctx):
    check_writable(ctx)
    name = ctx.arg
    _check_ns(ctx, name)
    coll = ctx.server.storage.collection(ctx.db, name)
    created_coll = coll is None
    before = len(coll.indexes) if coll else 1
    entries = []
    existing = list(coll.indexes) if coll else [{"v": 2, "key": {"_id": 1}, "name": "_id_"}]
    for spec in ctx.body.get("indexes", []):
        if "key" not in spec or "name" not in spec:
            raise CommandError(9, "Error in specification { ... } :: caused by :: The 'key' and 'name' fields are "
                               "required", code_name_override="FailedToParse")
        same_name = [ix for ix in existing if ix["name"] == spec["name"]]
        same_key = [ix for ix in existing if list(ix["key"].items()) == list(spec["key"].items())]
        if same_name:
            if list(same_name[0]["key"].items()) != list(spec["key"].items()):
                raise CommandError(86, "An existing index has the same name as the requested index. When index names "
                                   "are not specified, they are auto generated and can cause conflicts. Please refer "
                                   "to our documentation. Requested index: %s, existing index: %s"
                                   % (spec, same_name[0]))
            continue
        if same_key:
            raise CommandError(85, "Index already exists with a different name: %s" % same_key[0]["name"])
        full = {"v": 2, "key": spec["key"], "name": spec["name"]}
        for k, v in spec.items():
            if k not in full:
                full[k] = v
        if full.get("unique") and coll is not None:
            seen = set()
            for doc in coll.docs.values():
                key = tuple(id_key(None if get_path(doc, f) is MISSING else get_path(doc, f)) for f in full["key"])
                if key in seen:
                    raise CommandError(11000, "E11000 duplicate key error collection: %s.%s index: %s"
                                       % (ctx.db, name, full["name"]))
                seen.add(key)
        o = {"createIndexes": name}
        o.update(full)
        entries.append(_entry(ctx, "c", "%s.$cmd" % ctx.db, o))
        existing.append(full)
    if created_coll:
        entries.insert(0, _entry(ctx, "c", "%s.$cmd" % ctx.db, {"create": name}))
    _optime, wce = await _write_entries(ctx, entries, ctx.db)
    reply = {"numIndexesBefore": before, "numIndexesAfter": len(existing),
             "createdCollectionAutomatically": created_coll}
    if len(existing) == before and not created_coll:
        reply["note"] = "all indexes already exist"
    return _finish_write(reply, wce)


@command("dropIndexes", "deleteIndexes", auth=("db", "dropIndex"), write=True)
async def cmd_drop_indexes(ctx):
    check_writable(ctx)
    name = ctx.arg
    coll = ctx.server.storage.collection(ctx.db, name)
    if coll is None:
        raise CommandError(26, "ns not found %s.%s" % (ctx.db, name))
    index = ctx.body.get("index")
    was = len(coll.indexes)
    if index == "*":
        targets = [ix["name"] for ix in coll.indexes if ix["name"] != "_id_"]
    else:
        names = index if isinstance(index, list) else [index]
        targets = []
        for item in names:
            if isinstance(item, dict):
                found = [ix["name"] for ix in coll.indexes if list(ix["key"].items()) == list(item.items())]
            else:
                found = [ix["name"] for ix in coll.indexes if ix["name"] == item]
            if not found:
                raise CommandError(27, "index not found with name [%s]" % item)
            if found[0] == "_id_":
                raise CommandError(72, "cannot drop _id index")
            targets.extend(found)
    entries = [_entry(ctx, "c", "%s.$cmd" % ctx.db, {"dropIndexes": name, "index": t}) for t in targets]
    _optime, wce = await _write_entries(ctx, entries, ctx.db)
    return _finish_write({"nIndexesWas": was}, wce)


# ====================================================================== reads

def _local_virtual(ctx, name):
    """local.oplog.rs and local.system.replset, read-only views."""
    server = ctx.server
    if name == "oplog.rs" and server.repl is not None:
        return list(server.storage.oplog_docs())
    if name == "system.replset" and server.repl is not None and server.repl.config is not None:
        from . import replconfig as rc
        return [rc.to_document(server.repl.config, include_newly_added=True)]
    return None


def _collection_docs(ctx, name):
    if ctx.db == "local":
        virtual = _local_virtual(ctx, name)
        if virtual is not None:
            return virtual
    coll = ctx.server.storage.collection(ctx.db, name)
    return list(coll.docs.values()) if coll is not None else []


async def _read_concern_wait(ctx):
    rc_doc = ctx.body.get("readConcern") or {}
    after = rc_doc.get("afterClusterTime")
    repl = ctx.repl
    if repl is None:
        return
    deadline = time.monotonic() + (ctx.body.get("maxTimeMS") or 30000) / 1000.0
    if after is not None:
        target = (after.time << 32) | after.inc
        while repl.last_applied().key < target:
            if repl.state == 1:
                await _write_entries(ctx, [_noop_entry(ctx, {"msg": "advance cluster time"})], ctx.db)
                break
            if time.monotonic() > deadline:
                raise CommandError(50, "operation exceeded time limit")
            await repl.wait_change(0.1)
    if rc_doc.get("level") in ("majority", "linearizable", "snapshot"):
        target = repl.last_applied()
        if rc_doc.get("level") == "linearizable":
            if repl.state != 1:
                raise CommandError(10107, "cannot satisfy linearizable read concern on non-primary node")
            optime, _wce = await _write_entries(ctx, [_noop_entry(ctx, {"msg": "linearizable read"})], ctx.db)
            target = optime
        while repl.last_committed < target and time.monotonic() < deadline:
            await repl.wait_change(0.1)


def _make_cursor(ctx, ns, docs, batch_size, single_batch=False):
    if batch_size is None:
        batch_size = 101
    first = docs if single_batch else docs[:batch_size]
    rest = [] if single_batch else docs[batch_size:]
    cursor_id = 0
    if rest:
        cursor_id = Int64(int.from_bytes(os.urandom(7), "big") + 1)
        ctx.server.cursors[cursor_id] = {"ns": ns, "docs": rest, "conn": ctx.conn.id, "users": list(
            ctx.conn.principals), "created": time.time()}
    return {"cursor": {"firstBatch": first, "id": Int64(cursor_id), "ns": ns}}


@command("find", auth=("db", "find"), read=True)
async def cmd_find(ctx):
    check_readable(ctx)
    await _read_concern_wait(ctx)
    name = ctx.arg
    ctx.server.opcounters["query"] += 1
    docs = [d for d in _collection_docs(ctx, name) if q.matches(d, ctx.body.get("filter", {}))]
    docs = q.sort_docs(docs, ctx.body.get("sort"))
    skip = ctx.body.get("skip", 0) or 0
    limit = ctx.body.get("limit", 0) or 0
    docs = docs[skip:]
    if limit:
        docs = docs[:abs(limit)]
    projection = ctx.body.get("projection")
    if projection:
        docs = [q.project(d, projection) for d in docs]
    single = ctx.body.get("singleBatch", False) or limit < 0
    return _make_cursor(ctx, "%s.%s" % (ctx.db, name), docs, ctx.body.get("batchSize"), single)


@command("getMore", auth=("db", "find"), read=True)
async def cmd_get_more(ctx):
    cursor_id = ctx.arg
    collection = ctx.body.get("collection")
    cursor = ctx.server.cursors.get(cursor_id)
    if cursor is None:
        raise CommandError(43, "cursor id %d not found" % cursor_id)
    if cursor["ns"] != "%s.%s" % (ctx.db, collection):
        raise CommandError(13, "Requested getMore on namespace '%s.%s', but cursor belongs to a different namespace "
                           "%s" % (ctx.db, collection, cursor["ns"]))
    ctx.server.opcounters["getmore"] += 1
    batch_size = ctx.body.get("batchSize") or len(cursor["docs"])
    batch = cursor["docs"][:batch_size]
    cursor["docs"] = cursor["docs"][batch_size:]
    next_id = cursor_id
    if not cursor["docs"]:
        del ctx.server.cursors[cursor_id]
        next_id = 0
    return {"cursor": {"nextBatch": batch, "id": Int64(next_id), "ns": cursor["ns"]}}


@command("killCursors", auth=("db", "find"))
async def cmd_kill_cursors(ctx):
    killed, missing = [], []
    for cursor_id in ctx.body.get("cursors", []):
        if ctx.server.cursors.pop(cursor_id, None) is not None:
            killed.append(cursor_id)
        else:
            missing.append(cursor_id)
    return {"cursorsKilled": killed, "cursorsNotFound": missing, "cursorsAlive": [], "cursorsUnknown": []}


@command("count", auth=("db", "find"), read=True)
async def cmd_count(ctx):
    check_readable(ctx)
    await _read_concern_wait(ctx)
    docs = [d for d in _collection_docs(ctx, ctx.arg) if q.matches(d, ctx.body.get("query") or {})]
    skip = ctx.body.get("skip", 0) or 0
    limit = ctx.body.get("limit", 0) or 0
    docs = docs[skip:]
    if limit:
        docs = docs[:abs(limit)]
    return {"n": len(docs)}


@command("distinct", auth=("db", "find"), read=True)
async def cmd_distinct(ctx):
    check_readable(ctx)
    key = ctx.body.get("key")
    values = []
    for doc in _collection_docs(ctx, ctx.arg):
        if not q.matches(doc, ctx.body.get("query") or {}):
            continue
        value = get_path(doc, key)
        items = value if isinstance(value, list) else [value]
        for item in items:
            if item is not MISSING and not any(equal(item, v) for v in values):
                values.append(item)
    return {"values": values}


@command("aggregate", auth=("db", "find"), read=True)
async def cmd_aggregate(ctx):
    check_readable(ctx)
    await _read_concern_wait(ctx)
    target = ctx.arg
    pipeline = ctx.body.get("pipeline", [])
    if "cursor" not in ctx.body and not ctx.body.get("explain"):
        raise CommandError(9, "The 'cursor' option is required, except for aggregate with the explain argument",
                           code_name_override="FailedToParse")
    if not isinstance(target, str):
        raise CommandError(73, "mongosim supports aggregate on collections only")
    if pipeline and isinstance(pipeline[-1], dict) and ("$out" in pipeline[-1] or "$merge" in pipeline[-1]):
        raise CommandError(115, "mongosim does not support $out or $merge")
    if pipeline and isinstance(pipeline[0], dict) and "$collStats" in pipeline[0]:
        docs = q.run_pipeline([_coll_stats_stage(ctx, target, pipeline[0]["$collStats"])], pipeline[1:])
    else:
        docs = q.run_pipeline(_collection_docs(ctx, target), pipeline)
    batch = (ctx.body.get("cursor") or {}).get("batchSize")
    return _make_cursor(ctx, "%s.%s" % (ctx.db, target), docs, batch)


def _coll_stats_stage(ctx, name, spec):
    """The one document of a $collStats first stage; storageStats and count are the options mongosim fills."""
    out = {"ns": "%s.%s" % (ctx.db, name), "host": "%s:%d" % (socket.gethostname(), ctx.server.opts.port),
           "localTime": _now()}
    if isinstance(spec, dict) and "storageStats" in spec:
        out["storageStats"] = _storage_stats(ctx, name, (spec.get("storageStats") or {}).get("scale"))
    if isinstance(spec, dict) and "count" in spec:
        out["count"] = _storage_stats(ctx, name)["count"]
    return out


@command("listCollections", auth=("db", "listCollections"), read=True)
async def cmd_list_collections(ctx):
    check_readable(ctx)
    server = ctx.server
    colls = server.storage.dbs.get(ctx.db, {})
    out = []
    for name, coll in colls.items():
        entry = {"name": name, "type": "collection", "options": coll.options,
                 "info": {"readOnly": False, "uuid": coll.uuid},
                 "idIndex": {"v": 2, "key": {"_id": 1}, "name": "_id_"}}
        out.append(entry)
    if ctx.db == "local" and server.repl is not None:
        out.append({"name": "oplog.rs", "type": "collection", "options": {"capped": True, "size": Int64(
            server.storage.cap_bytes or 0)}, "info": {"readOnly": False}})
        if server.repl.config is not None:
            out.append({"name": "system.replset", "type": "collection", "options": {}, "info": {"readOnly": False}})
    flt = ctx.body.get("filter") or {}
    out = [c for c in out if q.matches(c, flt)]
    if ctx.body.get("nameOnly"):
        out = [{"name": c["name"], "type": c["type"]} for c in out]
    return _make_cursor(ctx, "%s.$cmd.listCollections" % ctx.db, out,
                        (ctx.body.get("cursor") or {}).get("batchSize"))


@command("listIndexes", auth=("db", "listIndexes"), read=True)
async def cmd_list_indexes(ctx):
    check_readable(ctx)
    coll = ctx.server.storage.collection(ctx.db, ctx.arg)
    if coll is None:
        raise CommandError(26, "ns does not exist: %s.%s" % (ctx.db, ctx.arg))
    return _make_cursor(ctx, "%s.%s" % (ctx.db, ctx.arg), list(coll.indexes),
                        (ctx.body.get("cursor") or {}).get("batchSize"))


@command("listDatabases", auth=None, admin_only=True, read=True)
async def cmd_list_databases(ctx):
    # [src: db/commands/list_databases.cpp, list_databases_common.h; db/commands.cpp
    # checkAuthorizationImplPreParse] No privilege is needed: without listDatabases on
    # the cluster the reply lists only the databases the session holds some privilege
    # in. "requires authentication" is skipped while the localhost exception is open,
    # so a loopback client before the first user gets the databases its bootstrap
    # privileges (createUser/grantRole on admin) cover.
    server = ctx.server
    may_list_all = authorized(server, ctx.conn, "cluster", "listDatabases")
    only_authorized = False
    if server.auth_enabled and not may_list_all:
        if not ctx.conn.principals and not localhost_exception_open(server, ctx.conn):
            raise CommandError(13, "Command listDatabases requires authentication")
        if "authorizedDatabases" in ctx.body and not ctx.body["authorizedDatabases"]:
            raise CommandError(13, "Insufficient permissions to list all databases")
        only_authorized = True
    elif ctx.body.get("authorizedDatabases") and server.auth_enabled:
        only_authorized = True
    check_readable(ctx)
    names = set(server.storage.dbs)
    if server.repl is not None:
        names.add("local")
    names.add("admin")
    names.add("config")
    out = []
    for name in sorted(names):
        colls = server.storage.dbs.get(name, {})
        size = sum(len(colls[c].docs) * 256 for c in colls) + (8192 if colls or name == "local" else 0)
        # admin.system.version holds the FCV document, written by replSetInitiate
        # (or at a standalone's first start), so admin is listed from then on
        # [src: db/repl/replication_coordinator_impl.cpp processReplSetInitiate,
        # db/commands/feature_compatibility_version.cpp setIfCleanStartup].
        has_fcv_doc = server.repl is None or server.repl.config is not None
        if not colls and (name == "config" or (name == "admin" and not has_fcv_doc)):
            continue
        if only_authorized and not any_privilege_in_db(server, ctx.conn, name):
            continue
        out.append({"name": name, "sizeOnDisk": Int64(size or 8192),
                    "empty": not colls and name not in ("local", "admin")})
    flt = ctx.body.get("filter")
    if flt:
        out = [d for d in out if q.matches(d, flt)]
    if ctx.body.get("nameOnly"):
        return {"databases": [{"name": d["name"]} for d in out]}
    total = sum(d["sizeOnDisk"] for d in out)
    return {"databases": out, "totalSize": Int64(total), "totalSizeMb": Int64(total // (1024 * 1024))}


@command("dbStats", auth=("db", "dbStats"), read=True)
async def cmd_db_stats(ctx):
    colls = ctx.server.storage.dbs.get(ctx.db, {})
    objects = sum(len(c.docs) for c in colls.values())
    return {"db": ctx.db, "collections": len(colls), "views": 0, "objects": Int64(objects),
            "avgObjSize": 256.0 if objects else 0, "dataSize": float(objects * 256),
            "storageSize": float(objects * 256), "indexes": sum(len(c.indexes) for c in colls.values()),
            "indexSize": 0.0, "totalSize": float(objects * 256), "scaleFactor": 1}


@command("collStats", auth=("db", "collStats"), read=True)
async def cmd_coll_stats(ctx):
    stats = _storage_stats(ctx, ctx.arg, ctx.body.get("scale"))
    return dict({"ns": "%s.%s" % (ctx.db, ctx.arg)}, **stats)


def _storage_stats(ctx, name, scale=None):
    """collStats' fields, also $collStats' storageStats (SEMANTICS.md section 11.1): sizes divided by
    ``scale``; a capped collection (here local.oplog.rs) adds capped, max and maxSize."""
    scale = int(scale or 1)
    if scale < 1:
        raise CommandError(2, "scale has to be >= 1")
    storage = ctx.server.storage
    if ctx.db == "local" and name == "oplog.rs" and ctx.server.repl is not None:
        count = storage.oplog_count()
        size = storage.oplog_bytes
        return {"size": Int64(size // scale), "count": Int64(count),
                "avgObjSize": (size // count) if count else 0, "storageSize": Int64(size // scale),
                "capped": True, "max": Int64(0), "maxSize": Int64((storage.cap_bytes or 0) // scale),
                "nindexes": 0, "totalIndexSize": 0, "scaleFactor": scale}
    coll = storage.collection(ctx.db, name)
    count = len(coll.docs) if coll else 0
    options = coll.options if coll else {}
    out = {"count": count, "size": count * 256 // scale, "storageSize": count * 256 // scale,
           "nindexes": len(coll.indexes) if coll else 0, "capped": bool(options.get("capped")), "scaleFactor": scale}
    if options.get("capped"):
        out["maxSize"] = Int64(int(options.get("size", 0)) // scale)
    return out


# ====================================================================== test support

FAIL_POINTS = {"stopReplProducer", "rsSyncApplyStop", "blockHeartbeatReconfigFinish",
               "doNotRemoveNewlyAddedOnHeartbeats", "failAfterReachingTransitioningState"}


@command("configureFailPoint", auth=("cluster", "setParameter"), admin_only=True)
async def cmd_configure_fail_point(ctx):
    """Like mongod, only with --setParameter enableTestCommands=1."""
    if not ctx.server.opts.parameters.get("enableTestCommands"):
        raise CommandError(59, "no such command: 'configureFailPoint'")
    name = ctx.arg
    if name not in FAIL_POINTS:
        raise CommandError(2, "mongosim has no fail point named %s" % name)
    mode = ctx.body.get("mode")
    was = 1 if name in ctx.server.fail_points else 0
    if mode == "off":
        ctx.server.fail_points.discard(name)
    elif mode == "alwaysOn":
        ctx.server.fail_points.add(name)
    else:
        raise CommandError(2, "mongosim supports fail point modes 'alwaysOn' and 'off'")
    if ctx.server.repl is not None:
        ctx.server.repl.notify()
    return {"count": was}
