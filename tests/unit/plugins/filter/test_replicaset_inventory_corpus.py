"""A corpus of bad inventories for the preflight filter (replicaset_member_problems): each message must name
the culprit in the inventory's terms, the host and the variable. A few of these run through playbooks/site.yml
in tests/integration/test_site_preflight.py; the rest are checked here, on the filter directly."""

import pytest


def group(**hosts):
    out = {"db1": {}, "db2": {}, "db3": {}}
    out.update(hosts)
    return out


# (id, hostvars, filter keyword arguments, host that must be named (None: set-wide), variable, words)
CORPUS = [
    ("port inside replicaset_member_host", group(db3={"replicaset_member_host": "db3.example.com:27018"}), {},
     "db3", "replicaset_member_host", "replicaset_member_port"),
    ("bracketed IPv6 with a port in the host", group(db3={"replicaset_member_host": "[fd00::3]:27018"}), {},
     "db3", "replicaset_member_host", "carries a port"),
    ("space in replicaset_member_host", group(db3={"replicaset_member_host": "db3 .example"}), {},
     "db3", "replicaset_member_host", "space"),
    ("junk in replicaset_member_host", group(db3={"replicaset_member_host": "db3/x"}), {},
     "db3", "replicaset_member_host", "not a host name"),
    ("port out of range", group(db3={"replicaset_member_port": 0}), {}, "db3", "replicaset_member_port",
     "out of range"),
    ("port not a number", group(db3={"replicaset_member_port": "high"}), {}, "db3", "replicaset_member_port",
     "must be a number"),
    ("mongod_port out of range", group(db3={"mongod_port": 99999}), {}, "db3", "mongod_port", "out of range"),
    ("priority a word", group(db3={"replicaset_member_priority": "high"}), {}, "db3",
     "replicaset_member_priority", "a number"),
    ("votes a word", group(db3={"replicaset_member_votes": "two"}), {}, "db3", "replicaset_member_votes",
     "whole number"),
    ("hidden perhaps", group(db3={"replicaset_member_hidden": "perhaps"}), {}, "db3", "replicaset_member_hidden",
     "true or false"),
    ("delay over a year", group(db3={"replicaset_member_secondary_delay_secs": 40000000,
                                     "replicaset_member_priority": 0}), {},
     "db3", "replicaset_member_secondary_delay_secs", "31622400"),
    ("tags a list", group(db3={"replicaset_member_tags": ["east"]}), {}, "db3", "replicaset_member_tags",
     "dictionary"),
    ("tag value a number", group(db3={"replicaset_member_tags": {"rack": 3}}), {}, "db3",
     "replicaset_member_tags.rack", "string"),
    ("arbiter without the others' horizons",
     {"db1": {"replicaset_member_horizons": {"ext": "e1.example:1"}},
      "db2": {"replicaset_member_horizons": {"ext": "e2.example:1"}},
      "arb": {"replicaset_member_arbiter_only": True}}, {}, None, "replicaset_member_horizons", "arb"),
    ("horizon on an IP address", {"db1": {"replicaset_member_horizons": {"ext": "192.0.2.1:1"}}}, {}, "db1",
     "replicaset_member_horizons.ext", "IP address"),
    ("arbiter with build_indexes", group(db3={"replicaset_member_arbiter_only": True,
                                              "replicaset_member_build_indexes": True}), {},
     "db3", "replicaset_member_build_indexes", "holds no data"),
    ("no-index member with priority", group(db3={"replicaset_member_build_indexes": False,
                                                 "replicaset_member_priority": 1}), {},
     "db3", "replicaset_member_priority", "replicaset_member_build_indexes is false"),
    ("negative heartbeat timeout", group(), {"settings": {"heartbeat_timeout_secs": -1}}, None,
     "replicaset_settings.heartbeat_timeout_secs", "at least 1"),
    ("chaining maybe", group(), {"settings": {"chaining_allowed": "maybe"}}, None,
     "replicaset_settings.chaining_allowed", "true or false"),
    ("unknown setting", group(), {"settings": {"chainingAllowed": True}}, None,
     "replicaset_settings.chainingAllowed", "not a setting"),
    ("election timeout a word", group(), {"settings": {"election_timeout_millis": "soon"}}, None,
     "replicaset_settings.election_timeout_millis", "whole number"),
    ("write-concern mode on a missing tag", group(), {"settings": {"get_last_error_modes": {"dcs": {"dc": 2}}}},
     None, "replicaset_settings.get_last_error_modes.dcs", "no member has"),
    ("default write concern w: 0", group(), {"default_write_concern": {"w": 0}}, None,
     "replicaset_default_write_concern.w", "at least 1"),
    ("default write concern unknown mode", group(), {"default_write_concern": {"w": "dcs"}}, None,
     "replicaset_default_write_concern.w", "get_last_error_modes"),
    ("default write concern unknown key", group(), {"default_write_concern": {"w": 1, "timeout": 5}}, None,
     "replicaset_default_write_concern.timeout", "not a write concern field"),
    ("wait timeout zero", group(), {"wait_timeout": "0"}, None, "replicaset_wait_timeout", "from 1 to"),
    ("step-down period negative", group(), {"step_down_secs": -5}, None, "replicaset_step_down_secs", "at least 1"),
    ("step-down period a word", group(), {"step_down_secs": "long"}, None, "replicaset_step_down_secs",
     "whole number"),
]


@pytest.mark.parametrize("hostvars, kwargs, host, variable, words", [c[1:] for c in CORPUS],
                         ids=[c[0] for c in CORPUS])
def test_bad_inventory_is_refused_naming_host_and_variable(replicaset_filters, hostvars, kwargs, host,
                                                           variable, words):
    found = replicaset_filters.replicaset_member_problems(hostvars, list(hostvars), group="mongodb_replicaset",
                                                          **kwargs)
    matching = [m for m in found if words in m]
    assert matching, found
    if host is not None:
        assert any(m.startswith("host %s: " % host) for m in matching), matching
    assert any(variable in m for m in matching), matching
    # the module's spelling never leaks into the inventory's messages
    for message in found:
        assert "member db" not in message, message


def test_the_port_inside_the_host_is_not_turned_into_an_ipv6_address(replicaset_filters):
    hostvars = group(db3={"replicaset_member_host": "db3.example.com:27018"})
    assert not any("[db3.example.com:27018]" in m
                   for m in replicaset_filters.replicaset_member_problems(hostvars, list(hostvars)))
    with pytest.raises(Exception, match="replicaset_member_port"):
        replicaset_filters.replicaset_members(hostvars, list(hostvars))


def test_details_give_host_variable_and_kind(replicaset_filters):
    hostvars = group(db3={"replicaset_member_hidden": True, "replicaset_member_priority": 2})
    (problem,) = replicaset_filters.replicaset_member_problems(hostvars, list(hostvars), details=True)
    assert problem["host"] == "db3" and problem["variable"] == "replicaset_member_priority"
    assert problem["kind"] == "priority-hidden"
