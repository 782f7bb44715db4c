# -*- coding: utf-8 -*-
# Copyright: quorum.mongodb contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Replica-set configurations as data: normalise, validate, compare. Pure code.

The rules are mongod's own (replica-set config validation, MongoDB 7.0/8.0), so
that a declaration the server would reject fails here, naming the member and the
rule, before anything is sent to any server.

Vocabulary: a *member* here is a dict in the server's spelling (``_id``, ``host``,
``arbiterOnly``, ``buildIndexes``, ``hidden``, ``priority``, ``secondaryDelaySecs``,
``tags``, ``votes``, optionally ``horizons`` and ``newlyAdded``); a *declared
member* is the module's snake_case input.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import re

MAX_MEMBERS = 50
MAX_VOTERS = 7
MAX_PRIORITY = 1000
MAX_SECONDARY_DELAY_SECS = 366 * 24 * 3600
DEFAULT_PORT = 27017

# Module option -> server field, for members and for settings.
MEMBER_OPTIONS = (
    ("priority", "priority"),
    ("votes", "votes"),
    ("hidden", "hidden"),
    ("arbiter_only", "arbiterOnly"),
    ("build_indexes", "buildIndexes"),
    ("secondary_delay_secs", "secondaryDelaySecs"),
    ("tags", "tags"),
    ("horizons", "horizons"),
)
SETTINGS = (
    ("chaining_allowed", "chainingAllowed"),
    ("heartbeat_interval_millis", "heartbeatIntervalMillis"),
    ("heartbeat_timeout_secs", "heartbeatTimeoutSecs"),
    ("election_timeout_millis", "electionTimeoutMillis"),
    ("catch_up_timeout_millis", "catchUpTimeoutMillis"),
    ("catch_up_takeover_delay_millis", "catchUpTakeoverDelayMillis"),
    ("get_last_error_modes", "getLastErrorModes"),
)
# Fields compared between the declared and the live member. ``horizons`` only
# when declared (see desired_members).
COMPARED_FIELDS = ("arbiterOnly", "buildIndexes", "hidden", "priority", "secondaryDelaySecs", "tags", "votes")
MEMBER_FIELD_ORDER = ("_id", "host", "arbiterOnly", "buildIndexes", "hidden", "priority", "tags",
                      "secondaryDelaySecs", "votes", "horizons")


class ConfigError(Exception):
    """A declaration or config that mongod would reject; the message names the member and the rule."""


def canonical_host(address, default_port=DEFAULT_PORT):
    """"host:port" with the host lower-cased and the port filled in; raise ConfigError when malformed."""
    if not isinstance(address, str) or not address.strip():
        raise ConfigError("a member has an empty host; give host or host:port")
    text = address.strip()
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ConfigError("member %s: unbalanced '[' in the address" % text)
        host, rest = text[1:end], text[end + 1:]
        if rest and not rest.startswith(":"):
            raise ConfigError("member %s: expected ':port' after ']'" % text)
        port_text = rest[1:] if rest else None
        shown = "[%s]" % host.lower()
    else:
        if text.count(":") > 1:
            raise ConfigError("member %s: more than one ':' in the address; an IPv6 address needs [brackets]" % text)
        host, _sep, port_text = text.partition(":")
        port_text = port_text if _sep else None
        shown = host.lower()
    if not host:
        raise ConfigError("member %s: the host part is empty" % text)
    if port_text is None:
        port = default_port
    else:
        if not re.match(r"^[0-9]+$", port_text):
            raise ConfigError("member %s: the port must be a number" % text)
        port = int(port_text)
    if not 1 <= port <= 65535:
        raise ConfigError("member %s: port %d is out of range 1-65535" % (text, port))
    return "%s:%d" % (shown, port)


def is_localhost(address):
    host = address.rsplit(":", 1)[0].strip("[]").lower()
    return host == "localhost" or host.startswith("127.") or host == "::1"


def full_member(member):
    """A server member with every default filled in, as replSetGetConfig shows it."""
    out = {
        "_id": member["_id"],
        "host": member["host"],
        "arbiterOnly": bool(member.get("arbiterOnly", False)),
        "buildIndexes": bool(member.get("buildIndexes", True)),
        "hidden": bool(member.get("hidden", False)),
        "priority": member.get("priority", 0 if member.get("arbiterOnly") else 1),
        "tags": dict(member.get("tags") or {}),
        "secondaryDelaySecs": int(member.get("secondaryDelaySecs", member.get("slaveDelay", 0)) or 0),
        "votes": int(member.get("votes", 1)),
    }
    if member.get("horizons"):
        out["horizons"] = dict(member["horizons"])
    if member.get("newlyAdded"):
        out["newlyAdded"] = True
    return out


def _number(value, what):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError("%s must be a number, got %r" % (what, value))
    return value


def desired_members(declared, default_port=DEFAULT_PORT, allow_multiple_arbiters=False):
    """Declared members (module input) -> list of server members without ``_id``.

    Defaults follow the server, with one convenience: a member that can never be
    primary (arbiter, hidden, delayed, without indexes, or without a vote) gets
    priority 0 unless a priority is given, so that ``hidden: true`` alone is valid.
    Raises ConfigError for anything mongod would reject in a single member.
    """
    if not isinstance(declared, list) or not declared:
        raise ConfigError("members must be a non-empty list")
    out = []
    for index, given in enumerate(declared):
        item = {"host": given} if isinstance(given, str) else given
        if not isinstance(item, dict) or "host" not in item:
            raise ConfigError("members[%d] must be a host string or a dict with a host" % index)
        host = canonical_host(item["host"], default_port)
        label = "member %s" % host
        arbiter = bool(item.get("arbiter_only"))
        hidden = bool(item.get("hidden"))
        build_indexes = item.get("build_indexes")
        build_indexes = True if build_indexes is None else bool(build_indexes)
        delay = item.get("secondary_delay_secs")
        delay = 0 if delay is None else _number(delay, "%s: secondary_delay_secs" % label)
        if int(delay) != delay or not 0 <= delay <= MAX_SECONDARY_DELAY_SECS:
            raise ConfigError("%s: secondary_delay_secs must be a whole number of seconds from 0 to %d, got %r"
                              % (label, MAX_SECONDARY_DELAY_SECS, delay))
        votes = item.get("votes")
        votes = 1 if votes is None else _number(votes, "%s: votes" % label)
        if votes not in (0, 1):
            raise ConfigError("%s: votes must be 0 or 1, got %r" % (label, votes))
        never_primary = arbiter or hidden or delay or not build_indexes or votes == 0
        priority = item.get("priority")
        priority = (0 if never_primary else 1) if priority is None else _number(priority, "%s: priority" % label)
        if not 0 <= priority <= MAX_PRIORITY:
            raise ConfigError("%s: priority must be between 0 and %d, got %r" % (label, MAX_PRIORITY, priority))
        tags = item.get("tags") or {}
        if not isinstance(tags, dict):
            raise ConfigError("%s: tags must be a dict of strings" % label)
        for key, value in tags.items():
            if not isinstance(value, str):
                raise ConfigError("%s: tags.%s must be a string, got %r (mongod accepts only string tag values)"
                                  % (label, key, value))
        horizons = item.get("horizons")
        if arbiter:
            if votes == 0:
                raise ConfigError("%s: an arbiter must vote (votes: 0 is not allowed with arbiter_only)" % label)
            if priority != 0:
                raise ConfigError("%s: an arbiter has priority 0, got priority %r" % (label, priority))
            if tags:
                raise ConfigError("%s: mongod does not allow tags on arbiters" % label)
            if hidden or delay or item.get("build_indexes") is not None:
                raise ConfigError("%s: an arbiter holds no data, so hidden, secondary_delay_secs and build_indexes "
                                  "must not be set on it" % label)
        elif priority != 0:
            for broken, rule in ((votes == 0, "votes is 0"), (hidden, "hidden is true"),
                                 (delay, "secondary_delay_secs is %s" % delay),
                                 (not build_indexes, "build_indexes is false")):
                if broken:
                    raise ConfigError("%s: priority must be 0 when %s (mongod's rule), got priority %r"
                                      % (label, rule, priority))
        member = {
            "host": host,
            "arbiterOnly": arbiter,
            "buildIndexes": build_indexes,
            "hidden": hidden,
            "priority": priority,
            "tags": dict(tags),
            "secondaryDelaySecs": int(delay),
            "votes": int(votes),
        }
        if horizons:
            if not isinstance(horizons, dict) or not all(isinstance(v, str) for v in horizons.values()):
                raise ConfigError("%s: horizons must be a dict of horizon name to host:port" % label)
            member["horizons"] = dict(horizons)
        out.append(member)
    validate_members(out, allow_multiple_arbiters=allow_multiple_arbiters)
    return out


def validate_members(members, what="the declared set", allow_multiple_arbiters=False):
    """Whole-set rules (mongod's ReplSetConfig validation). ``newlyAdded`` members do not vote."""
    if not 1 <= len(members) <= MAX_MEMBERS:
        raise ConfigError("%s has %d members; a replica set has 1 to %d" % (what, len(members), MAX_MEMBERS))
    seen = {}
    for member in members:
        if member["host"] in seen:
            raise ConfigError("%s lists %s twice; every member needs its own host:port" % (what, member["host"]))
        seen[member["host"]] = True
    local = [m["host"] for m in members if is_localhost(m["host"])]
    if local and len(local) != len(members):
        raise ConfigError("%s mixes localhost addresses (%s) with others; mongod requires all members or none "
                          "to be localhost" % (what, ", ".join(local)))
    voters = [m["host"] for m in members if m["votes"] and not m.get("newlyAdded")]
    if not 1 <= len(voters) <= MAX_VOTERS:
        raise ConfigError("%s has %d voting members (%s); mongod requires 1 to %d"
                          % (what, len(voters), ", ".join(voters) or "none", MAX_VOTERS))
    arbiters = [m["host"] for m in members if m["arbiterOnly"]]
    if len(arbiters) > 1 and not allow_multiple_arbiters:
        raise ConfigError("%s has %d arbiters (%s); mongod 5.3+ refuses more than one unless every member runs with "
                          "setParameter allowMultipleArbiters=true (then set allow_multiple_arbiters: true)"
                          % (what, len(arbiters), ", ".join(arbiters)))
    if not any(m["priority"] > 0 and not m["arbiterOnly"] for m in members):
        raise ConfigError("%s has no member that can become primary; at least one data-bearing member needs "
                          "priority > 0" % what)
    horizon_names = {tuple(sorted(m.get("horizons", {}))) for m in members if not m["arbiterOnly"]}
    if len(horizon_names) > 1:
        raise ConfigError("%s: every member must declare the same horizon names" % what)


def desired_settings(declared):
    """Module ``settings`` (snake_case) -> server settings, only the keys given."""
    out = {}
    names = dict(SETTINGS)
    for key, given in (declared or {}).items():
        value = given
        if value is None:
            continue
        if key not in names:
            raise ConfigError("settings.%s is not a setting this module manages; use one of %s"
                              % (key, ", ".join(sorted(names))))
        server_key = names[key]
        if key == "chaining_allowed":
            if not isinstance(value, bool):
                raise ConfigError("settings.chaining_allowed must be true or false, got %r" % (value,))
        elif key == "get_last_error_modes":
            if not isinstance(value, dict):
                raise ConfigError("settings.get_last_error_modes must be a dict of mode name to {tag: count}")
        else:
            value = _number(value, "settings.%s" % key)
            low = -1 if key.startswith("catch_up") else 1
            if value < low or int(value) != value:
                raise ConfigError("settings.%s must be a whole number of at least %d, got %r" % (key, low, value))
            value = int(value)
        out[server_key] = value
    return out


def majority(members):
    voters = sum(1 for m in members if m["votes"] and not m.get("newlyAdded"))
    return voters // 2 + 1


def writable_voters(members):
    return sum(1 for m in members if m["votes"] and not m.get("newlyAdded") and not m["arbiterOnly"])


def implicit_write_concern_is_majority(members):
    """mongod 5.0+: the implicit default write concern is w:1 only with arbiters and few writable voters."""
    if not any(m["arbiterOnly"] for m in members):
        return True
    return writable_voters(members) > majority(members)


def voters(members):
    return {m["_id"] for m in members if m["votes"] and not m.get("newlyAdded")}


def electable(member):
    return member["priority"] > 0 and not member["arbiterOnly"] and not member.get("newlyAdded")


def comparable(member):
    """What is compared for idempotency: content, not ``_id``, ``newlyAdded`` or order."""
    out = {key: member.get(key) for key in COMPARED_FIELDS}
    out["tags"] = dict(member.get("tags") or {})
    if member.get("horizons"):
        out["horizons"] = dict(member["horizons"])
    return out


def member_differences(live, wanted):
    """Fields of ``live`` that differ from ``wanted`` (server spelling), as {field: (live, wanted)}."""
    current = comparable(live)
    target = comparable(wanted)
    diff = {}
    for key in COMPARED_FIELDS + ("horizons",):
        if key == "horizons" and "horizons" not in wanted:
            continue
        if current.get(key) != target.get(key):
            diff[key] = (current.get(key), target.get(key))
    return diff


def settings_differences(live_settings, wanted_settings):
    live_settings = live_settings or {}
    return {key: (live_settings.get(key), value) for key, value in wanted_settings.items()
            if live_settings.get(key) != value}


def config_matches(config, members, settings):
    """True when the live ``config`` already has the declared members and settings."""
    live = {m["host"].lower(): full_member(m) for m in config["members"]}
    if set(live) != {m["host"] for m in members}:
        return False
    if any(member_differences(live[m["host"]], m) for m in members):
        return False
    return not settings_differences(config.get("settings"), settings)


def ordered_member(member):
    """A member document with the fields in replSetGetConfig's order, without ``newlyAdded``."""
    out = {}
    for key in MEMBER_FIELD_ORDER:
        if key in member:
            out[key] = copy.deepcopy(member[key])
    return out


def config_document(name, version, members, settings=None, base=None):
    """The document to send with replSetInitiate / replSetReconfig."""
    doc = {"_id": name, "version": version}
    if base:
        for key in ("protocolVersion", "writeConcernMajorityJournalDefault"):
            if key in base:
                doc[key] = base[key]
    doc["members"] = [ordered_member(m) for m in members]
    merged = dict((base or {}).get("settings") or {})
    merged.update(settings or {})
    if merged:
        doc["settings"] = merged
    return doc


def normalised_config(config):
    """A live config in the shape compared and shown in diffs: defaults filled, term dropped."""
    out = {"_id": config.get("_id"), "version": config.get("version")}
    out["members"] = [full_member(m) for m in config.get("members", [])]
    if config.get("settings"):
        out["settings"] = copy.deepcopy(config["settings"])
    return out
