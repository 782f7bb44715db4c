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
* ``replicaset_declaration`` gives all of the above from one read of hostvars;
* ``replicaset_preferred_host`` picks the host to initiate from: the electable
  member with the highest priority;
* ``replicaset_restart_order`` orders hosts for a rolling restart: every member
  that is not primary first, the primary last;
* ``replicaset_roles_match`` tells whether the roles a login holds are exactly
  the roles declared for that user (the admin left alone on a re-run);
* ``replicaset_status_table`` turns quorum.mongodb.replicaset_info's result into
  the member table that playbooks/status.yml prints.

The rules a declaration must satisfy are not here: they are the module's rule
book (plugins/module_utils/replicaset_config.py, check_declaration) and the
option table (replicaset_schema.py); these filters read the inventory once per
call, convert types as the module would and name problems by host and variable.

They are pure functions of their arguments (no connection, no I/O) and are
unit-tested in tests/unit/plugins/filter/.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.validation import check_type_bool, check_type_dict, check_type_float, check_type_int

from ansible_collections.quorum.mongodb.plugins.module_utils.user_plan import UserPlanError, roles_match
from ansible_collections.quorum.mongodb.plugins.module_utils.replicaset_config import (
    can_become_primary,
    check_declaration,
)
from ansible_collections.quorum.mongodb.plugins.module_utils.replicaset_schema import (
    MEMBER_SCHEMA,
    PORT,
    SETTING,
    WRITE_CONCERN_KEY,
    variable_name,
)

DEFAULT_PORT = 27017

# The same conversions AnsibleModule applies to the module's options of these types, so that the
# preflight sees what the module will see. A value that does not convert is passed on unchanged
# and the rule book reports it.
CONVERTERS = {"bool": check_type_bool, "int": check_type_int, "float": check_type_float, "dict": check_type_dict}


def _is_set(value):
    return value is not None and not (isinstance(value, str) and value.strip() == "")


def _convert(kind, value):
    converter = CONVERTERS.get(kind)
    if converter is None:
        return value
    try:
        return converter(value)
    except (TypeError, ValueError):
        return value


def _get(hostvars, host):
    try:
        return hostvars[host]
    except KeyError:
        raise AnsibleFilterError("replicaset filters: host %r is not in hostvars" % host) from None


def _read(hostvars, hosts, default_port):
    """Each host's member declaration, read once: ``(declared members, port variable of each host)``.

    A declared member has ``host`` (replicaset_member_host, or the inventory name) and ``port``
    (replicaset_member_port, else mongod_port, else ``default_port``) apart, as the inventory
    gives them, and only the options the host sets, converted to the table's types.
    """
    members, port_variables = [], []
    for host in hosts:
        variables = _get(hostvars, host)
        name = variables.get(MEMBER_SCHEMA[0].variable)
        member = {"host": name if _is_set(name) else host}
        port_variable = PORT.variable
        port = variables.get(PORT.variable)
        if not _is_set(port):
            port_variable, port = "mongod_port", variables.get("mongod_port")
        if not _is_set(port):
            port_variable, port = "default_port", default_port
        member["port"] = _convert("int", port)
        for row in MEMBER_SCHEMA[1:]:
            value = variables.get(row.variable)
            if not _is_set(value) or (row.type == "dict" and value == {}):
                continue
            member[row.name] = _convert(row.type, value)
        members.append(member)
        port_variables.append(port_variable)
    return members, port_variables


def _settings(settings):
    if not isinstance(settings, dict):
        return settings
    return {key: (_convert(SETTING[key].type, value) if key in SETTING else value)
            for key, value in settings.items() if value is not None}


def _write_concern(concern):
    if not isinstance(concern, dict):
        return concern
    return {key: (_convert(WRITE_CONCERN_KEY[key].type, value) if key in WRITE_CONCERN_KEY else value)
            for key, value in concern.items()}


def _address(member):
    """The ``host:port`` the module is given for a member read from the inventory."""
    name = str(member["host"]).strip()
    if ":" in name and not name.startswith("["):
        # An IPv6 literal must be bracketed in host:port form.
        name = "[%s]" % name
    return "%s:%s" % (name, member["port"])


def _module_member(member):
    out = {"host": _address(member)}
    out.update((key, value) for key, value in member.items() if key not in ("host", "port"))
    return out


def _declaration(hostvars, hosts, default_port):
    members, _ports = _read(hostvars, hosts, default_port)
    return members, check_declaration(members, default_port=default_port)


def replicaset_members(hostvars, hosts, default_port=DEFAULT_PORT):
    """Member list for quorum.mongodb.replicaset, in the order of ``hosts``.

    Only the options a host sets are passed on; the module applies the defaults (a member that can
    never be primary gets priority 0 there).
    """
    hosts = list(hosts)
    members, port_variables = _read(hostvars, hosts, default_port)
    port_variables = [PORT.variable if v == "default_port" else v for v in port_variables]
    decl = check_declaration(members, default_port=default_port)
    # A value that cannot be read is an error here; whole-set rules are preflight's and the module's.
    unreadable = [p for p in decl.problems if p.member is not None]
    if unreadable:
        raise AnsibleFilterError("replicaset_members: " + "; ".join(
            _render(p, hosts, port_variables) for p in unreadable))
    return [_module_member(m) for m in members]


def replicaset_member_addresses(hostvars, hosts, default_port=DEFAULT_PORT):
    """Map each inventory host to its member address ``host:port`` (lower-cased, as the set knows it)."""
    hosts = list(hosts)
    members, decl = _declaration(hostvars, hosts, default_port)
    return {host: decl.members[index]["host"] or _address(members[index]) for index, host in enumerate(hosts)}


def _render(problem, hosts, port_variables, group="the replica-set group"):
    def name(option, member):
        port_variable = port_variables[member] if port_variables and member is not None else None
        return variable_name(option, port_variable)
    return problem.render(name=name, label=lambda index: hosts[index], group=group, noun="host")


def _preflight(hostvars, hosts, default_port, allow_multiple_arbiters, settings, default_write_concern,
               wait_timeout, step_down_secs):
    """Read the inventory once and ask the rule book, with the preflight's odd-voters policy."""
    members, port_variables = _read(hostvars, hosts, default_port)
    decl = check_declaration(
        members, settings=_settings(settings or None), default_write_concern=_write_concern(default_write_concern),
        wait_timeout=None if wait_timeout is None else _convert("int", wait_timeout),
        step_down_secs=None if step_down_secs is None else _convert("int", step_down_secs),
        default_port=default_port, allow_multiple_arbiters=_convert("bool", allow_multiple_arbiters),
        odd_voters=True)
    port_variables = [PORT.variable if v == "default_port" else v for v in port_variables]
    return members, port_variables, decl


def replicaset_member_problems(hostvars, hosts, group="the replica-set group", default_port=DEFAULT_PORT,
                               allow_multiple_arbiters=False, settings=None, default_write_concern=None,
                               wait_timeout=None, step_down_secs=None, details=False):
    """Every rule the inventory's declaration breaks, as messages naming the host and the variable.

    An empty list means the declaration is valid. The rules are the module's own
    (replicaset_config.check_declaration, with the preflight's policy of an odd number of voters);
    this filter only reads the inventory, converts types as the module would, and names each
    problem by host and variable. ``details`` returns dicts (host, hosts, variable, kind, message).
    """
    hosts = list(hosts)
    members, port_variables, decl = _preflight(hostvars, hosts, default_port, allow_multiple_arbiters, settings,
                                               default_write_concern, wait_timeout, step_down_secs)
    messages = [_render(p, hosts, port_variables, group) for p in decl.problems]
    if not details:
        return messages
    out = []
    for problem, message in zip(decl.problems, messages):
        member = problem.member
        port_variable = port_variables[member] if member is not None else None
        out.append({"host": hosts[member] if member is not None else None,
                    "hosts": [hosts[i] for i in problem.members],
                    "variable": variable_name(problem.option, port_variable) if problem.option else None,
                    "kind": problem.kind, "message": message})
    return out


def _preferred(hosts, decl):
    """The host whose member can become primary with the highest priority (ties: the first), or None."""
    broken = {p.member for p in decl.problems if p.member is not None}
    best, best_priority = None, 0
    for index, host in enumerate(hosts):
        candidate = decl.members[index]
        if index in broken or candidate["host"] is None or not can_become_primary(candidate):
            continue
        if candidate["priority"] > best_priority:
            best, best_priority = host, candidate["priority"]
    return best


def replicaset_preferred_host(hostvars, hosts, default_port=DEFAULT_PORT):
    """The host to initiate the set from: the member that can become primary with the highest priority.

    mongod initiates only from a member that can itself become primary, and the
    member with the highest priority will be primary soon after anyway. Ties go
    to the first host. Returns None when no member can become primary.
    """
    hosts = list(hosts)
    _members, decl = _declaration(hostvars, hosts, default_port)
    return _preferred(hosts, decl)


def replicaset_declaration(hostvars, hosts, group="the replica-set group", default_port=DEFAULT_PORT,
                           allow_multiple_arbiters=False, settings=None, default_write_concern=None,
                           wait_timeout=None, step_down_secs=None):
    """Everything the role needs from the inventory, from one read of each host's variables.

    A dict: ``members`` (for the module, as replicaset_members gives them), ``addresses`` (as
    replicaset_member_addresses), ``preferred_host`` (as replicaset_preferred_host) and ``problems``
    (as replicaset_member_problems). The role's preflight keeps it as a fact, so later tasks need not
    read hostvars again.
    """
    hosts = list(hosts)
    members, port_variables, decl = _preflight(hostvars, hosts, default_port, allow_multiple_arbiters, settings,
                                               default_write_concern, wait_timeout, step_down_secs)
    return {
        "members": [_module_member(m) for m in members],
        "addresses": {host: decl.members[i]["host"] or _address(members[i]) for i, host in enumerate(hosts)},
        "preferred_host": _preferred(hosts, decl),
        "problems": [_render(p, hosts, port_variables, group) for p in decl.problems],
    }


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


def _present(mapping, key, default=None):
    """``mapping[key]`` when ``mapping`` is a dict holding a value other than None there, else ``default``."""
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


# Column title and the member key of quorum.mongodb.replicaset_info's result
# (module_utils/replicaset_status.py replicaset_summary) it shows.
STATUS_COLUMNS = (
    ("member", "name"),
    ("state", "state"),
    ("health", "health"),
    ("lag (s)", "lag"),
    ("votes", "votes"),
    ("priority", "priority"),
)


def replicaset_status_table(status):
    """Lines of a member table (name, state, health, lag, votes, priority) and the fault tolerance.

    ``status`` is quorum.mongodb.replicaset_info's result as the module returns it.
    """
    members = _present(status, "members", default=[])
    rows = [[title for title, _key in STATUS_COLUMNS]]
    for member in members:
        row = []
        for title, key in STATUS_COLUMNS:
            value = _present(member, key)
            if title == "health" and isinstance(value, (int, float)) and not isinstance(value, bool):
                value = "up" if value == 1 else "down"
            row.append(_cell(value))
        rows.append(row)
    widths = [max(len(row[i]) for row in rows) for i in range(len(STATUS_COLUMNS))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    primary = _present(status, "primary")
    lines.append("primary: %s" % (primary if primary else "none"))
    tolerance = _present(status, "fault_tolerance")
    if isinstance(tolerance, dict):
        lines.append("fault tolerance: %s voting member(s) can fail with a primary still elected"
                     % _cell(_present(tolerance, "overall")))
        current = _present(tolerance, "current")
        if current is not None:
            lines.append("fault tolerance now: %s more voting member(s) can fail (%s of %s voting members reachable)"
                         % (_cell(current), _cell(_present(tolerance, "reachable_voting_members")),
                            _cell(_present(tolerance, "voting_members"))))
        per_tag = _present(tolerance, "per_tag", default={})
        for tag in sorted(per_tag):
            lines.append("fault tolerance by %s: %s" % (tag, _tag_summary(per_tag[tag])))
    return lines


def _tag_cell(value):
    """One tag value's answer, replicaset_info's ``{remaining_votes, majority_kept}``."""
    return "%s votes remain (majority %s)" % (_cell(_present(value, "remaining_votes")),
                                              "kept" if _present(value, "majority_kept") else "lost")


def _tag_summary(values):
    """One tag's line: ``value=answer`` for each of its values, sorted (``values`` maps a tag value to its answer)."""
    return ", ".join("%s=%s" % (value, _tag_cell(values[value])) for value in sorted(values))


def replicaset_roles_match(granted, declared, database="admin"):
    """Whether the roles ``granted`` to a login are exactly the ``declared`` ones (user_plan.roles_match)."""
    try:
        return roles_match(granted, declared, database)
    except UserPlanError as exc:
        raise AnsibleFilterError("replicaset_roles_match: %s" % exc) from exc


class FilterModule:
    """Replica-set member filters for the quorum.mongodb roles."""

    def filters(self):
        return {
            "replicaset_members": replicaset_members,
            "replicaset_member_addresses": replicaset_member_addresses,
            "replicaset_member_problems": replicaset_member_problems,
            "replicaset_declaration": replicaset_declaration,
            "replicaset_restart_order": replicaset_restart_order,
            "replicaset_preferred_host": replicaset_preferred_host,
            "replicaset_status_table": replicaset_status_table,
            "replicaset_roles_match": replicaset_roles_match,
        }
