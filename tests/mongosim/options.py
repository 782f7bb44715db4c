"""mongod's command line and YAML configuration file, as mongosim accepts them.

Accepted keys follow mongod 7.0/8.0 (SEMANTICS.md section 10); options
that those releases removed are refused the way mongod refuses them, with its
messages and exit code 2.
"""

import sys

import yaml

from .errors import StartupError
from .version import server_version

HELP_HINT = "try 'mongod --help' for more information"

# Known YAML option names (dotted) and their types. A trailing ".*" accepts
# any sub-tree (server parameters, log components, ...).
STR, INT, BOOL, FLOAT, ANY = "string", "int", "bool", "double", "any"
KNOWN = {
    "systemLog.destination": STR,
    "systemLog.path": STR,
    "systemLog.logAppend": BOOL,
    "systemLog.logRotate": STR,
    "systemLog.verbosity": INT,
    "systemLog.quiet": BOOL,
    "systemLog.traceAllExceptions": BOOL,
    "systemLog.syslogFacility": STR,
    "systemLog.timeStampFormat": STR,
    "systemLog.component.*": ANY,
    "storage.dbPath": STR,
    "storage.journal.commitIntervalMs": INT,
    "storage.engine": STR,
    "storage.directoryPerDB": BOOL,
    "storage.syncPeriodSecs": FLOAT,
    "storage.oplogMinRetentionHours": FLOAT,
    "storage.wiredTiger.*": ANY,
    "storage.inMemory.*": ANY,
    "processManagement.fork": BOOL,
    "processManagement.pidFilePath": STR,
    "processManagement.timeZoneInfo": STR,
    "net.port": INT,
    "net.bindIp": STR,
    "net.bindIpAll": BOOL,
    "net.ipv6": BOOL,
    "net.maxIncomingConnections": INT,
    "net.wireObjectCheck": BOOL,
    "net.unixDomainSocket.enabled": BOOL,
    "net.unixDomainSocket.pathPrefix": STR,
    "net.unixDomainSocket.filePermissions": INT,
    "net.compression.compressors": STR,
    "net.tls.mode": STR,
    "net.tls.certificateKeyFile": STR,
    "net.tls.certificateKeyFilePassword": STR,
    "net.tls.clusterFile": STR,
    "net.tls.clusterPassword": STR,
    "net.tls.CAFile": STR,
    "net.tls.clusterCAFile": STR,
    "net.tls.CRLFile": STR,
    "net.tls.allowConnectionsWithoutCertificates": BOOL,
    "net.tls.allowInvalidCertificates": BOOL,
    "net.tls.allowInvalidHostnames": BOOL,
    "net.tls.disabledProtocols": STR,
    "net.tls.FIPSMode": BOOL,
    "net.tls.logVersions": STR,
    "net.tls.clusterAuthX509.*": ANY,
    "net.ssl.mode": STR,
    "net.ssl.PEMKeyFile": STR,
    "net.ssl.PEMKeyPassword": STR,
    "net.ssl.clusterFile": STR,
    "net.ssl.CAFile": STR,
    "net.ssl.allowConnectionsWithoutCertificates": BOOL,
    "net.ssl.allowInvalidCertificates": BOOL,
    "net.ssl.allowInvalidHostnames": BOOL,
    "net.ssl.disabledProtocols": STR,
    "replication.replSetName": STR,
    "replication.oplogSizeMB": INT,
    "replication.enableMajorityReadConcern": BOOL,
    "security.keyFile": STR,
    "security.authorization": STR,
    "security.clusterAuthMode": STR,
    "security.transitionToAuth": BOOL,
    "security.javascriptEnabled": BOOL,
    "security.clusterIpSourceAllowlist": ANY,
    "setParameter.*": ANY,
    "operationProfiling.mode": STR,
    "operationProfiling.slowOpThresholdMs": INT,
    "operationProfiling.slowOpSampleRate": FLOAT,
    "sharding.clusterRole": STR,
    "cloud.monitoring.free.state": STR,
    "cloud.monitoring.free.tags": STR,
}

# Present in 6.0, removed in 6.1 (so refused by 7.0 and 8.0).
REMOVED_IN_61 = {"storage.journal.enabled"}

PASSWORD_OPTIONS = {
    "net.tls.certificateKeyFilePassword",
    "net.tls.clusterPassword",
    "net.ssl.PEMKeyPassword",
}

# Command-line flags: name -> (dotted option, kind). Kind "flag" takes no value.
CLI = {
    "config": ("config", "value"),
    "f": ("config", "value"),
    "port": ("net.port", "int"),
    "bind_ip": ("net.bindIp", "value"),
    "bind_ip_all": ("net.bindIpAll", "flag"),
    "ipv6": ("net.ipv6", "flag"),
    "replSet": ("replication.replSetName", "value"),
    "oplogSize": ("replication.oplogSizeMB", "int"),
    "dbpath": ("storage.dbPath", "value"),
    "keyFile": ("security.keyFile", "value"),
    "auth": ("security.authorization", "flag:enabled"),
    "noauth": ("security.authorization", "flag:disabled"),
    "transitionToAuth": ("security.transitionToAuth", "flag"),
    "clusterAuthMode": ("security.clusterAuthMode", "value"),
    "tlsMode": ("net.tls.mode", "value"),
    "tlsCertificateKeyFile": ("net.tls.certificateKeyFile", "value"),
    "tlsCertificateKeyFilePassword": ("net.tls.certificateKeyFilePassword", "value"),
    "tlsClusterFile": ("net.tls.clusterFile", "value"),
    "tlsCAFile": ("net.tls.CAFile", "value"),
    "tlsClusterCAFile": ("net.tls.clusterCAFile", "value"),
    "tlsAllowConnectionsWithoutCertificates": ("net.tls.allowConnectionsWithoutCertificates", "flag"),
    "tlsAllowInvalidCertificates": ("net.tls.allowInvalidCertificates", "flag"),
    "tlsAllowInvalidHostnames": ("net.tls.allowInvalidHostnames", "flag"),
    "tlsDisabledProtocols": ("net.tls.disabledProtocols", "value"),
    "logpath": ("systemLog.path", "value"),
    "logappend": ("systemLog.logAppend", "flag"),
    "quiet": ("systemLog.quiet", "flag"),
    "pidfilepath": ("processManagement.pidFilePath", "value"),
    "fork": ("processManagement.fork", "flag"),
    "timeZoneInfo": ("processManagement.timeZoneInfo", "value"),
    "setParameter": ("setParameter", "param"),
    "maxConns": ("net.maxIncomingConnections", "int"),
    "wiredTigerCacheSizeGB": ("storage.wiredTiger.engineConfig.cacheSizeGB", "float"),
    "oplogMinRetentionHours": ("storage.oplogMinRetentionHours", "float"),
    "enableMajorityReadConcern": ("replication.enableMajorityReadConcern", "value"),
    # mongod 8.0 accepts these; they change nothing in mongosim beyond what
    # getCmdLineOpts reports (and the default port of a shard or config server)
    # [src: db/mongod_options.idl, db/storage/wiredtiger/wiredtiger_global_options.idl,
    # s/sharding_options.idl (mongod 8.0)].
    "storageEngine": ("storage.engine", "value"),
    "wiredTigerEngineConfigString": ("storage.wiredTiger.engineConfig.configString", "value"),
    "wiredTigerCollectionConfigString": ("storage.wiredTiger.collectionConfig.configString", "value"),
    "wiredTigerIndexConfigString": ("storage.wiredTiger.indexConfig.configString", "value"),
    "shardsvr": ("sharding.clusterRole", "flag:shardsvr"),
    "configsvr": ("sharding.clusterRole", "flag:configsvr"),
}

# Storage engines a community mongod 8.0 binary has (buildInfo.storageEngines);
# mongosim behaves as wiredTiger whichever is named. inMemory is Enterprise-only.
STORAGE_ENGINES = {"wiredTiger", "devnull"}

TLS_MODES = {"disabled", "allowTLS", "preferTLS", "requireTLS"}
SSL_MODE_ALIASES = {"disabled": "disabled", "allowSSL": "allowTLS", "preferSSL": "preferTLS",
                    "requireSSL": "requireTLS"}
CLUSTER_AUTH_MODES = {"keyFile", "sendKeyFile", "sendX509", "x509"}

# Server parameters mongosim knows, with defaults (getParameter answers them).
PARAMETER_DEFAULTS = {
    "enableLocalhostAuthBypass": True,
    "authenticationMechanisms": ["MONGODB-X509", "SCRAM-SHA-1", "SCRAM-SHA-256"],
    "shutdownTimeoutMillisForSignaledShutdown": 15000,
    "logLevel": 0,
    "quiet": False,
    "tlsMode": None,  # filled from net.tls.mode
    "clusterAuthMode": None,  # filled from security.clusterAuthMode
    "priorityTakeoverFreshnessWindowSeconds": 2,
    "replElectionTimeoutOffsetLimitFraction": 0.15,
    "allowMultipleArbiters": False,
    "transactionLifetimeLimitSeconds": 60,
    "cursorTimeoutMillis": 600000,
    "maxNumActiveUserIndexBuilds": 3,
    "diagnosticDataCollectionEnabled": True,
    "ttlMonitorEnabled": True,
    "internalQueryExecMaxBlockingSortBytes": 104857600,
    "notablescan": False,
    "syncdelay": 60.0,
    "scramIterationCount": 10000,
    "scramSHA256IterationCount": 15000,
    "enableTestCommands": False,
}


class Options:
    """Effective options: ``values`` maps dotted names to values; ``parsed``
    is the nested document getCmdLineOpts returns."""

    def __init__(self, argv, values, parsed, config_path):
        self.argv = argv
        self.values = values
        self.parsed = parsed
        self.config_path = config_path
        self.parameters = dict(PARAMETER_DEFAULTS)
        for name, value in values.get("setParameter", {}).items():
            self.parameters[name] = _coerce_parameter(name, value)

    def get(self, name, default=None):
        return self.values.get(name, default)

    # Convenience views -------------------------------------------------
    @property
    def port(self):
        # 27018 for a shard server, 27019 for a config server (SEMANTICS.md section 10).
        default = {"shardsvr": 27018, "configsvr": 27019}.get(self.get("sharding.clusterRole"), 27017)
        return int(self.get("net.port", default))

    @property
    def bind_ips(self):
        if self.get("net.bindIpAll"):
            return ["0.0.0.0"] + (["::"] if self.get("net.ipv6") else [])
        raw = self.get("net.bindIp", "localhost")
        return [ip.strip() for ip in str(raw).split(",") if ip.strip()]

    @property
    def repl_set(self):
        value = self.get("replication.replSetName")
        if not value:
            return None
        return value.split("/")[0]

    @property
    def seeds(self):
        value = self.get("replication.replSetName") or ""
        if "/" not in value:
            return []
        return [s for s in value.split("/", 1)[1].split(",") if s]

    @property
    def db_path(self):
        return self.get("storage.dbPath", "/data/db")

    @property
    def auth_enabled(self):
        # mongod's order (SEMANTICS.md section 9.2b): transitionToAuth enforces nothing; otherwise a keyFile
        # or a cluster authentication mode enforces authentication even with authorization: disabled.
        if self.get("security.transitionToAuth"):
            return False
        if self.get("security.keyFile") or self.get("security.clusterAuthMode"):
            return True
        return self.get("security.authorization") == "enabled"

    @property
    def tls_mode(self):
        mode = self.get("net.tls.mode")
        if mode is None and self.get("net.ssl.mode"):
            mode = SSL_MODE_ALIASES.get(self.get("net.ssl.mode"))
        return mode or "disabled"

    def tls_value(self, name):
        """net.tls.<name>, falling back to the deprecated net.ssl alias."""
        aliases = {"certificateKeyFile": "PEMKeyFile", "certificateKeyFilePassword": "PEMKeyPassword"}
        value = self.get("net.tls." + name)
        if value is None:
            value = self.get("net.ssl." + aliases.get(name, name))
        return value


def _coerce_parameter(name, value):
    if isinstance(value, str):
        low = value.lower()
        if low in ("true", "false"):
            return low == "true"
        try:
            return int(value)
        except ValueError:
            try:
                return float(value)
            except ValueError:
                return value
    return value


def _flatten(doc, prefix, out, errors):
    for key, value in doc.items():
        dotted = prefix + str(key)
        if key == "setParameter" and not prefix:
            if not isinstance(value, dict):
                errors.append("setParameter must be a mapping")
                continue
            out.setdefault("setParameter", {}).update(value)
            continue
        wildcard = _wildcard(dotted)
        if wildcard:
            out[dotted] = value
            continue
        if isinstance(value, dict) and dotted not in KNOWN:
            _flatten(value, dotted + ".", out, errors)
            continue
        out[dotted] = value


def _wildcard(dotted):
    parts = dotted.split(".")
    for i in range(1, len(parts)):
        if ".".join(parts[:i]) + ".*" in KNOWN:
            return True
    return False


def _check_known(values, series):
    for dotted in values:
        if dotted in ("setParameter", "config") or _wildcard(dotted):
            continue
        if dotted in REMOVED_IN_61 and series == "6.0":
            continue
        if dotted == "security.enableLocalhostAuthBypass":
            raise StartupError(
                "BadValue: security.enableLocalhostAuthBypass is currently not supported in config files",
                lines=["BadValue: security.enableLocalhostAuthBypass is currently not supported in config files",
                       HELP_HINT])
        if dotted not in KNOWN:
            message = "Unrecognized option: %s" % dotted
            raise StartupError(message, lines=[message, HELP_HINT])


def _check_type(dotted, value):
    kind = KNOWN.get(dotted)
    if kind is None or kind == ANY or value is None:
        return value
    ok = {
        STR: isinstance(value, (str, int, float)) and not isinstance(value, bool),
        INT: isinstance(value, int) and not isinstance(value, bool),
        BOOL: isinstance(value, bool),
        FLOAT: isinstance(value, (int, float)) and not isinstance(value, bool),
    }[kind]
    if not ok:
        raise StartupError("Bad value for %s: expected a %s" % (dotted, kind),
                           lines=["Error parsing YAML config file: bad value for %s: expected a %s" % (dotted, kind),
                                  HELP_HINT])
    if kind == STR:
        return str(value)
    return value


def _nest(values, config_path):
    parsed = {}
    if config_path:
        parsed["config"] = config_path
    for dotted, value in values.items():
        if dotted == "config":
            continue
        if dotted == "setParameter":
            parsed["setParameter"] = {k: str(v) if not isinstance(v, bool) else v for k, v in value.items()}
            continue
        node = parsed
        parts = dotted.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = "<password>" if dotted in PASSWORD_OPTIONS else value
    return parsed


def parse_cli(argv):
    """Parse ``argv`` (without the program name). Returns (values, wants_version, wants_help)."""
    values = {}
    i = 0
    wants_version = wants_help = False
    while i < len(argv):
        arg = argv[i]
        if arg == "--version":
            wants_version = True
            i += 1
            continue
        if arg in ("--help", "-h"):
            wants_help = True
            i += 1
            continue
        if not arg.startswith("-"):
            raise StartupError("Error parsing command line: too many positional options have been specified on the "
                               "command line", lines=["Error parsing command line: too many positional options have "
                                                      "been specified on the command line", HELP_HINT])
        name, eq, inline = arg.lstrip("-").partition("=")
        if name not in CLI:
            raise StartupError("Error parsing command line: unrecognised option '%s'" % arg.split("=")[0],
                               lines=["Error parsing command line: unrecognised option '%s'" % arg.split("=")[0],
                                      HELP_HINT])
        dotted, kind = CLI[name]
        if kind.startswith("flag"):
            values[dotted] = kind.split(":", 1)[1] if ":" in kind else True
            i += 1
            continue
        if eq:
            value = inline
            i += 1
        else:
            if i + 1 >= len(argv):
                raise StartupError("Error parsing command line: the required argument for option '--%s' is missing"
                                   % name, lines=["Error parsing command line: the required argument for option "
                                                  "'--%s' is missing" % name, HELP_HINT])
            value = argv[i + 1]
            i += 2
        if kind == "param":
            pname, _sep, pvalue = value.partition("=")
            values.setdefault("setParameter", {})[pname] = pvalue
        elif kind == "int":
            try:
                values[dotted] = int(value)
            except ValueError as exc:
                message = ("Error parsing command line: the argument ('%s') for option '--%s' is invalid"
                           % (value, name))
                raise StartupError(message, lines=[message, HELP_HINT]) from exc
        elif kind == "float":
            values[dotted] = float(value)
        else:
            values[dotted] = value
    return values, wants_version, wants_help


def load(argv):
    """Parse the command line and the config file it names into Options.

    Raises StartupError for anything mongod would refuse at start-up.
    """
    series = ".".join(server_version().split(".")[:2])
    cli, wants_version, wants_help = parse_cli(argv)
    values = {}
    config_path = cli.pop("config", None)
    if config_path:
        try:
            with open(config_path, encoding="utf-8") as handle:
                doc = yaml.safe_load(handle)
        except OSError as exc:
            raise StartupError("Error reading config file: %s" % exc.strerror,
                               lines=["Error reading config file: %s" % exc.strerror, HELP_HINT]) from exc
        except yaml.YAMLError as exc:
            raise StartupError("Error parsing YAML config file: %s" % exc,
                               lines=["Error parsing YAML config file: %s" % str(exc).replace("\n", " "),
                                      HELP_HINT]) from exc
        if doc is None:
            doc = {}
        if not isinstance(doc, dict):
            raise StartupError("Error parsing YAML config file: not a mapping",
                               lines=["Error parsing YAML config file: not a mapping", HELP_HINT])
        errors = []
        _flatten(doc, "", values, errors)
        if errors:
            raise StartupError(errors[0], lines=[errors[0], HELP_HINT])
        _check_known(values, series)
        for dotted in list(values):
            if dotted not in ("setParameter",):
                values[dotted] = _check_type(dotted, values[dotted])
    params = values.pop("setParameter", {})
    params.update(cli.pop("setParameter", {}))
    values.update(cli)
    if params:
        values["setParameter"] = params
    opts = Options(argv, values, _nest(values, config_path), config_path)
    opts.wants_version = wants_version
    opts.wants_help = wants_help
    if not (wants_version or wants_help):
        validate(opts)
    return opts


def _bad(message):
    return StartupError("BadValue: " + message, lines=["BadValue: " + message, HELP_HINT])


def validate(opts):
    """Cross-option checks mongod performs before starting."""
    oplog = opts.get("replication.oplogSizeMB")
    if oplog is not None and int(oplog) <= 0:
        raise _bad("bad --oplogSize, arg must be greater than 0, found: %s" % oplog)
    if opts.get("replication.enableMajorityReadConcern") in (False, "false"):
        raise _bad("enableMajorityReadConcern:false is no longer supported")
    if opts.get("net.bindIpAll") and opts.get("net.bindIp"):
        raise _bad("net.bindIp and net.bindIpAll are mutually exclusive")
    auth = opts.get("security.authorization")
    if auth is not None and auth not in ("enabled", "disabled"):
        raise _bad("security.authorization must be 'enabled' or 'disabled', found: %s" % auth)
    mode = opts.get("net.tls.mode")
    if mode is not None and mode not in TLS_MODES:
        raise _bad("Invalid value for tlsMode: %s" % mode)
    ssl_mode = opts.get("net.ssl.mode")
    if ssl_mode is not None and ssl_mode not in SSL_MODE_ALIASES:
        raise _bad("Invalid value for sslMode: %s" % ssl_mode)
    cam = opts.get("security.clusterAuthMode")
    if cam is not None and cam not in CLUSTER_AUTH_MODES:
        raise _bad("Unsupported value for clusterAuthMode %s" % cam)
    if opts.tls_mode != "disabled" and not opts.tls_value("certificateKeyFile"):
        raise _bad("need tlsCertificateKeyFile or certificateSelector when TLS is enabled")
    logs_somewhere = opts.get("systemLog.path") or opts.get("systemLog.destination") == "syslog"
    if opts.get("processManagement.fork") and not logs_somewhere:
        raise _bad("--fork has to be used with --logpath or --syslog")
    dest = opts.get("systemLog.destination")
    if dest == "file" and not opts.get("systemLog.path"):
        raise _bad("--logpath is required when systemLog.destination is 'file'")
    if dest not in (None, "file", "syslog"):
        raise _bad("systemLog.destination must be 'file' or 'syslog', found: %s" % dest)
    if opts.get("security.transitionToAuth") and not opts.get("security.keyFile") \
            and opts.get("security.clusterAuthMode") != "x509":
        # [src: db/server_options_server_helpers.cpp, storeServerOptions] (SEMANTICS.md section 9.2b)
        raise _bad("--transitionToAuth must be used with keyFile or x509 authentication")
    if (opts.repl_set and opts.get("security.authorization") == "enabled" and not opts.get("security.keyFile")
            and opts.get("security.clusterAuthMode") not in ("x509", "sendX509")):
        raise _bad("security.keyFile is required when authorization is enabled with replica sets")
    engine = opts.get("storage.engine")
    if engine is not None and engine not in STORAGE_ENGINES:
        # [src: db/storage/storage_engine_init.cpp: error 28545 during start-up]
        message = "Cannot start server with an unknown storage engine: %s" % engine
        raise StartupError(message, lines=[message], exit_code=100)
    role = opts.get("sharding.clusterRole")
    if role is not None and role not in ("shardsvr", "configsvr"):
        raise _bad("sharding.clusterRole must be 'configsvr' or 'shardsvr', found: %s" % role)
    if role and not opts.repl_set:
        raise _bad("Cannot start a %s as a standalone server. Please use the option --replSet to start the node "
                   "as a replica set." % role)
    port = opts.port
    if not 0 < port < 65536:
        raise _bad("net.port must be between 1 and 65535, found: %s" % port)


def print_startup_error(exc, stream=None):
    stream = stream or sys.stderr
    for line in exc.lines:
        stream.write(line + "\n")
    stream.flush()
