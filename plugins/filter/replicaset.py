# -*- coding: utf-8 -*-
# Copyright: quorum.mongodb contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Filters that turn inventory hosts into replica-set members.

The replicaset role declares its members in the inventory: every host of a group
is a member, and per-host variables (``replicaset_member_*``) carry the member
options. These filters read those variables from ``hostvars`` so that

* ``replicaset_members`` gives the member list in the shape the
  ``quorum.mongodb.replicaset`` module takes;
* ``replicaset_member_addresses`` maps each inventory host to its ``host:port``;
* ``replicaset_member_problems`` lists every rule the declaration breaks, each
  message naming the host, the variable and the valid values, so a preflight
  check (ansible.builtin.assert) can stop before any host is touched;
* ``replicaset_preferred_host`` picks the host to initiate from: the electable
  member with the highest priority;
* ``replicaset_restart_order`` orders hosts for a rolling restart: every member
  that is not primary first, the primary last;
* ``replicaset_status_table`` turns quorum.mongodb.replicaset_info's result into
  the member table that playbooks/status.yml prints.

They are pure functions of their arguments (no connection, no I/O) and are
unit-tested in tests/unit/plugins/filter/.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible.module_utils.parsing.convert_bool import BOOLEANS_FALSE, BOOLEANS_TRUE

DEFAULT_PORT = 27017
MAX_MEMBERS = 50
MAX_VOTING_MEMBERS = 7
MAX_PRIORITY = 1000
MAX_SECONDARY_DELAY_SECS = 31622400

# Per-host variable -> module option. Only options a host sets are passed on,
# so the module (and the server) apply their own defaults to the rest.
MEMBER_VARIABLES = (
    ("replicaset_member_priority", "priority"),
    ("replicaset_member_votes", "votes"),
    ("replicaset_member_hidden", "hidden"),
    ("replicaset_member_arbiter_only", "arbiter_only"),
    ("replicaset_member_build_indexes", "build_indexes"),
    ("replicaset_member_secondary_delay_secs", "secondary_delay_secs"),
    ("replicaset_member_tags", "tags"),
    ("replicaset_member_horizons", "horizons"),
)
VARIABLE_OF = {option: variable for variable, option in MEMBER_VARIABLES}


class _Invalid(Exception):
    """A per-host variable that cannot be read as its type."""


def _is_set(value):
    return value is not None and not (isinstance(value, str) and value.strip() == "")


def _as_bool(value):
    if isinstance(value, bool):
        return value
    normalised = str(value).strip().lower()
    if normalised in BOOLEANS_TRUE:
        return True
    if normalised in BOOLEANS_FALSE:
        return False
    raise _Invalid("must be true or false")


def _as_int(value):
    if isinstance(value, bool):
        raise _Invalid("must be an integer")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise _Invalid("must be an integer") from None
    if number != int(number):
        raise _Invalid("must be an integer")
    return int(number)


def _as_number(value):
    if isinstance(value, bool):
        raise _Invalid("must be a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise _Invalid("must be a number") from None
    return int(number) if number == int(number) else number


def _as_string_dict(value):
    if not isinstance(value, dict):
        raise _Invalid("must be a dictionary of strings")
    for key, item in value.items():
        if not isinstance(item, str):
            raise _Invalid("must be a dictionary of strings (%s is not a string)" % key)
    return dict(value)


CONVERTERS = {
    "priority": _as_number,
    "votes": _as_int,
    "hidden": _as_bool,
    "arbiter_only": _as_bool,
    "build_indexes": _as_bool,
    "secondary_delay_secs": _as_int,
    "tags": _as_string_dict,
    "horizons": _as_string_dict,
}


def _get(hostvars, host):
    try:
        return hostvars[host]
    except KeyError:
        raise AnsibleFilterError("replicaset filters: host %r is not in hostvars" % host) from None


def _address(host, variables, default_port):
    """Return ``(address, problems)`` for one host: ``host:port`` as the set sees it."""
    problems = []
    name = variables.get("replicaset_member_host")
    if not _is_set(name):
        name = host
    name = str(name).strip()
    port = variables.get("replicaset_member_port")
    port_variable = "replicaset_member_port"
    if not _is_set(port):
        port = variables.get("mongod_port")
        port_variable = "mongod_port"
    if not _is_set(port):
        port = default_port
    try:
        port = _as_int(port)
        if not 1 <= port <= 65535:
            raise _Invalid("must be between 1 and 65535")
    except _Invalid as exc:
        problems.append("host %s: %s %s, got %r" % (host, port_variable, exc, port))
        port = default_port
    if ":" in name and not name.startswith("["):
        # An IPv6 literal must be bracketed in host:port form.
        name = "[%s]" % name
    return "%s:%s" % (name, port), problems


def _read_member(host, variables, default_port):
    """Return ``(member, problems)``; member holds only the options the host sets."""
    address, problems = _address(host, variables, default_port)
    member = {"host": address}
    for variable, option in MEMBER_VARIABLES:
        value = variables.get(variable)
        if not _is_set(value) or (option in ("tags", "horizons") and value == {}):
            continue
        try:
            member[option] = CONVERTERS[option](value)
        except _Invalid as exc:
            problems.append("host %s: %s %s, got %r" % (host, variable, exc, value))
    return member, problems


def _effective(member):
    """The member as the server will see it, with MongoDB's defaults filled in."""
    arbiter = member.get("arbiter_only", False)
    hidden = member.get("hidden", False)
    delay = member.get("secondary_delay_secs", 0)
    build_indexes = member.get("build_indexes", True)
    votes = member.get("votes", 1)
    # Members that can never be primary default to priority 0 rather than the
    # server's 1, so declaring hidden: true alone is enough.
    never_primary = arbiter or hidden or delay or not build_indexes or votes == 0
    priority = member.get("priority", 0 if never_primary else 1)
    return {
        "arbiter_only": arbiter,
        "hidden": hidden,
        "secondary_delay_secs": delay,
        "build_indexes": build_indexes,
        "votes": votes,
        "priority": priority,
        "tags": member.get("tags", {}),
    }


def replicaset_members(hostvars, hosts, default_port=DEFAULT_PORT):
    """Member list for quorum.mongodb.replicaset, in the order of ``hosts``.

    Members that can never become primary (hidden, delayed, arbiters, non-voting,
    no index builds) and do not set a priority get ``priority: 0``.
    """
    members = []
    problems = []
    for host in hosts:
        member, host_problems = _read_member(host, _get(hostvars, host), default_port)
        problems.extend(host_problems)
        if "priority" not in member and _effective(member)["priority"] == 0:
            member["priority"] = 0
        members.append(member)
    if problems:
        raise AnsibleFilterError("replicaset_members: " + "; ".join(problems))
    return members


def replicaset_member_addresses(hostvars, hosts, default_port=DEFAULT_PORT):
    """Map each inventory host to its member address ``host:port``."""
    return {host: _address(host, _get(hostvars, host), default_port)[0] for host in hosts}


def replicaset_member_problems(hostvars, hosts, group="the replica-set group", default_port=DEFAULT_PORT,
                               allow_multiple_arbiters=False):
    """Every rule the inventory's member declaration breaks, as readable messages.

    An empty list means the declaration is valid. Each message names the host and
    the variable to change and says which values are valid.
    """
    hosts = list(hosts)
    problems = []
    if not hosts:
        return ["%s has no hosts: add at least one host (three for a production set)" % group]
    if len(hosts) > MAX_MEMBERS:
        problems.append("%s has %d hosts; a replica set has at most %d members" % (group, len(hosts), MAX_MEMBERS))

    declared = []
    for host in hosts:
        member, host_problems = _read_member(host, _get(hostvars, host), default_port)
        problems.extend(host_problems)
        declared.append((host, member, _effective(member)))

    seen = {}
    for host, member, eff in declared:
        key = member["host"].lower()
        if key in seen:
            problems.append(
                "hosts %s and %s both declare the member address %s: give each host its own "
                "replicaset_member_host or replicaset_member_port" % (seen[key], host, member["host"]))
        else:
            seen[key] = host

        priority = eff["priority"]
        votes = eff["votes"]
        if votes not in (0, 1):
            problems.append("host %s: replicaset_member_votes must be 0 or 1, got %r" % (host, votes))
        if not 0 <= priority <= MAX_PRIORITY:
            problems.append("host %s: replicaset_member_priority must be between 0 and %d, got %r"
                            % (host, MAX_PRIORITY, priority))
        if not 0 <= eff["secondary_delay_secs"] <= MAX_SECONDARY_DELAY_SECS:
            problems.append("host %s: replicaset_member_secondary_delay_secs must be between 0 and %d, got %r"
                            % (host, MAX_SECONDARY_DELAY_SECS, eff["secondary_delay_secs"]))

        if eff["arbiter_only"]:
            data_options = []
            if "priority" in member and priority != 0:
                data_options.append("replicaset_member_priority (must be 0 or unset)")
            if eff["hidden"]:
                data_options.append("replicaset_member_hidden (must be false or unset)")
            if eff["secondary_delay_secs"]:
                data_options.append("replicaset_member_secondary_delay_secs (must be 0 or unset)")
            if "build_indexes" in member:
                data_options.append("replicaset_member_build_indexes (must be unset)")
            if eff["tags"]:
                data_options.append("replicaset_member_tags (arbiters cannot have tags)")
            if votes == 0:
                data_options.append("replicaset_member_votes (an arbiter must vote: 1 or unset)")
            if data_options:
                problems.append("host %s is an arbiter (replicaset_member_arbiter_only: true) but sets data-bearing "
                                "member options: %s" % (host, ", ".join(data_options)))
            continue

        if priority != 0:
            delay = eff["secondary_delay_secs"]
            for reason, variable in (
                (eff["hidden"], "replicaset_member_hidden is true"),
                (delay, "replicaset_member_secondary_delay_secs is %s" % delay),
                (not eff["build_indexes"], "replicaset_member_build_indexes is false"),
                (votes == 0, "replicaset_member_votes is 0"),
            ):
                if reason:
                    problems.append("host %s: %s, so replicaset_member_priority must be 0 (or unset), got %r"
                                    % (host, variable, priority))

    voters = [host for host, _member, eff in declared if eff["votes"] == 1]
    if not voters:
        problems.append("%s has no voting member: at least one host needs replicaset_member_votes: 1" % group)
    elif len(voters) > MAX_VOTING_MEMBERS:
        problems.append("%s has %d voting members (%s); at most %d may vote: set replicaset_member_votes: 0 "
                        "(and priority 0) on %d of them"
                        % (group, len(voters), ", ".join(voters), MAX_VOTING_MEMBERS, len(voters) - MAX_VOTING_MEMBERS))
    elif len(voters) % 2 == 0:
        problems.append("%s has %d voting members (%s); the number of voting members must be odd (1, 3, 5 or 7) "
                        "so that a majority survives a split: add a member or an arbiter, or set "
                        "replicaset_member_votes: 0 (and priority 0) on one host"
                        % (group, len(voters), ", ".join(voters)))

    electable = [host for host, _member, eff in declared
                 if not eff["arbiter_only"] and eff["priority"] > 0 and eff["votes"] == 1]
    if not electable:
        problems.append("%s has no member that can become primary: at least one host needs a "
                        "replicaset_member_priority above 0 and replicaset_member_votes: 1, and must not be "
                        "hidden, delayed or an arbiter" % group)

    arbiters = [host for host, _member, eff in declared if eff["arbiter_only"]]
    if len(arbiters) > 1 and not allow_multiple_arbiters:
        problems.append("%s has %d arbiters (%s); mongod 5.3+ accepts more than one only when every member runs "
                        "with setParameter allowMultipleArbiters=true: keep one arbiter, or set that parameter and "
                        "replicaset_allow_multiple_arbiters: true" % (group, len(arbiters), ", ".join(arbiters)))

    localhost = [host for host, member, _eff in declared if _is_loopback(member["host"])]
    if localhost and len(localhost) != len(declared):
        problems.append("%s mixes loopback member addresses (%s) with other addresses; either all members "
                        "use localhost/127.x or none does: set replicaset_member_host to an address the other "
                        "members can reach" % (group, ", ".join(localhost)))

    horizon_names = {tuple(sorted(member.get("horizons", {}))) for _host, member, _eff in declared}
    if len(horizon_names) > 1:
        problems.append("%s: every member must define the same horizon names in replicaset_member_horizons "
                        "(or none does)" % group)
    return problems


def _is_loopback(address):
    name = address.rsplit(":", 1)[0].strip("[]").lower()
    return name == "localhost" or name.startswith("127.") or name == "::1"


def replicaset_preferred_host(hostvars, hosts, default_port=DEFAULT_PORT):
    """The host to initiate the set from: the electable member with the highest priority.

    mongod initiates only from a member that can itself become primary, and the
    member with the highest priority will be primary soon after anyway. Ties go
    to the first host. Returns None when no member is electable.
    """
    best = None
    best_priority = 0
    for host in hosts:
        member, problems = _read_member(host, _get(hostvars, host), default_port)
        if problems:
            continue
        eff = _effective(member)
        if eff["arbiter_only"] or eff["votes"] != 1 or eff["priority"] <= best_priority:
            continue
        best, best_priority = host, eff["priority"]
    return best


def replicaset_restart_order(hosts, states):
    """Hosts in rolling-restart order: everything that is not primary, then the primary.

    ``states`` maps a host to its member state (``PRIMARY``, ``SECONDARY``,
    ``ARBITER``, ...). Hosts keep their relative order otherwise, so a restart is
    predictable from the inventory.
    """
    hosts = list(hosts)
    primaries = [host for host in hosts if str(states.get(host, "")).upper() == "PRIMARY"]
    if len(primaries) > 1:
        raise AnsibleFilterError("replicaset_restart_order: more than one primary reported (%s)" % ", ".join(primaries))
    return [host for host in hosts if host not in primaries] + primaries


def _first_present(mapping, *keys, default=None):
    for key in keys:
        if isinstance(mapping, dict) and mapping.get(key) is not None:
            return mapping[key]
    return default


def _cell(value):
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return ("%.2f" % value).rstrip("0").rstrip(".")
    return str(value)


STATUS_COLUMNS = (
    ("member", ("name", "host")),
    ("state", ("state", "state_str", "stateStr")),
    ("health", ("health",)),
    ("lag (s)", ("lag", "lag_secs", "lag_seconds", "replication_lag_secs")),
    ("votes", ("votes",)),
    ("priority", ("priority",)),
)


def replicaset_status_table(status):
    """Lines of a member table (name, state, health, lag, votes, priority) and the fault tolerance."""
    members = _first_present(status, "members", default=[]) or []
    rows = [[title for title, _keys in STATUS_COLUMNS]]
    for member in members:
        row = []
        for title, keys in STATUS_COLUMNS:
            value = _first_present(member, *keys)
            if title == "health" and isinstance(value, (int, float)) and not isinstance(value, bool):
                value = "up" if value == 1 else "down"
            row.append(_cell(value))
        rows.append(row)
    widths = [max(len(row[i]) for row in rows) for i in range(len(STATUS_COLUMNS))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    primary = _first_present(status, "primary")
    lines.append("primary: %s" % (primary if primary else "none"))
    tolerance = _first_present(status, "fault_tolerance")
    if isinstance(tolerance, dict):
        overall = _first_present(tolerance, "overall", "members", "voting_members")
        lines.append("fault tolerance: %s voting member(s) can fail with a primary still elected" % _cell(overall))
        current = _first_present(tolerance, "current")
        if current is not None:
            lines.append("fault tolerance now: %s more voting member(s) can fail (%s of %s voting members reachable)"
                         % (_cell(current), _cell(_first_present(tolerance, "reachable_voting_members")),
                            _cell(_first_present(tolerance, "voting_members"))))
        per_tag = _first_present(tolerance, "per_tag", "tags", default={}) or {}
        for tag in sorted(per_tag):
            lines.append("fault tolerance by %s: %s" % (tag, json_compact(per_tag[tag])))
    elif tolerance is not None:
        lines.append("fault tolerance: %s voting member(s) can fail with a primary still elected" % _cell(tolerance))
    return lines


def _tag_cell(value):
    """One tag value's answer: a number, or replicaset_info's {remaining_votes, majority_kept}."""
    if isinstance(value, dict) and "remaining_votes" in value:
        return "%s votes remain (majority %s)" % (_cell(value["remaining_votes"]),
                                                  "kept" if value.get("majority_kept") else "lost")
    return _cell(value)


def json_compact(value):
    if isinstance(value, dict):
        return ", ".join("%s=%s" % (key, _tag_cell(value[key])) for key in sorted(value))
    return _cell(value)


class FilterModule:
    """Replica-set member filters for the quorum.mongodb roles."""

    def filters(self):
        return {
            "replicaset_members": replicaset_members,
            "replicaset_member_addresses": replicaset_member_addresses,
            "replicaset_member_problems": replicaset_member_problems,
            "replicaset_restart_order": replicaset_restart_order,
            "replicaset_preferred_host": replicaset_preferred_host,
            "replicaset_status_table": replicaset_status_table,
        }
