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
