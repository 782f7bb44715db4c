# -*- coding: utf-8 -*-
# Copyright: quorum.mongodb contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one table of replica-set member options, settings and the module's checked options. Pure data.

Each row names an option three ways: the ``quorum.mongodb.replicaset`` module's
option, the server's config field, and the inventory variable the
``quorum.mongodb.replicaset`` role reads it from (a per-host
``replicaset_member_*`` variable for member options, a key of
``replicaset_settings`` for settings, a role variable for module options). It
also gives the type, the valid range or values and the default rule.

Everything else is derived from this table or checked against it: the module's
argument_spec (plugins/modules/replicaset.py builds its member and settings
suboptions here), the rules in replicaset_config.check_declaration, the
replicaset_member_problems filter's translation of option names into variable
names, and tests/unit/plugins/module_utils/test_replicaset_schema.py, which
holds the module's DOCUMENTATION, the role's meta/argument_specs.yml and
defaults/main.yml and README.md to it.

Ranges are mongod's own (MongoDB 7.0/8.0, src/mongo/db/repl/member_config.idl,
repl_set_config.idl, repl_set_commands.cpp; see replicaset_config for the rules
between options).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

MAX_PRIORITY = 1000
MAX_SECONDARY_DELAY_SECS = 366 * 24 * 3600
# maxTimeMS (the module sends wait_timeout as maxTimeMS) is a 32-bit count of milliseconds.
MAX_WAIT_TIMEOUT = (2 ** 31 - 1) // 1000


class Option(object):
    """One row of the table. ``minimum``/``maximum``/``choices`` are None when not limited."""

    __slots__ = ("name", "field", "variable", "type", "minimum", "maximum", "choices", "default", "rule")

    def __init__(self, name, field, variable, type, minimum=None, maximum=None, choices=None, default=None,
                 rule=""):
        self.name = name
        self.field = field
        self.variable = variable
        self.type = type
        self.minimum = minimum
        self.maximum = maximum
        self.choices = choices
        self.default = default
        self.rule = rule

    def __repr__(self):
        return "Option(%r)" % self.name


# Member options: module suboption of ``members``, server member field, per-host variable.
MEMBER_SCHEMA = (
    Option("host", "host", "replicaset_member_host", "str",
           rule="a host name, an IPv4 address or an [IPv6] address in brackets, with an optional :port "
                "(1-65535, default 27017); in the inventory the port has its own variable"),
    Option("priority", "priority", "replicaset_member_priority", "float", minimum=0, maximum=MAX_PRIORITY,
           default="1, or 0 when the member can never be primary",
           rule="0 to 1000; 0 never becomes primary; must be 0 when votes is 0, hidden is true, "
                "secondary_delay_secs is set or build_indexes is false; an arbiter's is 0"),
    Option("votes", "votes", "replicaset_member_votes", "int", choices=(0, 1), default=1,
           rule="0 or 1; 1 to 7 members vote; an arbiter votes"),
    Option("hidden", "hidden", "replicaset_member_hidden", "bool", default=False),
    Option("arbiter_only", "arbiterOnly", "replicaset_member_arbiter_only", "bool", default=False,
           rule="an arbiter votes, has priority 0, no tags and no data options"),
    Option("build_indexes", "buildIndexes", "replicaset_member_build_indexes", "bool", default=True),
    Option("secondary_delay_secs", "secondaryDelaySecs", "replicaset_member_secondary_delay_secs", "int",
           minimum=0, maximum=MAX_SECONDARY_DELAY_SECS, default=0),
    Option("tags", "tags", "replicaset_member_tags", "dict", default={},
           rule="string values; not on arbiters"),
    Option("horizons", "horizons", "replicaset_member_horizons", "dict",
           rule="horizon name -> host:port (a name, not an IP address); managed only when given; every member, "
                "arbiters too, declares the same horizon names"),
)
# The inventory gives a member's port in its own variable (mongod_port when unset).
PORT = Option("port", None, "replicaset_member_port", "int", minimum=1, maximum=65535, default=27017)

# Settings: module suboption of ``settings``, server field, key of the role's replicaset_settings.
SETTINGS_VARIABLE = "replicaset_settings"
SETTINGS_SCHEMA = (
    Option("chaining_allowed", "chainingAllowed", "chaining_allowed", "bool"),
    Option("heartbeat_interval_millis", "heartbeatIntervalMillis", "heartbeat_interval_millis", "int", minimum=1),
    Option("heartbeat_timeout_secs", "heartbeatTimeoutSecs", "heartbeat_timeout_secs", "int", minimum=1),
    Option("election_timeout_millis", "electionTimeoutMillis", "election_timeout_millis", "int", minimum=1),
    Option("catch_up_timeout_millis", "catchUpTimeoutMillis", "catch_up_timeout_millis", "int", minimum=-1,
           rule="-1 for no limit"),
    Option("catch_up_takeover_delay_millis", "catchUpTakeoverDelayMillis", "catch_up_takeover_delay_millis", "int",
           minimum=-1, rule="-1 to disable"),
    Option("get_last_error_modes", "getLastErrorModes", "get_last_error_modes", "dict",
           rule="mode name -> {tag name: count of at least 1}; each tag name is used by a member"),
)

# Module options the rule book checks, and the role variable each comes from.
MODULE_SCHEMA = (
    Option("wait_timeout", None, "replicaset_wait_timeout", "int", minimum=1, maximum=MAX_WAIT_TIMEOUT, default=600),
    Option("step_down_secs", None, "replicaset_step_down_secs", "int", minimum=1, default=60,
           rule="replSetStepDown's period; the catch-up period sent with it is the smaller of 10 and this"),
    Option("default_write_concern", None, "replicaset_default_write_concern", "dict", default={}),
    Option("allow_multiple_arbiters", None, "replicaset_allow_multiple_arbiters", "bool", default=False),
)

# Keys of default_write_concern (setDefaultRWConcern's defaultWriteConcern).
WRITE_CONCERN_SCHEMA = (
    Option("w", "w", "w", "raw", rule='an integer of at least 1, "majority", or a mode of get_last_error_modes'),
    Option("wtimeout", "wtimeout", "wtimeout", "int", minimum=0),
    Option("j", "j", "j", "bool"),
)

MEMBER_OPTION = dict((row.name, row) for row in MEMBER_SCHEMA)
SETTING = dict((row.name, row) for row in SETTINGS_SCHEMA)
MODULE_OPTION = dict((row.name, row) for row in MODULE_SCHEMA)
WRITE_CONCERN_KEY = dict((row.name, row) for row in WRITE_CONCERN_SCHEMA)


def argument_spec(rows):
    """The AnsibleModule suboptions for rows of the table (types only; the rule book checks the rest)."""
    spec = {}
    for row in rows:
        spec[row.name] = {"type": row.type}
        if row.name == "host" and rows is MEMBER_SCHEMA:
            spec[row.name]["required"] = True
    return spec


def variable_name(option, port_variable=None):
    """The inventory variable an option of the rule book is read from (``settings.x`` -> ``replicaset_settings.x``).

    Set-wide names (``members``) and unknown ones come back unchanged.
    """
    head, dot, rest = option.partition(".")
    if option == "port":
        return port_variable or PORT.variable
    if option in MEMBER_OPTION:
        return MEMBER_OPTION[option].variable
    if head == "settings":
        return SETTINGS_VARIABLE + dot + rest
    if head in MODULE_OPTION:
        return MODULE_OPTION[head].variable + dot + rest
    return option
