# -*- coding: utf-8 -*-
# Copyright: quorum.mongodb contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Replica-set configurations as data: the rule book, normalisation, comparison. Pure code.

The rule book is ``check_declaration``: it lists every problem of a declaration
(members, settings, default write concern, the module's numeric options) at
once, each a :class:`Problem` naming the member, the option and the rule. The
module (through ``desired_members``/``desired_settings``/``desired_declaration``)
and the role's preflight (the ``replicaset_member_problems`` filter, which only
reads the inventory and renders the problems with its variable names) both use
it, so they cannot disagree. The options themselves, their types and ranges, are
the table in replicaset_schema.

The rules are mongod's own (replica-set config validation, MongoDB 7.0/8.0:
src/mongo/db/repl/member_config.cpp, repl_set_config.cpp ``_validate``,
split_horizon/split_horizon.cpp, repl_set_write_concern_mode_definitions.cpp,
read_write_concern_defaults.cpp, util/net/hostandport.cpp), so that a
declaration the server would reject fails here, before anything is sent to any
server. A few are stricter than mongod, to refuse what is surely a mistake: an
arbiter that sets a data option (hidden, secondary_delay_secs, build_indexes) or
priority 1 (mongod silently turns an arbiter's priority 1 into 0), and a host
that is not a name, an IPv4 address or a bracketed IPv6 address. One rule is
policy, asked for by the role's preflight only: an odd number of voters.

mongod's horizon rules, followed here: every member, arbiters included, declares
the same horizon names (repl_set_config.cpp compares each member's names with
the first member's); a horizon name is not empty or ``__default``; a horizon
address is ``host[:port]``, not an IP address (refused for a client's
reconfig); within a member no two horizons (nor the member's own host) share a
host name; no host:port appears twice across all members and horizons.

Vocabulary: a *member* here is a dict in the server's spelling (``_id``, ``host``,
``arbiterOnly``, ``buildIndexes``, ``hidden``, ``priority``, ``secondaryDelaySecs``,
``tags``, ``votes``, optionally ``horizons`` and ``newlyAdded``); a *declared
member* is the module's snake_case input.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import re

from ansible_collections.quorum.mongodb.plugins.module_utils.replicaset_schema import (
    MEMBER_OPTION,
    MEMBER_SCHEMA,
    MODULE_OPTION,
    SETTING,
    WRITE_CONCERN_KEY,
)

MAX_MEMBERS = 50
MAX_VOTERS = 7
DEFAULT_PORT = 27017

# Fields compared between the declared and the live member. ``horizons`` only
# when declared (see desired_members).
COMPARED_FIELDS = ("arbiterOnly", "buildIndexes", "hidden", "priority", "secondaryDelaySecs", "tags", "votes")
MEMBER_FIELD_ORDER = ("_id", "host", "arbiterOnly", "buildIndexes", "hidden", "priority", "tags",
                      "secondaryDelaySecs", "votes", "horizons")

_PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_.]*)\}")
_LABEL = re.compile(r"^[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$")
_DIGITS = re.compile(r"^[0-9]+$")


class Problem(object):
    """One broken rule: ``kind`` (a short name of the rule), the member (an index into the declared
    list, or None for set-wide and option problems), ``members`` (indexes a set-wide rule is about),
    ``option`` (the option, in the module's spelling: ``priority``, ``settings.heartbeat_timeout_secs``,
    ``wait_timeout``, ...) and the rule's text.

    The text is a template: ``{option}`` names an option and ``{set}``/``{members}`` the set and
    the members concerned, so that the module and the inventory's preflight each show their own
    names (:meth:`render`); user values are already in it, quoted.
    """

    __slots__ = ("kind", "member", "members", "option", "template", "values")

    def __init__(self, kind, template, values=(), member=None, members=(), option=None):
        self.kind = kind
        self.template = template
        self.values = tuple(values)
        self.member = member
        self.members = tuple(members)
        self.option = option

    def render(self, name=None, label=None, group="the declared set", noun="member"):
        """The message: ``name(option, member)`` shows an option, ``label(index)`` a member (``noun``
        before it when the problem is one member's: "member db2:27017: ...")."""
        name = name or (lambda option, member: option)
        label = label or (lambda index: "members[%d]" % index)

        def replace(match):
            key = match.group(1)
            if key == "set":
                shown = group
            elif key == "members":
                shown = ", ".join(label(index) for index in self.members)
            else:
                shown = name(key, self.member)
            return shown.replace("%", "%%")
        text = _PLACEHOLDER.sub(replace, self.template)
        if self.values:
            text = text % self.values
        else:
            text = text.replace("%%", "%")
        if self.member is not None:
            text = "%s %s: %s" % (noun, label(self.member), text)
        return text

    def __repr__(self):
        return "Problem(%r, member=%r, option=%r)" % (self.kind, self.member, self.option)


class ConfigError(Exception):
    """A declaration or config that mongod would reject; the message names the member and the rule.

    ``problems`` holds every :class:`Problem` found (empty when raised with a message only) and
    ``messages`` each one's text, as joined in the message.
    """

    def __init__(self, message, problems=(), messages=None):
        Exception.__init__(self, message)
        self.problems = list(problems)
        self.messages = list(messages) if messages is not None else [message]


class Declaration(object):
    """What check_declaration found: ``members`` (server spelling, without ``_id``), ``settings``
    (server spelling, only the keys given), ``problems`` and ``labels`` (how the module names each
    declared member: its ``host:port``, or the host as given when that is unusable)."""

    def __init__(self):
        self.members = []
        self.settings = {}
        self.problems = []
        self.labels = []

    def add(self, kind, template, *values, **where):
        self.problems.append(Problem(kind, template, tuple(_fmt(v) for v in values), **where))

    def label(self, index):
        return self.labels[index] if index < len(self.labels) else "#%d" % index

    def messages(self, group="the declared set"):
        return [p.render(label=self.label, group=group) for p in self.problems]

    def error(self, prefix=""):
        messages = self.messages()
        return ConfigError(prefix + "; ".join(messages), self.problems, messages)


class _Raw(object):
    """A name (an option key, a mode, a tag) shown as it is, not quoted like a value."""

    __slots__ = ("text",)

    def __init__(self, text):
        self.text = str(text)


def _fmt(value):
    """How a value given by the user appears in a message: numbers as they are, the rest quoted."""
    if isinstance(value, _Raw):
        return value.text
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return repr(value)


# ---------------------------------------------------------------- hosts


def _is_ipv4(text):
    parts = text.split(".")
    return len(parts) == 4 and all(_DIGITS.match(p) and int(p) <= 255 and (p == "0" or not p.startswith("0"))
                                   for p in parts)


def _is_ipv6(text):
    if not text or not re.match(r"^[0-9A-Fa-f:.]+$", text) or text.count("::") > 1:
        return False
    head, _sep, tail = text.rpartition(":")
    groups = text.split(":")
    if "." in tail:
        if not _is_ipv4(tail):
            return False
        groups = head.split(":") + ["0", "0"]
    if "::" in text:
        filled = [g for g in groups if g != ""]
        return len(filled) <= 7 and all(len(g) <= 4 for g in filled)
    return len(groups) == 8 and all(1 <= len(g) <= 4 for g in groups)


def _name_rule(name):
    """Why ``name`` is not a host name or an IPv4 address, or None."""
    if not name:
        return "the host part is empty"
    if re.search(r"\s", name):
        return "it contains a space"
    labels = name.split(".")
    if all(_DIGITS.match(part) for part in labels if part) and not _is_ipv4(name):
        return "it looks like an IPv4 address but is not one (four numbers 0-255)"
    if len(name) > 253 or not all(_LABEL.match(part) for part in labels):
        return ("it is not a host name (letters, digits, '-' and '_' in dot-separated labels of at most 63 "
                "characters) nor an IPv4 address")
    return None


def _split_address(text):
    """``(host, shown host, port text or None, rule)``: the pieces of ``host[:port]``; rule is why not."""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            return None, None, None, "unbalanced '[' in the address"
        host, rest = text[1:end], text[end + 1:]
        if rest and not rest.startswith(":"):
            return None, None, None, "expected ':port' after ']'"
        if not _is_ipv6(host):
            return None, None, None, "the part in brackets is not an IPv6 address"
        return host, "[%s]" % host.lower(), (rest[1:] if rest else None), None
    if text.count(":") > 1:
        return None, None, None, "more than one ':' in the address; an IPv6 address needs [brackets]"
    host, sep, port_text = text.partition(":")
    rule = _name_rule(host)
    if rule:
        return None, None, None, rule
    return host, host.lower(), (port_text if sep else None), None


def _port_rule(port):
    if isinstance(port, bool) or not isinstance(port, int):
        return "the port must be a number"
    if not 1 <= port <= 65535:
        return "port %d is out of range 1-65535" % port
    return None


def address_problems(address, default_port=DEFAULT_PORT):
    """``(canonical "host:port" or None, rule or None)`` for a ``host[:port]`` text."""
    if not isinstance(address, str) or not address.strip():
        return None, "the host is empty; give host or host:port"
    text = address.strip()
    _host, shown, port_text, rule = _split_address(text)
    if rule:
        return None, rule
    if port_text is None:
        port = default_port
    elif not _DIGITS.match(port_text):
        return None, "the port must be a number"
    else:
        port = int(port_text)
    rule = _port_rule(port)
    if rule:
        return None, rule
    return "%s:%d" % (shown, port), None


def canonical_host(address, default_port=DEFAULT_PORT):
    """"host:port" with the host lower-cased and the port filled in; raise ConfigError when malformed."""
    canonical, rule = address_problems(address, default_port)
    if rule:
        if not isinstance(address, str) or not address.strip():
            raise ConfigError("a member has an empty host; give host or host:port")
        raise ConfigError("member %s: %s" % (address.strip(), rule))
    return canonical


def is_localhost(address):
    host = address.rsplit(":", 1)[0].strip("[]").lower()
    return host == "localhost" or host.startswith("127.") or host == "::1"


def _host_of(address):
    return address.rsplit(":", 1)[0]


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


# ---------------------------------------------------------------- values


_TYPE_WORDS = {"bool": "true or false", "int": "a whole number", "float": "a number", "dict": "a dictionary",
               "str": "a string"}


def type_ok(kind, value):
    """Whether ``value`` has the table's type ``kind`` (after Ansible's conversion of the input)."""
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "float":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "dict":
        return isinstance(value, dict)
    if kind == "str":
        return isinstance(value, str)
    return True


def _range_rule(row, value):
    """The rule ``value`` breaks for the row's range or choices, or None."""
    if row.choices is not None and value not in row.choices:
        return "must be %s" % " or ".join(str(c) for c in row.choices)
    low, high = row.minimum, row.maximum
    if (low is not None and value < low) or (high is not None and value > high):
        if high is None:
            return "must be at least %d" % low
        return "must be from %s to %s" % (low, high)
    return None


def _value(decl, row, given, option, member=None):
    """Check one value against its row; return it, or None when it is unset or broken (a problem is added)."""
    if given is None:
        return None
    if not type_ok(row.type, given):
        decl.add("type", "{%s} must be %s, got %%s" % (option, _TYPE_WORDS[row.type]), given,
                 member=member, option=option)
        return None
    if row.type in ("int", "float"):
        rule = _range_rule(row, given)
        if rule:
            decl.add("range", "{%s} %s, got %%s" % (option, rule), given, member=member, option=option)
            return None
    return given


def default_priority(arbiter_only=False, hidden=False, secondary_delay_secs=0, build_indexes=True, votes=1):
    """The priority of a member that sets none: 1, or 0 when it can never be primary.

    mongod's default is 1, but it refuses priority > 0 for an arbiter, a hidden or delayed member,
    one without index builds and one without a vote, so those get 0 and ``hidden: true`` alone is a
    valid declaration. This is the only place the default is decided.
    """
    never_primary = arbiter_only or hidden or bool(secondary_delay_secs) or not build_indexes or votes == 0
    return 0 if never_primary else 1


# ---------------------------------------------------------------- members


def _member(decl, index, given, default_port):
    """Check one declared member; return the server-spelling member (None when its host is unusable)."""
    item = {"host": given} if isinstance(given, str) else given
    if not isinstance(item, dict) or item.get("host") is None:
        decl.labels.append("#%d" % index)
        decl.add("member-shape", "members[%d] must be a host string or a dict with a host" % index)
        return None
    raw_host = item["host"]
    port = item.get("port")
    if "port" in item:
        # The inventory's form: a host without a port, the port in its own variable.
        address, host_rule = _inventory_address(decl, index, raw_host, port)
    else:
        address, host_rule = address_problems(raw_host, default_port)
    label_host = address or (raw_host.strip() if isinstance(raw_host, str) else repr(raw_host))
    decl.labels.append(label_host)
    if host_rule:
        decl.add("host", "{host} %%s: %s" % host_rule, raw_host, member=index, option="host")
    for key in sorted((k for k in item if k not in MEMBER_OPTION and k != "port"), key=str):
        decl.add("unknown-option", "%s is not a member option; use one of %s", _Raw(key),
                 _Raw(", ".join(sorted(MEMBER_OPTION))), member=index, option="members")

    values = {}
    for row in MEMBER_SCHEMA[1:]:
        values[row.name] = _value(decl, row, item.get(row.name), row.name, member=index)
    arbiter = bool(values["arbiter_only"])
    hidden = bool(values["hidden"])
    build_indexes = True if values["build_indexes"] is None else values["build_indexes"]
    delay = values["secondary_delay_secs"] or 0
    votes = 1 if values["votes"] is None else values["votes"]
    priority = values["priority"]
    if priority is None:
        priority = default_priority(arbiter, hidden, delay, build_indexes, votes)
    tags = values["tags"] or {}
    for key in sorted(tags, key=str):
        if not isinstance(tags[key], str):
            decl.add("tag-value", "{tags}.%s must be a string, got %s (mongod accepts only string tag values)",
                     _Raw(key), tags[key], member=index, option="tags")
    if arbiter:
        if votes == 0 and values["votes"] is not None:
            decl.add("arbiter-votes", "an arbiter must vote: {votes} must be 1 or unset with {arbiter_only}",
                     member=index, option="votes")
        if values["priority"] is not None and priority != 0:
            decl.add("arbiter-priority", "an arbiter has priority 0: {priority} must be 0 or unset, got %s",
                     priority, member=index, option="priority")
        if tags:
            decl.add("arbiter-tags", "mongod does not allow tags on arbiters: unset {tags}",
                     member=index, option="tags")
        for option, is_set in (("hidden", hidden), ("secondary_delay_secs", bool(delay)),
                               ("build_indexes", values["build_indexes"] is not None)):
            if is_set:
                decl.add("arbiter-data-option", "an arbiter holds no data: unset {%s} on it" % option,
                         member=index, option=option)
    elif priority != 0:
        for kind, broken, rule in (("priority-votes", votes == 0, "{votes} is 0"),
                                   ("priority-hidden", hidden, "{hidden} is true"),
                                   ("priority-delay", bool(delay), "{secondary_delay_secs} is set"),
                                   ("priority-build-indexes", not build_indexes, "{build_indexes} is false")):
            if broken:
                decl.add(kind, "{priority} must be 0 (or unset) when %s (mongod's rule), got %%s" % rule,
                         priority, member=index, option="priority")
    member = {
        "host": address,
        "arbiterOnly": arbiter,
        "buildIndexes": build_indexes,
        "hidden": hidden,
        "priority": priority,
        "tags": dict(tags),
        "secondaryDelaySecs": int(delay),
        "votes": int(votes),
    }
    horizons = values["horizons"]
    if horizons:
        member["horizons"] = _horizons(decl, index, horizons, address)
    return member


def _inventory_address(decl, index, name, port):
    """The inventory gives host and port apart: the host must not carry a port of its own."""
    if not isinstance(name, str) or not name.strip():
        return None, "is empty"
    text = name.strip()
    if text.startswith("[") and text.endswith("]") and _is_ipv6(text[1:-1]):
        shown = text.lower()
    elif _is_ipv6(text):
        shown = "[%s]" % text.lower()
    else:
        host, _shown_host, port_text, rule = _split_address(text)
        if rule:
            return None, rule
        if port_text is not None:
            decl.add("host-port", "{host} %s carries a port; give the host alone and the port in {port}",
                     text, member=index, option="host")
            return None, None
        shown = host.lower()
    rule = _port_rule(port)
    if rule:
        shown = "must be a number" if "number" in rule else "is out of range"
        decl.add("port", "{port} %s (1 to 65535), got %%s" % shown, port, member=index, option="port")
        return None, None
    return "%s:%d" % (shown, port), None


def _horizons(decl, index, horizons, address):
    """Check one member's horizons (split_horizon.cpp); return them as given."""
    seen_hosts = {_host_of(address).lower(): "the member's host"} if address else {}
    for name in sorted(horizons, key=str):
        value = horizons[name]
        if not isinstance(name, str) or not name or name == "__default":
            decl.add("horizon", "{horizons}: a horizon name must not be empty or __default, got %s", name,
                     member=index, option="horizons")
            continue
        if not isinstance(value, str):
            decl.add("horizon", "{horizons}.%s must be a host:port string, got %s", _Raw(name), value,
                     member=index, option="horizons")
            continue
        canonical, rule = address_problems(value)
        if rule:
            decl.add("horizon", "{horizons}.%s %s: %s", _Raw(name), value, _Raw(rule), member=index,
                     option="horizons")
            continue
        host = _host_of(canonical)
        if _is_ipv4(host) or host.startswith("["):
            decl.add("horizon", "{horizons}.%s is an IP address (%s); mongod accepts only host names in horizons",
                     _Raw(name), value, member=index, option="horizons")
        elif host in seen_hosts:
            decl.add("horizon", "{horizons}.%s uses the host name %s of %s; each horizon of a member needs its "
                     "own host name", _Raw(name), host, _Raw(seen_hosts[host]), member=index, option="horizons")
        seen_hosts[host] = "horizon %s" % name
    return dict(horizons)


def set_problems(members, allow_multiple_arbiters=False, odd_voters=False, indexes=None):
    """Whole-set rules (mongod's ReplSetConfig validation) on server-spelling members, as Problems.

    ``newlyAdded`` members do not vote. ``indexes`` maps each member to its index in the declared
    list (default: its position). ``odd_voters`` adds the preflight's policy: an odd number of voters.
    """
    indexes = list(range(len(members))) if indexes is None else list(indexes)
    found = []

    def add(kind, template, values=(), involved=(), option=None):
        found.append(Problem(kind, template, tuple(str(v) for v in values), members=involved, option=option))
    if not members:
        add("count", "{set} has no members: declare at least one (three for a production set)", option="members")
        return found
    if len(members) > MAX_MEMBERS:
        add("count", "{set} has %s members; a replica set has 1 to %s", (len(members), MAX_MEMBERS),
            option="members")
    first = {}
    for position, member in enumerate(members):
        if member["host"] is None:
            continue  # its host is already a problem; the rules about hosts skip it
        key = member["host"].lower()
        if key in first:
            add("duplicate-host", "{set} lists %s twice ({members}); every member needs its own host and port",
                (member["host"],), (indexes[first[key]], indexes[position]), option="host")
        else:
            first[key] = position
    hosted = [m for m in members if m["host"] is not None]
    repeated = [m["host"].lower() for m in hosted]
    first_hosts = {h for h in repeated if repeated.count(h) > 1}  # already reported as duplicate-host
    local = [indexes[p] for p, m in enumerate(members) if m["host"] is not None and is_localhost(m["host"])]
    if local and len(local) != len(hosted):
        add("localhost-mix", "{set} mixes localhost addresses ({members}) with others; mongod requires all members "
            "or none to be localhost: give them a {host} the other members reach", involved=local, option="host")
    voting = [indexes[p] for p, m in enumerate(members) if m["votes"] and not m.get("newlyAdded")]
    if not 1 <= len(voting) <= MAX_VOTERS:
        extra = " ({members})" if voting else ""
        add("voters", "{set} has %%s voting members%s; mongod requires 1 to %%s: set {votes} to 0 (and {priority} "
            "to 0) on some, or 1 on one" % extra, (len(voting), MAX_VOTERS), voting, option="votes")
    elif odd_voters and len(voting) % 2 == 0:
        add("even-voters", "{set} has %s voting members ({members}); the number of voting members must be odd (1, 3, "
            "5 or 7) so that a majority survives a split: add a member or an arbiter, or set {votes} to 0 (and "
            "{priority} to 0) on one", (len(voting),), voting, option="votes")
    arbiters = [indexes[p] for p, m in enumerate(members) if m["arbiterOnly"]]
    if len(arbiters) > 1 and not allow_multiple_arbiters:
        add("arbiters", "{set} has %s arbiters ({members}); mongod 5.3+ refuses more than one unless every member "
            "runs with setParameter allowMultipleArbiters=true (then set {allow_multiple_arbiters} to true)",
            (len(arbiters),), arbiters, option="arbiter_only")
    if not any(m["priority"] > 0 and not m["arbiterOnly"] for m in members):
        add("no-primary", "{set} has no member that can become primary; at least one member that is not an "
            "arbiter needs a {priority} above 0 (and so a vote, no hidden, no delay, index builds)",
            option="priority")
    names = [tuple(sorted(m.get("horizons") or {})) for m in members]
    differing = [indexes[p] for p, n in enumerate(names) if n != names[0]]
    if differing:
        add("horizon-names", "{set}: every member, arbiters too, must declare the same horizon names in {horizons} "
            "as %s (%s); these differ: {members}", (members[0]["host"] or "the first member",
                                                    ", ".join(names[0]) or "none"),
            differing, option="horizons")
    elif any(m.get("horizons") for m in members):
        counts = {}
        for position, member in enumerate(members):
            hosts = [member["host"]] if member["host"] is not None else []
            for address in hosts + sorted(v for v in (member.get("horizons") or {}).values() if isinstance(v, str)):
                canonical = address_problems(address)[0] or address
                counts.setdefault(canonical, []).append(indexes[position])
        for address in sorted(counts):
            if len(counts[address]) > 1 and len(set(counts[address])) > 1 and address not in first_hosts:
                add("horizon-duplicate", "{set}: %s appears more than once across the members' hosts and "
                    "{horizons} ({members})", (address,), sorted(set(counts[address])), option="horizons")
    return found


def validate_members(members, what="the declared set", allow_multiple_arbiters=False):
    """Whole-set rules (mongod's ReplSetConfig validation). ``newlyAdded`` members do not vote.

    Raises ConfigError carrying every problem.
    """
    found = set_problems(members, allow_multiple_arbiters=allow_multiple_arbiters)
    if found:
        labels = [m["host"] for m in members]
        messages = [p.render(label=lambda i: labels[i], group=what) for p in found]
        raise ConfigError("; ".join(messages), found, messages)


# ---------------------------------------------------------------- settings and options


def _settings(decl, declared, members):
    if declared is None:
        return {}
    if not isinstance(declared, dict):
        decl.add("type", "{settings} must be a dictionary, got %s", declared, option="settings")
        return {}
    out = {}
    for key in sorted(declared, key=str):
        given = declared[key]
        option = "settings.%s" % key
        if key not in SETTING:
            decl.add("unknown-setting", "{settings}.%s is not a setting this module manages; use one of %s",
                     _Raw(key), _Raw(", ".join(sorted(SETTING))), option="settings")
            continue
        row = SETTING[key]
        value = _value(decl, row, given, option)
        if value is None:
            continue
        if key == "get_last_error_modes":
            value = _write_concern_modes(decl, value, members)
            if value is None:
                continue
        out[row.field] = value
    return out


def _write_concern_modes(decl, modes, members):
    """settings.get_last_error_modes (repl_set_write_concern_mode_definitions.cpp)."""
    option = "settings.get_last_error_modes"
    used = set()
    for member in members or []:
        if member is not None:
            used.update(member.get("tags") or {})
    broken = False
    for mode in sorted(modes, key=str):
        constraints = modes[mode]
        if not isinstance(constraints, dict):
            decl.add("write-concern-mode", "{%s}.%%s must be a dictionary of tag name to count, got %%s" % option,
                     _Raw(mode), constraints, option=option)
            broken = True
            continue
        for tag in sorted(constraints, key=str):
            count = constraints[tag]
            if isinstance(count, bool) or not isinstance(count, int) or count < 1:
                decl.add("write-concern-mode", "{%s}.%%s.%%s must be a whole number of at least 1, got %%s" % option,
                         _Raw(mode), _Raw(tag), count, option=option)
                broken = True
            elif members is not None and tag not in used:
                decl.add("write-concern-mode", "{%s}.%%s counts the tag %%s, which no member has in {tags}" % option,
                         _Raw(mode), _Raw(tag), option=option)
                broken = True
    return None if broken else dict(modes)


def _write_concern(decl, given, modes):
    """default_write_concern: setDefaultRWConcern's defaultWriteConcern (read_write_concern_defaults.cpp)."""
    option = "default_write_concern"
    if given is None or given == {}:
        return
    if not isinstance(given, dict):
        decl.add("type", "{%s} must be a dictionary with w, and optionally wtimeout and j, got %%s" % option,
                 given, option=option)
        return
    for key in sorted(given, key=str):
        if key not in WRITE_CONCERN_KEY:
            decl.add("unknown-write-concern-key", "{%s}.%%s is not a write concern field; use w, wtimeout, j"
                     % option, _Raw(key), option=option)
    if "w" not in given:
        decl.add("write-concern-w", "{%s} needs w (mongod refuses a default write concern without it)" % option,
                 option=option + ".w")
    else:
        w = given["w"]
        if isinstance(w, bool) or not isinstance(w, (int, str)):
            decl.add("write-concern-w", '{%s.w} must be a whole number, "majority" or a mode of {settings}.'
                     "get_last_error_modes, got %%s" % option, w, option=option + ".w")
        elif isinstance(w, int) and w < 1:
            decl.add("write-concern-w", "{%s.w} must be at least 1: mongod refuses an unacknowledged (w: 0) default"
                     " write concern, got %%s" % option, w, option=option + ".w")
        elif isinstance(w, str) and w != "majority" and w not in (modes or {}):
            decl.add("write-concern-w", '{%s.w} must be a whole number, "majority" or a mode declared in '
                     "{settings}.get_last_error_modes, got %%s" % option, w, option=option + ".w")
    for key in ("wtimeout", "j"):
        if given.get(key) is not None:
            _value(decl, WRITE_CONCERN_KEY[key], given[key], "%s.%s" % (option, key))


def check_declaration(members, settings=None, default_write_concern=None, wait_timeout=None, step_down_secs=None,
                      default_port=DEFAULT_PORT, allow_multiple_arbiters=False, odd_voters=False):
    """The rule book: every problem of a declaration, at once, as a :class:`Declaration`.

    ``members`` is the module's list (host strings or dicts of member options; a dict may give
    ``port`` apart from ``host``, as the inventory does, and then ``host`` must not carry one);
    ``settings`` the module's settings; the others the module's options of those names (None:
    not given). ``odd_voters`` is the role's preflight policy. Values must already have the table's
    types (Ansible converts the module's input; the preflight filter converts the inventory's the
    same way); a value of another type is a problem.
    """
    decl = Declaration()
    if not isinstance(members, list):
        decl.add("type", "{members} must be a list of members, got %s", members, option="members")
        members = []
    built = [_member(decl, index, given, default_port) for index, given in enumerate(members)]
    usable = [(index, m) for index, m in enumerate(built) if m is not None]
    decl.problems.extend(set_problems([m for _i, m in usable], allow_multiple_arbiters=allow_multiple_arbiters,
                                      odd_voters=odd_voters, indexes=[i for i, _m in usable])
                         if usable or not members else [])
    decl.members = [m for m in built if m is not None]
    decl.settings = _settings(decl, settings, built)
    modes = settings.get("get_last_error_modes") if isinstance(settings, dict) else None
    _write_concern(decl, default_write_concern, modes if isinstance(modes, dict) else None)
    for name, given in (("wait_timeout", wait_timeout), ("step_down_secs", step_down_secs)):
        _value(decl, MODULE_OPTION[name], given, name)
    return decl


def desired_members(declared, default_port=DEFAULT_PORT, allow_multiple_arbiters=False):
    """Declared members (module input) -> list of server members without ``_id``.

    Defaults follow the server, with one convenience (default_priority): a member that can never be
    primary gets priority 0 unless a priority is given, so that ``hidden: true`` alone is valid.
    Raises ConfigError carrying every problem mongod would reject (see check_declaration).
    """
    decl = check_declaration(declared, default_port=default_port, allow_multiple_arbiters=allow_multiple_arbiters)
    if decl.problems:
        raise decl.error()
    return decl.members


def desired_settings(declared):
    """Module ``settings`` (snake_case) -> server settings, only the keys given; ConfigError with every problem."""
    decl = Declaration()
    out = _settings(decl, declared, None)
    if decl.problems:
        raise decl.error()
    return out


def desired_declaration(params):
    """The module's parameters -> ``(members, settings)``, or ConfigError carrying every problem of
    members, settings, default_write_concern, wait_timeout and step_down_secs at once."""
    decl = check_declaration(params.get("members"), settings=params.get("settings"),
                             default_write_concern=params.get("default_write_concern"),
                             wait_timeout=params.get("wait_timeout"), step_down_secs=params.get("step_down_secs"),
                             allow_multiple_arbiters=bool(params.get("allow_multiple_arbiters")))
    if decl.problems:
        raise decl.error()
    return decl.members, decl.settings


# ---------------------------------------------------------------- counting and comparing


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
    """mongod's "electable" count in config validation: not an arbiter, priority above 0 (and not newlyAdded).

    It does not look at votes, hidden, delay or buildIndexes, which a valid member with priority > 0
    cannot have anyway; can_become_primary checks them all.
    """
    return member["priority"] > 0 and not member["arbiterOnly"] and not member.get("newlyAdded")


def can_become_primary(member):
    """Whether the member may be elected: electable() and a vote, not hidden, not delayed, building indexes."""
    return (electable(member) and bool(member.get("votes", 1)) and not member.get("hidden")
            and not member.get("secondaryDelaySecs") and member.get("buildIndexes", True) is not False)


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
