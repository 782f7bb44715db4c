"""Authentication (SCRAM-SHA-1/SHA-256, the keyFile's internal user) and
authorization (built-in roles, the localhost exception).

Sources: SEMANTICS.md section 9; RFC 5802/7677 for SCRAM. The stored
credential format mirrors what ``createUser`` writes to ``admin.system.users``.
"""

import base64
import hashlib
import hmac
import os
import stat
import unicodedata
import uuid

import yaml
from bson.binary import Binary

from .errors import CommandError, StartupError

MECHANISMS = ("SCRAM-SHA-1", "SCRAM-SHA-256")
_HASHES = {"SCRAM-SHA-1": hashlib.sha1, "SCRAM-SHA-256": hashlib.sha256}
_ITERATIONS = {"SCRAM-SHA-1": 10000, "SCRAM-SHA-256": 15000}
INTERNAL_USER = "__system"
INTERNAL_DB = "local"


# ---------------------------------------------------------------- keyFile

def load_keyfile(path):
    """Read and validate a keyFile; return the list of keys (YAML sequences allow rollover)."""
    try:
        st = os.stat(path)
        with open(path, encoding="utf-8", errors="replace") as handle:
            text = handle.read()
    except OSError as exc:
        raise StartupError("Error reading file %s: %s" % (path, exc.strerror), exit_code=1) from exc
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise StartupError("permissions on %s are too open" % path, exit_code=1)
    try:
        parsed = yaml.safe_load(text)
    except yaml.YAMLError:
        parsed = text
    if isinstance(parsed, list):
        raw_keys = [str(k) for k in parsed]
    else:
        raw_keys = [text]
    keys = []
    for raw in raw_keys:
        key = "".join(ch for ch in raw if ch not in "\t\n\v\f\r ")
        for ch in key:
            if not (ch.isascii() and (ch.isalnum() or ch in "+/=")):
                raise StartupError("invalid char in key file %s: %s" % (path, raw.strip()), exit_code=1)
        if not 6 <= len(key) <= 1024:
            raise StartupError(" security key in %s has length %d, must be between 6 and 1024 chars"
                               % (path, len(key)), exit_code=1)
        keys.append(key)
    if not keys:
        raise StartupError(" security key in %s has length 0, must be between 6 and 1024 chars" % path, exit_code=1)
    if len(keys) > 2:
        # mongod (db/auth/security_key.cpp) keeps the first key as the internal user's credentials and the
        # second as its alternate ones, and refuses a file with more: the start fails (SEMANTICS.md 9.1).
        raise StartupError("Only two keys are supported in the security key file, %d are specified in %s"
                           % (len(keys), path), exit_code=1)
    return keys


# ---------------------------------------------------------------- SCRAM primitives

def saslprep(text):
    """Minimal SASLprep (RFC 4013) for passwords: map spaces, NFKC, reject controls."""
    mapped = "".join(" " if unicodedata.category(ch) == "Zs" else ch for ch in text
                     if ch not in "\u00ad\u200b\u2060\ufeff")
    normalized = unicodedata.normalize("NFKC", mapped)
    for ch in normalized:
        if unicodedata.category(ch) in ("Cc", "Co", "Cs") and ch not in "\t":
            raise CommandError(2, "SASLPrep: prohibited character in password")
    return normalized


def _salted_password(mechanism, user, password, salt, iterations):
    if mechanism == "SCRAM-SHA-1":
        secret = hashlib.md5(("%s:mongo:%s" % (user, password)).encode()).hexdigest().encode()
    else:
        secret = saslprep(password).encode("utf-8")
    return hashlib.pbkdf2_hmac(_HASHES[mechanism]().name, secret, salt, iterations)


def _hmac(mechanism, key, data):
    return hmac.new(key, data, _HASHES[mechanism]).digest()


def make_credentials(mechanism, user, password, salt=None, iterations=None):
    digest = _HASHES[mechanism]
    iterations = iterations or _ITERATIONS[mechanism]
    salt = salt or os.urandom(16 if mechanism == "SCRAM-SHA-1" else 28)
    salted = _salted_password(mechanism, user, password, salt, iterations)
    client_key = _hmac(mechanism, salted, b"Client Key")
    return {
        "iterationCount": iterations,
        "salt": base64.b64encode(salt).decode(),
        "storedKey": base64.b64encode(digest(client_key).digest()).decode(),
        "serverKey": base64.b64encode(_hmac(mechanism, salted, b"Server Key")).decode(),
    }


def user_document(db, user, password, roles, mechanisms=MECHANISMS, custom_data=None):
    doc = {
        "_id": "%s.%s" % (db, user),
        "userId": Binary(uuid.uuid4().bytes, 4),
        "user": user,
        "db": db,
        "credentials": {m: make_credentials(m, user, password) for m in mechanisms},
        "roles": roles,
    }
    if custom_data is not None:
        doc["customData"] = custom_data
    return doc


def _parse_fields(message):
    out = {}
    for part in message.split(","):
        if len(part) >= 2 and part[1] == "=":
            out[part[0]] = part[2:]
    return out


def _unescape_user(name):
    return name.replace("=2C", ",").replace("=3D", "=")


class ScramServerConversation:
    """One SCRAM exchange on the server side."""

    def __init__(self, mechanism, lookup):
        if mechanism not in MECHANISMS:
            raise CommandError(2, "Received authentication for mechanism %s which is not enabled" % mechanism,
                               code_name_override="MechanismUnavailable")
        self.mechanism = mechanism
        self.lookup = lookup  # user -> list of credential dicts, or None
        self.user = None
        self.step = 0
        self.done = False
        self._auth_message = None
        self._candidates = None
        self._server_key = None

    def start(self, payload):
        text = bytes(payload).decode("utf-8")
        if not text.startswith(("n,", "y,")):
            raise CommandError(18, "Authentication failed.")
        header_end = text.index(",", 2) + 1
        client_first_bare = text[header_end:]
        fields = _parse_fields(client_first_bare)
        self.user = _unescape_user(fields.get("n", ""))
        client_nonce = fields.get("r", "")
        creds = self.lookup(self.user, self.mechanism)
        if not creds:
            # Pretend to continue with made-up parameters; fail at the proof.
            creds = [make_credentials(self.mechanism, self.user, base64.b64encode(os.urandom(12)).decode())]
            self._candidates = []
            first = creds[0]
        else:
            self._candidates = creds
            first = creds[0]
        nonce = client_nonce + base64.b64encode(os.urandom(24)).decode()
        server_first = "r=%s,s=%s,i=%d" % (nonce, first["salt"], first["iterationCount"])
        self._client_first_bare = client_first_bare
        self._server_first = server_first
        self._nonce = nonce
        self.step = 1
        return server_first.encode()

    def proceed(self, payload):
        if self.step == 1:
            text = bytes(payload).decode("utf-8")
            fields = _parse_fields(text)
            if fields.get("r") != self._nonce:
                raise CommandError(18, "Authentication failed.")
            without_proof = text[:text.rindex(",p=")]
            auth_message = ",".join([self._client_first_bare, self._server_first, without_proof]).encode()
            proof = base64.b64decode(fields.get("p", ""))
            digest = _HASHES[self.mechanism]
            for cred in self._candidates:
                stored_key = base64.b64decode(cred["storedKey"])
                signature = _hmac(self.mechanism, stored_key, auth_message)
                if len(proof) != len(signature):
                    continue
                client_key = bytes(a ^ b for a, b in zip(proof, signature))
                if hmac.compare_digest(digest(client_key).digest(), stored_key):
                    server_key = base64.b64decode(cred["serverKey"])
                    self.step = 2
                    return ("v=" + base64.b64encode(_hmac(self.mechanism, server_key, auth_message)).decode()
                            ).encode()
            raise CommandError(18, "Authentication failed.")
        if self.step == 2:
            self.done = True
            self.step = 3
            return b""
        raise CommandError(17, "No SASL session state found", code_name_override="ProtocolError")


class ScramClient:
    """Client side of SCRAM, for member-to-member (keyFile) authentication."""

    def __init__(self, mechanism, user, password):
        self.mechanism = mechanism
        self.user = user
        self.password = password
        self.nonce = base64.b64encode(os.urandom(24)).decode()
        self.first_bare = "n=%s,r=%s" % (user.replace("=", "=3D").replace(",", "=2C"), self.nonce)
        self._server_signature = None

    def first(self):
        return ("n,," + self.first_bare).encode()

    def final(self, server_first):
        text = bytes(server_first).decode()
        fields = _parse_fields(text)
        nonce = fields["r"]
        if not nonce.startswith(self.nonce):
            raise CommandError(18, "Server returned an invalid nonce.")
        salt = base64.b64decode(fields["s"])
        iterations = int(fields["i"])
        salted = _salted_password(self.mechanism, self.user, self.password, salt, iterations)
        client_key = _hmac(self.mechanism, salted, b"Client Key")
        stored_key = _HASHES[self.mechanism](client_key).digest()
        without_proof = "c=biws,r=" + nonce
        auth_message = ",".join([self.first_bare, text, without_proof]).encode()
        signature = _hmac(self.mechanism, stored_key, auth_message)
        proof = bytes(a ^ b for a, b in zip(client_key, signature))
        server_key = _hmac(self.mechanism, salted, b"Server Key")
        self._server_signature = base64.b64encode(_hmac(self.mechanism, server_key, auth_message)).decode()
        return (without_proof + ",p=" + base64.b64encode(proof).decode()).encode()

    def verify(self, server_final):
        fields = _parse_fields(bytes(server_final).decode())
        if fields.get("v") != self._server_signature:
            raise CommandError(18, "Server signature mismatch")


def internal_credentials(keys, mechanism):
    """Credentials of the keyFile's internal user, one per key (rollover)."""
    salt = hashlib.sha256(b"mongosim internal user salt").digest()[:16]
    return [make_credentials(mechanism, INTERNAL_USER, key, salt=salt, iterations=_ITERATIONS[mechanism])
            for key in keys]


# ---------------------------------------------------------------- authorization

CLUSTER_MONITOR = {
    "replSetGetStatus", "replSetGetConfig", "serverStatus", "getCmdLineOpts", "getLog", "getParameter",
    "listDatabases", "getDefaultRWConcern", "connPoolStats", "hostInfo", "top", "inprog", "getFCV",
}
CLUSTER_MANAGER = {"replSetConfigure", "replSetStateChange", "replSetGetConfig", "replSetGetStatus",
                   "resizeOplog", "setFeatureCompatibilityVersion", "setDefaultRWConcern", "getDefaultRWConcern",
                   "listDatabases", "killSessions"}
HOST_MANAGER = {"shutdown", "setParameter", "logRotate", "killop", "rotateCertificates"}
ALL_CLUSTER = CLUSTER_MONITOR | CLUSTER_MANAGER | HOST_MANAGER | {"dropDatabase"}

READ = {"find", "listCollections", "listIndexes", "collStats", "dbStats"}
WRITE = {"insert", "update", "remove", "createCollection", "dropCollection", "createIndex", "dropIndex"}
DB_ADMIN = {"createCollection", "dropCollection", "createIndex", "dropIndex", "listCollections", "listIndexes",
            "collStats", "dbStats", "dropDatabase", "collMod"}
USER_ADMIN = {"createUser", "dropUser", "updateUser", "viewUser", "grantRole", "revokeRole", "changePassword",
              "createRole", "dropRole", "viewRole"}
SYSTEM_DBS = {"local", "config"}


def role_privileges(role, role_db):
    """Return (cluster actions, {db or '*': actions}) for a built-in role."""
    if role in ("root", "__system"):
        cluster = ALL_CLUSTER | {"internal"} if role == "__system" else ALL_CLUSTER
        return cluster, {"*": READ | WRITE | DB_ADMIN | USER_ADMIN, "local": READ | WRITE | USER_ADMIN,
                         "config": READ | WRITE | USER_ADMIN}
    if role_db == "admin":
        table = {
            "clusterAdmin": (ALL_CLUSTER, {}),
            "clusterManager": (CLUSTER_MANAGER, {"local": READ, "config": READ}),
            "clusterMonitor": (CLUSTER_MONITOR, {"local": {"find"}, "config": {"find"}}),
            "hostManager": (HOST_MANAGER, {}),
            # userAdmin's actions on local and config too, and viewUser on the cluster
            # [src: db/auth/builtin_roles.yml userAdminAnyDatabase].
            "userAdminAnyDatabase": ({"listDatabases", "viewUser"}, {"*": USER_ADMIN, "local": USER_ADMIN,
                                                                     "config": USER_ADMIN}),
            "readWriteAnyDatabase": ({"listDatabases"}, {"*": READ | WRITE}),
            "readAnyDatabase": ({"listDatabases"}, {"*": READ}),
            "dbAdminAnyDatabase": ({"listDatabases"}, {"*": DB_ADMIN}),
            "backup": ({"listDatabases", "serverStatus"}, {"*": READ, "local": READ, "config": READ}),
            "restore": (set(), {"*": WRITE | USER_ADMIN}),
        }
        if role in table:
            return table[role]
    table = {
        "read": READ,
        "readWrite": READ | WRITE,
        "dbAdmin": DB_ADMIN,
        "userAdmin": USER_ADMIN,
        "dbOwner": READ | WRITE | DB_ADMIN | USER_ADMIN,
    }
    if role in table:
        return set(), {role_db: table[role]}
    return None


BUILTIN_ROLES = {"root", "clusterAdmin", "clusterManager", "clusterMonitor", "hostManager", "userAdminAnyDatabase",
                 "readWriteAnyDatabase", "readAnyDatabase", "dbAdminAnyDatabase", "backup", "restore", "read",
                 "readWrite", "dbAdmin", "userAdmin", "dbOwner", "__system"}
ANY_DATABASE_ROLES = {"root", "clusterAdmin", "clusterManager", "clusterMonitor", "hostManager",
                      "userAdminAnyDatabase", "readWriteAnyDatabase", "readAnyDatabase", "dbAdminAnyDatabase",
                      "backup", "restore"}


def is_builtin_role(role, db):
    if role in ANY_DATABASE_ROLES:
        return db == "admin"
    return role in BUILTIN_ROLES


# Action names a privilege may carry (createRole/grantPrivilegesToRole refuse any
# other with FailedToParse "Unrecognized action privilege string: <name>")
# [src: db/auth/action_type.idl; db/auth/user_management_commands.cpp
# uassertNoUnrecognizedActions]. mongosim enforces the ones its commands check.
ACTIONS = frozenset({
    "addShard", "anyAction", "appendOplogNote", "applicationMessage", "applyOps", "bypassDocumentValidation",
    "changeCustomData", "changeOwnCustomData", "changeOwnPassword", "changePassword", "changeStream",
    "checkFreeMonitoringStatus", "cleanupOrphaned", "collMod", "collStats", "compact", "connPoolStats",
    "connPoolSync", "convertToCapped", "cpuProfiler", "createCollection", "createDatabase", "createIndex",
    "createRole", "createSearchIndexes", "createUser", "dbCheck", "dbHash", "dbStats", "dropAllRolesFromDatabase",
    "dropAllUsersFromDatabase", "dropCollection", "dropConnections", "dropDatabase", "dropIndex", "dropRole",
    "dropSearchIndex", "dropUser", "enableProfiler", "enableSharding", "find", "flushRouterConfig",
    "forceUUID", "fsync", "getClusterParameter", "getCmdLineOpts", "getDefaultRWConcern", "getLog",
    "getParameter", "getShardMap", "getShardVersion", "grantRole", "hostInfo", "impersonate", "indexStats",
    "inprog", "insert", "internal", "invalidateUserCache", "killAnyCursor", "killAnySession", "killCursors",
    "killop", "listCachedAndActiveUsers", "listCollections", "listCursors", "listDatabases", "listIndexes",
    "listSearchIndexes", "listSessions", "listShards", "logRotate", "moveChunk", "netstat", "planCacheIndexFilter",
    "planCacheRead", "planCacheWrite", "reIndex", "remove", "removeShard", "renameCollection",
    "renameCollectionSameDB", "replSetConfigure", "replSetGetConfig", "replSetGetStatus",
    "replSetHeartbeat", "replSetResizeOplog", "replSetStateChange", "resync", "revokeRole", "rotateCertificates",
    "serverStatus", "setAuthenticationRestriction", "setClusterParameter", "setDefaultRWConcern",
    "setFeatureCompatibilityVersion", "setParameter", "shardCollection", "shardingState", "shutdown",
    "splitChunk", "splitVector", "storageDetails", "top", "touch", "trafficRecord", "unlock", "update",
    "updateSearchIndex", "useUUID", "validate", "viewRole", "viewUser", "resizeOplog", "killSessions", "getFCV",
})


def pattern_matches(pattern, resource, collection=None):
    """Does a privilege's resource document cover this check?

    ``resource`` is "cluster" or a database name; ``collection`` is the
    collection a command targets (None for a database-wide action). The
    resource forms are the manual's [docs: reference/resource-document]:
    {cluster: true}, {anyResource: true}, {db: "", collection: ""} (every
    database and collection but the system ones), {db: "x", collection: ""}
    (database x and all its collections), {db: "", collection: "c"} (c in
    every database), {db: "x", collection: "c"} (that namespace only, so no
    database-wide action such as listCollections)."""
    if not isinstance(pattern, dict):
        return False
    if pattern.get("anyResource"):
        return True
    if pattern.get("cluster"):
        return resource == "cluster"
    if resource == "cluster" or "db" not in pattern or "collection" not in pattern:
        return False
    pdb, pcoll = pattern["db"], pattern["collection"]
    if pdb == "":
        if resource in SYSTEM_DBS:
            return False
    elif pdb != resource:
        return False
    if collection is None:
        return pcoll == ""
    return pcoll in ("", collection)


def pattern_in_db(pattern, db):
    """isAuthorizedForAnyActionOnAnyResourceInDB, for one privilege."""
    if not isinstance(pattern, dict):
        return False
    if pattern.get("anyResource"):
        return True
    if pattern.get("cluster") or "db" not in pattern:
        return False
    return pattern["db"] == db or (pattern["db"] == "" and db not in SYSTEM_DBS)


class Principal:
    """A user's effective privileges: the built-in roles' tables plus the
    privileges of user-defined roles and of every role they inherit,
    resolved through ``role_lookup(role, db)`` (the admin.system.roles
    document or None) [docs: core/security-user-defined-roles]."""

    def __init__(self, user, db, roles, role_lookup=None):
        self.user = user
        self.db = db
        self.roles = roles
        self.cluster = set()
        self.dbs = {}
        self.privileges = []
        self.all_roles = set()
        stack = list(roles)
        while stack:
            role = stack.pop()
            key = (role["role"], role["db"])
            if key in self.all_roles:
                continue
            self.all_roles.add(key)
            privs = role_privileges(role["role"], role["db"]) if is_builtin_role(*key) else None
            if privs is not None:
                cluster, dbs = privs
                self.cluster |= cluster
                for name, actions in dbs.items():
                    self.dbs.setdefault(name, set()).update(actions)
                continue
            doc = role_lookup(*key) if role_lookup is not None else None
            if doc is None:
                continue
            for priv in doc.get("privileges", []):
                self.privileges.append((priv.get("resource"), set(priv.get("actions", []))))
            stack.extend(doc.get("roles", []))

    def allows(self, resource, action, collection=None):
        if self._builtin_allows(resource, action):
            return True
        for pattern, actions in self.privileges:
            if (action in actions or "anyAction" in actions) and pattern_matches(pattern, resource, collection):
                return True
        return False

    def _builtin_allows(self, resource, action):
        if resource == "cluster":
            return action in self.cluster
        if action in self.dbs.get(resource, ()):
            return True
        if resource in SYSTEM_DBS:
            return False
        return action in self.dbs.get("*", ())

    def any_in_db(self, db):
        if self.dbs.get(db) or (db not in SYSTEM_DBS and self.dbs.get("*")):
            return True
        return any(actions and pattern_in_db(pattern, db) for pattern, actions in self.privileges)

    def to_doc(self):
        return {"user": self.user, "db": self.db}


LOCALHOST_EXCEPTION = {("admin", "createUser"), ("$external", "createUser"), ("admin", "grantRole"),
                       ("cluster", "replSetConfigure"), ("cluster", "replSetGetStatus"),
                       ("cluster", "addShard"), ("cluster", "issueDirectShardOperations")}
LOCALHOST_EXCEPTION_ARBITER = {("cluster", "getCmdLineOpts"), ("cluster", "getParameter"),
                               ("cluster", "serverStatus"), ("cluster", "shutdown")}
