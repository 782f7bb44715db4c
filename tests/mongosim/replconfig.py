"""Replica-set configuration documents: parsing, validation, serialization.

Rules and message texts follow SEMANTICS.md section 5 (from
repl_set_config.idl, member_config.cpp, repl_set_config.cpp and
repl_set_config_checks.cpp). Parse errors carry the reason; the caller turns
them into InvalidReplicaSetConfig (93) on initiate and reconfig, or
NewReplicaSetConfigurationIncompatible (103) for whole-config validation on
reconfig, as its section 5.4 tabulates.
"""

import copy

from bson.int64 import Int64
from bson.objectid import ObjectId

MAX_MEMBERS = 50
MAX_VOTERS = 7
MAX_DELAY = 31622400

TOP_FIELDS = ("_id", "version", "term", "members", "configsvr", "protocolVersion",
              "writeConcernMajorityJournalDefault", "settings", "repaired", "recipientConfig")
MEMBER_FIELDS = ("_id", "host", "votes", "newlyAdded", "priority", "hidden", "secondaryDelaySecs", "arbiterOnly",
                 "buildIndexes", "tags", "horizons")
SETTINGS_DEFAULTS = (
    ("chainingAllowed", True),
    ("heartbeatIntervalMillis", 2000),
    ("heartbeatTimeoutSecs", 10),
    ("electionTimeoutMillis", 10000),
    ("catchUpTimeoutMillis", -1),
    ("catchUpTakeoverDelayMillis", 30000),
    ("getLastErrorModes", {}),
    ("getLastErrorDefaults", {"w": 1, "wtimeout": 0}),
)


class ParseError(Exception):
    """A config the server refuses to parse (reported as 93, or TypeMismatch etc. inside)."""


class ValidationError(Exception):
    """Whole-config validation failure (93 on initiate, 103 on reconfig)."""


def _type_name(value):
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, Int64):
        return "long"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "double"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if value is None:
        return "null"
    return type(value).__name__


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _integral(name, value):
    if not _is_number(value):
        raise ParseError("BSON field '%s' is the wrong type '%s', expected types '[long, int, decimal, double]'"
                         % (name, _type_name(value)))
    if isinstance(value, float) and value != int(value):
        raise ParseError("Expected an integer for %s, but found %s" % (name, value))
    return int(value)


def _bool(name, value):
    if isinstance(value, bool):
        return value
    if _is_number(value):
        return bool(value)
    raise ParseError("BSON field '%s' is the wrong type '%s', expected types '[bool, long, int, decimal, double]'"
                     % (name, _type_name(value)))


def parse_host(text):
    """Normalise ``host[:port]``: trimmed, port filled in. Raises ParseError (FailedToParse texts)."""
    raw = text
    text = text.strip()
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ParseError("Missing matching ']' parsing HostAndPort from \"%s\"" % raw)
        host = text[1:end]
        rest = text[end + 1:]
        port_text = rest[1:] if rest.startswith(":") else ""
        if rest and not rest.startswith(":"):
            raise ParseError("Extraneous characters after ']' parsing HostAndPort from \"%s\"" % raw)
        display = "[%s]" % host
    else:
        if text.count(":") > 1:
            raise ParseError("More than one ':' detected. If this is an ipv6 address, it needs to be surrounded by "
                             "'[' and ']'; %s" % raw)
        host, _sep, port_text = text.partition(":")
        display = host
    if not host:
        raise ParseError("Empty host component parsing HostAndPort from \"%s\"" % raw)
    port = 27017
    if port_text:
        if not port_text.isdigit():
            raise ParseError("port '%s' for HostAndPort is not a valid number" % port_text)
        port = int(port_text)
        if not 0 < port <= 65535:
            raise ParseError("Port number %d out of range parsing HostAndPort from \"%s\"" % (port, raw))
    return "%s:%d" % (display, port)


def host_is_localhost(host_port):
    host = host_port.rsplit(":", 1)[0].strip("[]").lower()
    return host == "localhost" or host.startswith("127.") or host == "::1"


def _parse_member(doc, index, for_initiate):
    if not isinstance(doc, dict):
        raise ParseError("Element %d of 'members' was not an object" % index)
    for key in doc:
        if key not in MEMBER_FIELDS:
            raise ParseError("BSON field 'MemberConfig.%s' is an unknown field." % key)
    if "_id" not in doc:
        raise ParseError("BSON field 'MemberConfig._id' is missing but a required field")
    if "host" not in doc:
        raise ParseError("BSON field 'MemberConfig.host' is missing but a required field")
    mid = doc["_id"]
    if not _is_number(mid):
        raise ParseError("Element for MemberId was not a number: _id: %r" % (mid,))
    mid = int(mid)
    if mid < 0:
        raise ParseError("_id field value of %d can't be a negative number" % mid)
    if not isinstance(doc["host"], str):
        raise ParseError("BSON field 'MemberConfig.host' is the wrong type '%s', expected type 'string'"
                         % _type_name(doc["host"]))
    host = parse_host(doc["host"])
    arbiter = _bool("MemberConfig.arbiterOnly", doc.get("arbiterOnly", False))
    votes = _integral("MemberConfig.votes", doc.get("votes", 1))
    if votes not in (0, 1):
        raise ParseError("votes field value is %d but must be 0 or 1" % votes)
    priority = doc.get("priority", 0.0 if arbiter else 1.0)
    if not _is_number(priority):
        raise ParseError("BSON field 'MemberConfig.priority' is the wrong type '%s', expected types '[long, int, "
                         "decimal, double]'" % _type_name(priority))
    priority = float(priority)
    if not 0 <= priority <= 1000:
        raise ParseError("priority field value of %s is out of range" % _fmt_num(priority))
    if arbiter and priority == 1.0:
        priority = 0.0
    hidden = _bool("MemberConfig.hidden", doc.get("hidden", False))
    build_indexes = _bool("MemberConfig.buildIndexes", doc.get("buildIndexes", True))
    delay = _integral("MemberConfig.secondaryDelaySecs", doc.get("secondaryDelaySecs", 0))
    if not 0 <= delay <= MAX_DELAY:
        raise ParseError("secondaryDelaySecs field value of %d is out of range" % delay)
    newly_added = doc.get("newlyAdded")
    if newly_added is not None:
        newly_added = _bool("MemberConfig.newlyAdded", newly_added)
        if not newly_added:
            raise ParseError("newlyAdded field must be true if present")
    tags = doc.get("tags", {})
    if not isinstance(tags, dict):
        raise ParseError("BSON field 'MemberConfig.tags' is the wrong type '%s', expected type 'object'"
                         % _type_name(tags))
    for key, value in tags.items():
        if not isinstance(value, str):
            raise ParseError("tags.%s field has non-string value of type %s" % (key, _type_name(value)))
    horizons = doc.get("horizons")
    if horizons is not None and not isinstance(horizons, dict):
        raise ParseError("BSON field 'MemberConfig.horizons' is the wrong type '%s', expected type 'object'"
                         % _type_name(horizons))
    if arbiter:
        if votes == 0:
            raise ParseError("Arbiter must vote (cannot have 0 votes)")
        if newly_added:
            raise ParseError("Arbiter cannot have newlyAdded field set")
        if tags:
            raise ParseError("Cannot set tags on arbiters.")
    if priority != 0:
        if votes == 0:
            raise ParseError("priority must be 0 when non-voting (votes:0)")
        if delay:
            raise ParseError("priority must be 0 when secondaryDelaySecs is used")
        if hidden:
            raise ParseError("priority must be 0 when hidden=true")
        if not build_indexes:
            raise ParseError("priority must be 0 when buildIndexes=false")
    member = {"_id": mid, "host": host, "arbiterOnly": arbiter}
    if newly_added:
        member["newlyAdded"] = True
    member.update({"buildIndexes": build_indexes, "hidden": hidden, "priority": priority, "tags": dict(tags)})
    if horizons is not None:
        member["horizons"] = dict(horizons)
    member["secondaryDelaySecs"] = Int64(delay)
    member["votes"] = votes
    return member


def _fmt_num(value):
    return ("%d" % value) if float(value).is_integer() else repr(value)


def _parse_settings(settings):
    if settings is None:
        settings = {}
    if not isinstance(settings, dict):
        raise ParseError("BSON field 'ReplSetConfig.settings' is the wrong type '%s', expected type 'object'"
                         % _type_name(settings))
    out = {}
    for name, default in SETTINGS_DEFAULTS:
        value = settings.get(name, default)
        if name == "chainingAllowed":
            value = _bool("ReplSetConfigSettings.chainingAllowed", value)
        elif name in ("heartbeatIntervalMillis", "heartbeatTimeoutSecs", "electionTimeoutMillis"):
            value = _integral("ReplSetConfigSettings." + name, value)
            if value <= 0:
                raise ParseError("%s field value must be positive, but found %d" % (name, value))
        elif name in ("catchUpTimeoutMillis", "catchUpTakeoverDelayMillis"):
            value = _integral("ReplSetConfigSettings." + name, value)
            if value < -1:
                raise ParseError("%s field value must be -1 or greater, but found %d" % (name, value))
        elif name == "getLastErrorModes":
            if not isinstance(value, dict):
                raise ParseError("getLastErrorModes must be an object")
            for mode, spec in value.items():
                if not isinstance(spec, dict):
                    raise ParseError("getLastErrorModes.%s must be an object" % mode)
                for tag, count in spec.items():
                    if not _is_number(count) or int(count) <= 0:
                        raise ParseError("Value of %s.%s must be positive, but found %r" % (mode, tag, count))
                value = {mode: {tag: int(count) for tag, count in spec.items()} for mode, spec in value.items()}
        elif name == "getLastErrorDefaults":
            if not isinstance(value, dict):
                raise ParseError("getLastErrorDefaults must be an object")
        out[name] = value
    if "replicaSetId" in settings:
        if settings["replicaSetId"] is None:
            raise ParseError("replicaSetId field value must not be null")
        if not isinstance(settings["replicaSetId"], ObjectId):
            raise ParseError("BSON field 'ReplSetConfigSettings.replicaSetId' is the wrong type '%s', expected type "
                             "'objectId'" % _type_name(settings["replicaSetId"]))
        out["replicaSetId"] = settings["replicaSetId"]
    return out


def parse(doc, for_initiate=False):
    """Parse a user-supplied config document into the server's normalized form."""
    if not isinstance(doc, dict):
        raise ParseError("no configuration specified")
    for key in doc:
        if key not in TOP_FIELDS:
            raise ParseError("BSON field 'ReplSetConfig.%s' is an unknown field." % key)
    if "_id" not in doc:
        raise ParseError("BSON field 'ReplSetConfig._id' is missing but a required field")
    if not isinstance(doc["_id"], str):
        raise ParseError("BSON field 'ReplSetConfig._id' is the wrong type '%s', expected type 'string'"
                         % _type_name(doc["_id"]))
    if "version" not in doc:
        if not for_initiate:
            raise ParseError("BSON field 'ReplSetConfig.version' is missing but a required field")
        version = 1
    else:
        version = _integral("ReplSetConfig.version", doc["version"])
    if not 1 <= version < 2 ** 31:
        raise ParseError("version field value of %d is out of range" % version)
    term = doc.get("term", -1)
    term = _integral("ReplSetConfig.term", term)
    if term < -1:
        raise ParseError("term field value of %d is out of range" % term)
    if "members" not in doc:
        raise ParseError("BSON field 'ReplSetConfig.members' is missing but a required field")
    if not isinstance(doc["members"], list):
        raise ParseError("BSON field 'ReplSetConfig.members' is the wrong type '%s', expected type 'array'"
                         % _type_name(doc["members"]))
    protocol = doc.get("protocolVersion", 1)
    if not _is_number(protocol) or int(protocol) != 1:
        raise ParseError("Support for replication protocol version 0 was removed in MongoDB 4.2. Please "
                         "reconfigure your replica set to use protocol version 1.")
    members = [_parse_member(m, i, for_initiate) for i, m in enumerate(doc["members"])]
    config = {"_id": doc["_id"], "version": version, "term": term, "members": members}
    if doc.get("configsvr"):
        config["configsvr"] = True
    config["protocolVersion"] = Int64(1)
    config["writeConcernMajorityJournalDefault"] = _bool("ReplSetConfig.writeConcernMajorityJournalDefault",
                                                         doc.get("writeConcernMajorityJournalDefault", True))
    config["settings"] = _parse_settings(doc.get("settings"))
    return config


def validate(config, allow_multiple_arbiters=False):
    """Whole-config rules (ReplSetConfig::validate). Raises ValidationError."""
    members = config["members"]
    if not 1 <= len(members) <= MAX_MEMBERS:
        raise ValidationError("Replica set configuration contains %d members, but must have at least 1 and no more "
                              "than  %d" % (len(members), MAX_MEMBERS))
    local_count = 0
    for i, m in enumerate(members):
        for j in range(i):
            if members[j]["_id"] == m["_id"]:
                raise ValidationError("Found two member configurations with same _id field, members.%d._id == "
                                      "members.%d._id == %d" % (j, i, m["_id"]))
            if members[j]["host"].lower() == m["host"].lower():
                raise ValidationError("Found two member configurations with same host field, members.%d.host == "
                                      "members.%d.host == %s" % (j, i, m["host"]))
        if host_is_localhost(m["host"]):
            local_count += 1
    if local_count and local_count != len(members):
        raise ValidationError("Either all host names in a replica set configuration must be localhost references, or "
                              "none must be; found %d out of %d" % (local_count, len(members)))
    horizon_names = [tuple(sorted((m.get("horizons") or {}).keys())) for m in members]
    if any(h != horizon_names[0] for h in horizon_names):
        raise ValidationError("Saw a replica set member with a different horizon mapping than the others")
    voters = len(voter_ids(config))
    if not 1 <= voters <= MAX_VOTERS:
        raise ValidationError("Replica set configuration contains %d voting members, but must be at least 1 and no "
                              "more than %d" % (voters, MAX_VOTERS))
    if not any(is_electable(m) for m in members):
        raise ValidationError("Replica set configuration must contain at least one non-arbiter member with priority "
                              "> 0")
    if not allow_multiple_arbiters and len([m for m in members if m["arbiterOnly"]]) > 1:
        # 5.3+; the doubled "with" is in mongod's own message.
        raise ValidationError("Multiple arbiters are not allowed unless all nodes were started with with "
                              "--setParameter 'allowMultipleArbiters=true'")
    if not config["_id"]:
        raise ValidationError("Replica set configuration must have non-empty _id field")
    if config.get("configsvr"):
        if any(m["arbiterOnly"] for m in members):
            raise ValidationError("Arbiters are not allowed in replica set configurations being used for config "
                                  "servers")
    glm = config["settings"].get("getLastErrorModes", {})
    tag_values = {}
    for m in members:
        for key, value in m["tags"].items():
            tag_values.setdefault(key, set()).add(value)
    for mode, spec in glm.items():
        for tag, count in spec.items():
            if tag not in tag_values:
                raise ValidationError("mode %s requires tag %s which is not used by any member" % (mode, tag))
            if count > len(tag_values[tag]):
                raise ValidationError("mode %s requires %d distinct values of tag %s but only %d exist"
                                      % (mode, count, tag, len(tag_values[tag])))


def gle_defaults_customized(config):
    gle = config["settings"].get("getLastErrorDefaults", {"w": 1, "wtimeout": 0})
    return not (gle.get("w", 1) == 1 and gle.get("wtimeout", 0) == 0 and set(gle) <= {"w", "wtimeout"})


# ---------------------------------------------------------------- helpers on parsed configs

def is_arbiter(member):
    return member["arbiterOnly"]


def effective_votes(member):
    return 0 if member.get("newlyAdded") else member["votes"]


def effective_priority(member):
    return 0.0 if member.get("newlyAdded") else member["priority"]


def is_electable(member):
    return not member["arbiterOnly"] and effective_priority(member) > 0


def voter_ids(config):
    return {m["_id"] for m in config["members"] if effective_votes(m)}


def majority(config):
    return len(voter_ids(config)) // 2 + 1


def writable_voters(config):
    return len([m for m in config["members"] if effective_votes(m) and not m["arbiterOnly"]])


def write_majority(config):
    return min(majority(config), writable_voters(config))


def implicit_wc_is_majority(config):
    """The implicit default write concern rule (5.0+): w:1 when there are arbiters
    and the writable voters do not exceed the voting majority, else majority."""
    arbiters = any(m["arbiterOnly"] for m in config["members"])
    if not arbiters:
        return True
    return writable_voters(config) > majority(config)


def psa_reconfig_unsafe(old, new):
    """mongod's PSA rule, as repl_set_config_checks.cpp validateOldAndNewConfigsCompatible has it
    (called from validateConfigForReconfig for force and non-force reconfigs alike).

    Old config: voters counted by their *base* votes (a newlyAdded member counts, getBaseNumVotes),
    every arbiter counted; majority = voters // 2 + 1; writable = voters - arbiters. An election
    quorum and a write quorum overlap when majority <= writable.
    New config: a PSA set is exactly three members of which exactly two are data-bearing, whatever
    their votes (ReplSetConfig::isPSASet); electable members are counted by their *base* priority
    as sent (getBasePriority: newlyAdded does not hide them).
    Refused when there is no overlap in the old config, the new one is PSA and more than one
    member of it is electable."""
    voters_old = sum(1 for m in old["members"] if m["votes"] > 0)
    arbiters_old = sum(1 for m in old["members"] if m["arbiterOnly"])
    majority_old = voters_old // 2 + 1
    overlap = majority_old <= voters_old - arbiters_old
    new_is_psa = len(new["members"]) == 3 and sum(1 for m in new["members"] if not m["arbiterOnly"]) == 2
    electable_new = sum(1 for m in new["members"] if m["priority"] > 0)
    return not overlap and new_is_psa and electable_new > 1


def is_single_node_set(config, self_index):
    """TopologyCoordinator::isElectableNodeInSingleNodeReplicaSet (topology_coordinator.cpp): the
    config has exactly one member and it is this node (a one-voter set with other, non-voting
    members is not one)."""
    return config is not None and len(config["members"]) == 1 and self_index == 0


def member_by_id(config, member_id):
    for m in config["members"]:
        if m["_id"] == member_id:
            return m
    return None


def version_term(config):
    return (config["version"], config.get("term", -1))


def version_term_string(version, term):
    return "{version: %d, term: %d}" % (version, term)


def is_newer(new, old):
    """ConfigVersionAndTerm comparison: compare versions only if either term is -1."""
    nv, nt = new
    ov, ot = old
    if nt == -1 or ot == -1:
        return nv > ov
    return (nt, nv) > (ot, ov)


def to_document(config, include_newly_added=False):
    """The config as replSetGetConfig returns it (field order and BSON types of mongod)."""
    out = {"_id": config["_id"], "version": config["version"]}
    if config.get("term", -1) != -1:
        out["term"] = config["term"]
    members = []
    for m in config["members"]:
        doc = {"_id": m["_id"], "host": m["host"], "arbiterOnly": m["arbiterOnly"]}
        if include_newly_added and m.get("newlyAdded"):
            doc["newlyAdded"] = True
        doc.update({"buildIndexes": m["buildIndexes"], "hidden": m["hidden"], "priority": float(m["priority"]),
                    "tags": dict(m["tags"])})
        if m.get("horizons") is not None:
            doc["horizons"] = dict(m["horizons"])
        doc["secondaryDelaySecs"] = Int64(m["secondaryDelaySecs"])
        doc["votes"] = int(m["votes"])
        members.append(doc)
    out["members"] = members
    if config.get("configsvr"):
        out["configsvr"] = True
    out["protocolVersion"] = Int64(1)
    out["writeConcernMajorityJournalDefault"] = config["writeConcernMajorityJournalDefault"]
    settings = {}
    for name, _default in SETTINGS_DEFAULTS:
        settings[name] = copy.deepcopy(config["settings"][name])
    if "replicaSetId" in config["settings"]:
        settings["replicaSetId"] = config["settings"]["replicaSetId"]
    out["settings"] = settings
    return out


def from_storage(doc):
    """Re-parse a config we stored ourselves (keeps newlyAdded)."""
    config = parse(dict(doc.items()), for_initiate=False)
    return config
