# -*- coding: utf-8 -*-
# Copyright: quorum.mongodb contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one connection layer of the quorum.mongodb modules.

Every module takes the same connection options (documented once in the
``quorum.mongodb.connection`` doc fragment), builds its pymongo clients here and
reports server errors here, so that a message always says what was attempted,
on which member, and the server's code and message.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import traceback

from ansible.module_utils.basic import missing_required_lib
from ansible_collections.quorum.mongodb.plugins.module_utils.user_plan import server_roles

try:
    import pymongo
    from pymongo.errors import OperationFailure, PyMongoError
except ImportError:
    HAS_PYMONGO = False
    PYMONGO_IMPORT_ERROR = traceback.format_exc()
else:
    HAS_PYMONGO = True
    PYMONGO_IMPORT_ERROR = None

MIN_PYMONGO = (4, 0)


class ErrorCode:
    """The server error codes the modules act on, named as in mongod's src/mongo/base/error_codes.yml."""

    Unauthorized = 13
    AuthenticationFailed = 18
    NewReplicaSetConfigurationIncompatible = 103
    ShutdownInProgress = 91
    PrimarySteppedDown = 189
    NotWritablePrimary = 10107
    InterruptedAtShutdown = 11600
    InterruptedDueToReplStateChange = 11602
    NotPrimaryNoSecondaryOk = 13435
    NotPrimaryOrSecondary = 13436


# The member asked is not (or no longer) primary, or is shutting down: ask the set for its primary
# again (error_codes.yml puts these in the NotPrimaryError and ShutdownError categories).
NOT_PRIMARY_CODES = frozenset((
    ErrorCode.NotWritablePrimary,
    ErrorCode.NotPrimaryNoSecondaryOk,
    ErrorCode.NotPrimaryOrSecondary,
    ErrorCode.PrimarySteppedDown,
    ErrorCode.InterruptedDueToReplStateChange,
    ErrorCode.InterruptedAtShutdown,
    ErrorCode.ShutdownInProgress,
))


# How a client gets in on a member, decided once (decide_login) for every module and role:
# the user module, the member module (which reports it to the roles) and through it the
# replicaset role's choice of credentials. One vocabulary:
# login_user and login_password authenticate.
LOGIN_CREDENTIALS = "credentials"
# Nothing asks for credentials: authorization is off (or security.transitionToAuth is on).
LOGIN_NO_AUTHORIZATION = "no_authorization"
# No user exists yet and the connection comes over loopback: the first user may be created (and the set
# initiated, reconfigured and its status read), nothing else (tests/mongosim/SEMANTICS.md section 9.3).
LOGIN_LOCALHOST_EXCEPTION = "localhost_exception"
# Users exist, and the connection has no credentials that authenticate: nothing may be managed.
LOGIN_REFUSED = "refused"
LOGIN_MODES = (LOGIN_CREDENTIALS, LOGIN_NO_AUTHORIZATION, LOGIN_LOCALHOST_EXCEPTION, LOGIN_REFUSED)


def connection_argument_spec():
    """The options every module shares (see plugins/doc_fragments/connection.py)."""
    return dict(
        login_host=dict(type="str", default="localhost"),
        login_port=dict(type="int", default=27017),
        login_user=dict(type="str"),
        login_password=dict(type="str", no_log=True),
        login_database=dict(type="str", default="admin"),
        tls=dict(type="bool", default=False),
        tls_ca_file=dict(type="path"),
        tls_certificate_key_file=dict(type="path"),
        tls_certificate_key_file_password=dict(type="str", no_log=True),
        tls_allow_invalid_certificates=dict(type="bool", default=False),
        tls_allow_invalid_hostnames=dict(type="bool", default=False),
        connect_timeout_ms=dict(type="int", default=5000),
    )


CONNECTION_REQUIRED_TOGETHER = [["login_user", "login_password"]]


class MongoModuleError(Exception):
    """An error to report with fail_json: a message and, if the server sent one, its reply."""

    def __init__(self, msg, **details):
        super(MongoModuleError, self).__init__(msg)
        self.msg = msg
        self.details = details


def ensure_pymongo(module):
    """Fail the module plainly when pymongo is missing or too old."""
    if not HAS_PYMONGO:
        module.fail_json(msg=missing_required_lib("pymongo"), exception=PYMONGO_IMPORT_ERROR)
    version = tuple(int(part) for part in pymongo.version.split(".")[:2] if part.isdigit())
    if version < MIN_PYMONGO:
        module.fail_json(msg="pymongo %s is installed on %s, but these modules need pymongo 4.0 or later"
                         % (pymongo.version, "the managed host"))


def describe_error(exc):
    """The server's code, code name and message, or the driver's message."""
    if HAS_PYMONGO and isinstance(exc, OperationFailure):
        details = exc.details or {}
        name = details.get("codeName")
        message = details.get("errmsg", str(exc))
        if exc.code is not None:
            return "code %s%s: %s" % (exc.code, " (%s)" % name if name else "", message)
        return message
    return str(exc)


def error_code(exc):
    if HAS_PYMONGO and isinstance(exc, OperationFailure):
        return exc.code
    return None


def split_host(address, default_port=27017):
    """("host", port) from "host", "host:port", "[v6]" or "[v6]:port"."""
    address = address.strip()
    if address.startswith("["):
        end = address.find("]")
        host = address[1:end]
        rest = address[end + 1:]
        port = int(rest[1:]) if rest.startswith(":") else default_port
        return host, port
    if address.count(":") == 1:
        host, port = address.split(":")
        return host, int(port)
    return address, default_port


class Connector:
    """Builds direct pymongo clients to single members with the module's options.

    Clients are cached per address, so a module talks to each member over one
    connection however many commands it sends there. ``close()`` closes them all.
    """

    def __init__(self, params, app_name="quorum.mongodb"):
        self.params = params
        self.app_name = app_name
        self._clients = {}

    def _options(self, with_credentials):
        params = self.params
        timeout = params.get("connect_timeout_ms") or 5000
        options = dict(
            directConnection=True,
            appname=self.app_name,
            connectTimeoutMS=timeout,
            serverSelectionTimeoutMS=timeout,
            # Replies to replica-set commands can take as long as a commit wait;
            # the modules bound those with maxTimeMS instead.
            socketTimeoutMS=None,
            retryWrites=False,
        )
        if params.get("tls"):
            options["tls"] = True
            if params.get("tls_ca_file"):
                options["tlsCAFile"] = params["tls_ca_file"]
            if params.get("tls_certificate_key_file"):
                options["tlsCertificateKeyFile"] = params["tls_certificate_key_file"]
            if params.get("tls_certificate_key_file_password"):
                options["tlsCertificateKeyFilePassword"] = params["tls_certificate_key_file_password"]
            if params.get("tls_allow_invalid_certificates"):
                options["tlsAllowInvalidCertificates"] = True
            if params.get("tls_allow_invalid_hostnames"):
                options["tlsAllowInvalidHostnames"] = True
        if with_credentials and params.get("login_user"):
            options["username"] = params["login_user"]
            options["password"] = params["login_password"]
            options["authSource"] = params.get("login_database") or "admin"
        return options

    def client(self, address, with_credentials=True):
        """A client connected directly to ``address`` ("host:port")."""
        key = (address.lower(), bool(with_credentials))
        if key not in self._clients:
            host, port = split_host(address)
            self._clients[key] = pymongo.MongoClient(host=host, port=port, **self._options(with_credentials))
        return self._clients[key]

    def login_address(self):
        host = self.params.get("login_host") or "localhost"
        port = self.params.get("login_port") or 27017
        return ("[%s]:%d" % (host, port)) if ":" in host else ("%s:%d" % (host, port))

    def command(self, address, command, what, with_credentials=True, database="admin", **kwargs):
        """Run ``command`` on ``address``; raise MongoModuleError naming ``what`` and the member."""
        try:
            return self.client(address, with_credentials).get_database(database).command(command, **kwargs)
        except PyMongoError as exc:
            raise MongoModuleError("%s on %s failed: %s" % (what, address, describe_error(exc)),
                                   code=error_code(exc), member=address) from exc

    def try_command(self, address, command, with_credentials=False, database="admin"):
        """(reply, None) or (None, error text); for discovery, where a silent member is an answer."""
        try:
            return self.client(address, with_credentials).get_database(database).command(command), None
        except PyMongoError as exc:
            return None, describe_error(exc)

    def credentials_valid(self, address, user, password, database):
        """Whether ``user``/``password`` authenticate on ``address`` (SCRAM over a fresh connection, closed at once).

        False when the server answers AuthenticationFailed; other failures raise MongoModuleError.
        """
        host, port = split_host(address)
        options = self._options(with_credentials=False)
        options.update(username=user, password=password, authSource=database)
        client = pymongo.MongoClient(host=host, port=port, **options)
        try:
            client.get_database(database).command("ping")
            return True
        except PyMongoError as exc:
            if error_code(exc) == ErrorCode.AuthenticationFailed:
                return False
            raise MongoModuleError("checking the password of %s@%s on %s failed: %s"
                                   % (user, database, address, describe_error(exc)),
                                   code=error_code(exc), member=address) from exc
        finally:
            client.close()

    def close(self):
        for client in self._clients.values():
            client.close()
        self._clients = {}


def json_safe(value):
    """A copy of a server reply that Ansible can return: BSON types become strings or numbers."""
    if isinstance(value, dict):
        return dict((str(key), json_safe(item)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if HAS_PYMONGO:
        from bson.timestamp import Timestamp
        if isinstance(value, Timestamp):
            return {"t": value.time, "i": value.inc}
        from bson.int64 import Int64
        if isinstance(value, Int64):
            return int(value)
    return str(value)


def member_state(hello):
    """The member's state named as replSetGetStatus names it, from its hello reply (None: it did not answer).

    UNREACHABLE (no answer), PRIMARY, SECONDARY, ARBITER, OTHER (in a set but neither: STARTUP2,
    RECOVERING, ROLLBACK, a primary stepping down), NO_CONFIG (started with a set name but without a config:
    never initiated, or removed), STANDALONE (writable without a set name), NOT_REPLICA_SET. The shapes are
    those of tests/mongosim/SEMANTICS.md section 2 (MongoDB's hello_response.cpp, fillHelloForReplSet).
    """
    if hello is None:
        return "UNREACHABLE"
    if hello.get("isWritablePrimary") or hello.get("ismaster"):
        return "PRIMARY" if hello.get("setName") else "STANDALONE"
    if hello.get("arbiterOnly"):
        return "ARBITER"
    if hello.get("secondary"):
        return "SECONDARY"
    if hello.get("setName"):
        return "OTHER"
    return "NO_CONFIG" if hello.get("isreplicaset") else "NOT_REPLICA_SET"


def login_hello_command(params):
    """The hello to send before decide_login: it asks whether login_user exists (saslSupportedMechs)."""
    command = {"hello": 1}
    if params.get("login_user"):
        command["saslSupportedMechs"] = "%s.%s" % (params.get("login_database") or "admin", params["login_user"])
    return command


def _unauthenticated_mode(connector, address):
    """How far a connection without credentials gets: LOGIN_NO_AUTHORIZATION, LOGIN_LOCALHOST_EXCEPTION or
    LOGIN_REFUSED.

    mongod checks a command's privileges before it runs it (SEMANTICS.md section 9.2), so any answer but
    Unauthorized (13) to ``usersInfo`` means nothing asked for credentials. ``replSetGetStatus`` is one of
    the few commands the localhost exception grants and ``usersInfo`` is not (section 9.3): Unauthorized
    there means the exception is closed; any other answer (a set not initiated yet: 94, a standalone: 76)
    means it let the command through.
    """
    try:
        connector.command(address, {"usersInfo": 1}, "usersInfo without credentials", with_credentials=False)
        return LOGIN_NO_AUTHORIZATION
    except MongoModuleError as exc:
        if exc.details.get("code") is None:
            raise
        if exc.details.get("code") != ErrorCode.Unauthorized:
            return LOGIN_NO_AUTHORIZATION
    try:
        connector.command(address, {"replSetGetStatus": 1}, "replSetGetStatus without credentials",
                          with_credentials=False)
        return LOGIN_LOCALHOST_EXCEPTION
    except MongoModuleError as exc:
        if exc.details.get("code") is None:
            raise
        if exc.details.get("code") == ErrorCode.Unauthorized:
            return LOGIN_REFUSED
        return LOGIN_LOCALHOST_EXCEPTION


def decide_login(connector, address, params, hello):
    """How the module's connection options get in on ``address``; the one place this is decided.

    ``hello`` is the member's reply to ``login_hello_command(params)``. Returns a dict:

    - ``mode``: one of LOGIN_MODES. Credentials that authenticate win; otherwise what works without them.
    - ``credentials_failed``: login_user was given and did not authenticate (AuthenticationFailed, 18).
    - ``user_exists``: whether the member knows login_user (hello's saslSupportedMechs); None without one.
    - ``roles``: with ``credentials``, the roles granted to login_user as ``connectionStatus`` reports them
      (``authInfo.authenticatedUserRoles``, ``{"role", "db"}`` dicts sorted by db, then role); None otherwise.
    - ``msg``: a sentence for users, naming the member and the user (never the password).

    A server error other than AuthenticationFailed, or no answer, raises MongoModuleError.
    """
    user = params.get("login_user")
    database = params.get("login_database") or "admin"
    who = "%s@%s" % (user, database)
    user_exists = ("saslSupportedMechs" in hello) if user else None
    failure = None
    if user:
        try:
            status = connector.command(address, {"connectionStatus": 1}, "authenticating as %s" % who)
            return dict(mode=LOGIN_CREDENTIALS, credentials_failed=False, user_exists=True,
                        roles=_granted_roles(status), msg="%s logs in on %s" % (who, address))
        except MongoModuleError as exc:
            if exc.details.get("code") != ErrorCode.AuthenticationFailed:
                raise
            failure = exc.msg
    mode = _unauthenticated_mode(connector, address)
    if mode == LOGIN_NO_AUTHORIZATION:
        msg = "%s asks for no credentials (authorization is off)" % address
    elif mode == LOGIN_LOCALHOST_EXCEPTION:
        msg = "%s has no user yet: the localhost exception lets the first one be created" % address
    elif user and user_exists:
        msg = "users exist on %s and %s does not log in: its password is wrong" % (address, who)
    elif user:
        msg = "users exist on %s, but not %s, and nothing else may log in" % (address, who)
    else:
        msg = "users exist on %s and no credentials were given" % address
    if failure and mode != LOGIN_REFUSED:
        msg += " (%s)" % failure
    return dict(mode=mode, credentials_failed=failure is not None, user_exists=user_exists, roles=None, msg=msg)


def _granted_roles(status):
    """The roles in a ``connectionStatus`` reply, in user_plan's normal form (sorted by db, then role)."""
    return server_roles({"roles": ((status or {}).get("authInfo") or {}).get("authenticatedUserRoles")})
