"""Unit tests for plugins/filter/replicaset.py (members from the inventory)."""

import pytest
from ansible.errors import AnsibleFilterError


def pss(**extra_hosts):
    hostvars = {"db1": {}, "db2": {}, "db3": {}}
    hostvars.update(extra_hosts)
    return hostvars


# ---------------------------------------------------------------- members


def test_members_default_to_inventory_name_and_port(replicaset_filters):
    members = replicaset_filters.replicaset_members(pss(), ["db1", "db2", "db3"])
    assert members == [{"host": "db1:27017"}, {"host": "db2:27017"}, {"host": "db3:27017"}]


def test_members_keep_the_order_of_hosts(replicaset_filters):
    members = replicaset_filters.replicaset_members(pss(), ["db3", "db1"])
    assert [m["host"] for m in members] == ["db3:27017", "db1:27017"]


def test_member_address_and_port_precedence(replicaset_filters):
    hostvars = {
        "a": {"replicaset_member_host": "10.0.0.1", "replicaset_member_port": 27018, "mongod_port": 27019},
        "b": {"mongod_port": "27019"},
        "c": {"replicaset_member_host": "  "},
        "d": {"replicaset_member_host": "fd00::4"},
    }
    members = replicaset_filters.replicaset_members(hostvars, ["a", "b", "c", "d"], default_port=27100)
    assert [m["host"] for m in members] == ["10.0.0.1:27018", "b:27019", "c:27100", "[fd00::4]:27100"]
    addresses = replicaset_filters.replicaset_member_addresses(hostvars, ["a", "b"])
    assert addresses == {"a": "10.0.0.1:27018", "b": "b:27019"}


def test_member_options_are_converted_from_inventory_strings(replicaset_filters):
    hostvars = pss(db4={
        "replicaset_member_hidden": "yes",
        "replicaset_member_priority": "0",
        "replicaset_member_votes": "0",
        "replicaset_member_secondary_delay_secs": "3600",
        "replicaset_member_build_indexes": "true",
        "replicaset_member_tags": {"dc": "east"},
    })
    member = replicaset_filters.replicaset_members(hostvars, ["db1", "db2", "db3", "db4"])[3]
    assert member == {
        "host": "db4:27017",
        "hidden": True,
        "priority": 0,
        "votes": 0,
        "secondary_delay_secs": 3600,
        "build_indexes": True,
        "tags": {"dc": "east"},
    }
    # Converted as AnsibleModule converts the module's options: priority is a float, votes an int.
    assert isinstance(member["priority"], float) and isinstance(member["votes"], int)
    assert not isinstance(member["hidden"], str)


def test_fractional_priority_is_kept(replicaset_filters):
    member = replicaset_filters.replicaset_members({"a": {"replicaset_member_priority": "0.5"}}, ["a"])[0]
    assert member["priority"] == 0.5


@pytest.mark.parametrize("variable,value", [
    ("replicaset_member_hidden", True),
    ("replicaset_member_secondary_delay_secs", 60),
    ("replicaset_member_arbiter_only", True),
    ("replicaset_member_votes", 0),
    ("replicaset_member_build_indexes", False),
])
def test_members_that_cannot_be_primary_get_priority_zero_from_the_module_not_the_filter(
        replicaset_filters, variable, value):
    # The default is decided once, in the rule book (replicaset_config.default_priority): the filter
    # passes only what the host sets, and the module's normalisation gives priority 0.
    from ansible_collections.quorum.mongodb.plugins.module_utils.replicaset_config import check_declaration
    member = replicaset_filters.replicaset_members({"x": {variable: value}}, ["x"])[0]
    assert "priority" not in member
    assert check_declaration([member]).members[0]["priority"] == 0


def test_unset_and_empty_options_are_left_to_the_server(replicaset_filters):
    hostvars = {"x": {"replicaset_member_priority": None, "replicaset_member_tags": {}, "replicaset_member_votes": ""}}
    assert replicaset_filters.replicaset_members(hostvars, ["x"]) == [{"host": "x:27017"}]


def test_members_refuse_unreadable_values_naming_host_and_variable(replicaset_filters):
    with pytest.raises(AnsibleFilterError) as err:
        replicaset_filters.replicaset_members({"db9": {"replicaset_member_votes": "two"}}, ["db9"])
    assert "db9" in str(err.value) and "replicaset_member_votes" in str(err.value)


def test_unknown_host_is_an_error(replicaset_filters):
    with pytest.raises(AnsibleFilterError, match="nothere"):
        replicaset_filters.replicaset_members({}, ["nothere"])


# ---------------------------------------------------------------- problems


def problems(filters, hostvars, hosts=None):
    hosts = list(hostvars) if hosts is None else hosts
    return filters.replicaset_member_problems(hostvars, hosts, group="mongodb_replicaset")


def test_valid_declarations_have_no_problems(replicaset_filters):
    assert problems(replicaset_filters, pss()) == []
    # P-S-S plus a hidden delayed non-voting member
    hidden = {"replicaset_member_hidden": True, "replicaset_member_secondary_delay_secs": 3600,
              "replicaset_member_votes": 0}
    assert problems(replicaset_filters, pss(db4=hidden)) == []
    # P-S-A
    arbiter = {"replicaset_member_arbiter_only": True}
    assert problems(replicaset_filters, {"db1": {}, "db2": {}, "arb": arbiter}) == []
    # a single member is a valid (if not highly available) set
    assert problems(replicaset_filters, {"db1": {}}) == []


def test_even_number_of_voters_is_refused(replicaset_filters):
    found = problems(replicaset_filters, pss(db4={}))
    assert len(found) == 1
    assert "4 voting members" in found[0] and "odd" in found[0] and "replicaset_member_votes" in found[0]
    assert "db4" in found[0]


def test_more_than_seven_voters_is_refused(replicaset_filters):
    hostvars = {"db%d" % i: {} for i in range(1, 10)}
    found = problems(replicaset_filters, hostvars)
    assert len(found) == 1 and "9 voting members" in found[0] and "1 to 7" in found[0]


def test_seven_voters_and_non_voting_extras_are_fine(replicaset_filters):
    hostvars = {"db%d" % i: {} for i in range(1, 8)}
    hostvars["db8"] = {"replicaset_member_votes": 0}
    assert problems(replicaset_filters, hostvars) == []


@pytest.mark.parametrize("variable,value,named", [
    ("replicaset_member_priority", 2, "replicaset_member_priority"),
    ("replicaset_member_hidden", True, "replicaset_member_hidden"),
    ("replicaset_member_secondary_delay_secs", 60, "replicaset_member_secondary_delay_secs"),
    ("replicaset_member_build_indexes", True, "replicaset_member_build_indexes"),
    ("replicaset_member_tags", {"dc": "a"}, "replicaset_member_tags"),
    ("replicaset_member_votes", 0, "replicaset_member_votes"),
])
def test_arbiter_with_data_options_is_refused(replicaset_filters, variable, value, named):
    hostvars = {"db1": {}, "db2": {}, "arb": {"replicaset_member_arbiter_only": True, variable: value}}
    found = problems(replicaset_filters, hostvars)
    arbiter_messages = [m for m in found if m.startswith("host arb:") and "arbiter" in m]
    assert len(arbiter_messages) == 1, found
    assert named in arbiter_messages[0]


@pytest.mark.parametrize("variable,value", [
    ("replicaset_member_hidden", True),
    ("replicaset_member_secondary_delay_secs", 120),
    ("replicaset_member_votes", 0),
    ("replicaset_member_build_indexes", False),
])
def test_member_that_cannot_be_primary_with_priority_is_refused(replicaset_filters, variable, value):
    hostvars = pss(db4={variable: value, "replicaset_member_priority": 1, "replicaset_member_votes": 0})
    if variable == "replicaset_member_votes":
        hostvars["db4"] = {variable: value, "replicaset_member_priority": 1}
    found = problems(replicaset_filters, hostvars)
    assert any("host db4" in m and variable in m and "replicaset_member_priority must be 0" in m for m in found), found


def test_duplicate_addresses_are_refused_case_insensitively(replicaset_filters):
    hostvars = {"a": {"replicaset_member_host": "DB.example"}, "b": {"replicaset_member_host": "db.example"},
                "c": {}}
    found = problems(replicaset_filters, hostvars)
    assert len(found) == 1, found
    assert "(a, b)" in found[0] and "db.example:27017" in found[0].lower() and "twice" in found[0]


def test_same_name_on_other_port_is_not_a_duplicate(replicaset_filters):
    hostvars = {"a": {"replicaset_member_host": "h"}, "b": {"replicaset_member_host": "h", "mongod_port": 27018},
                "c": {"replicaset_member_host": "h", "replicaset_member_port": 27019}}
    assert problems(replicaset_filters, hostvars) == []


def test_out_of_range_values_are_refused(replicaset_filters):
    hostvars = {"a": {"replicaset_member_priority": 1001}, "b": {"replicaset_member_votes": 2},
                "c": {"replicaset_member_port": 70000},
                "d": {"replicaset_member_secondary_delay_secs": -1, "replicaset_member_priority": 0},
                "e": {"replicaset_member_hidden": "perhaps"}}
    found = " | ".join(problems(replicaset_filters, hostvars))
    assert "host a: replicaset_member_priority must be from 0 to 1000" in found
    assert "host b: replicaset_member_votes must be 0 or 1" in found
    assert "host c: replicaset_member_port is out of range (1 to 65535)" in found
    assert "host d: replicaset_member_secondary_delay_secs must be from 0 to 31622400" in found
    assert "host e: replicaset_member_hidden must be true or false" in found


def test_no_electable_member_is_refused(replicaset_filters):
    hostvars = {"a": {"replicaset_member_priority": 0}, "b": {"replicaset_member_priority": 0},
                "c": {"replicaset_member_arbiter_only": True}}
    found = problems(replicaset_filters, hostvars)
    assert len(found) == 1 and "no member that can become primary" in found[0]


def test_mixing_loopback_and_other_addresses_is_refused(replicaset_filters):
    hostvars = {"a": {"replicaset_member_host": "127.0.0.1"}, "b": {}, "c": {}}
    found = problems(replicaset_filters, hostvars)
    assert len(found) == 1 and "localhost" in found[0] and "(a)" in found[0], found
    loopback_only = {h: {"replicaset_member_host": "localhost", "mongod_port": p}
                     for h, p in (("a", 1), ("b", 2), ("c", 3))}
    assert problems(replicaset_filters, loopback_only) == []


def test_horizons_must_be_declared_alike(replicaset_filters):
    hostvars = {"a": {"replicaset_member_horizons": {"ext": "a.example:1"}}, "b": {}, "c": {}}
    found = problems(replicaset_filters, hostvars)
    assert len(found) == 1 and "horizon" in found[0]


def test_empty_group_is_refused(replicaset_filters):
    found = replicaset_filters.replicaset_member_problems({}, [], group="mongodb_replicaset")
    assert found == ["mongodb_replicaset has no members: declare at least one (three for a production set)"]


def test_more_than_fifty_members_is_refused(replicaset_filters):
    hostvars = {"db%d" % i: {"replicaset_member_votes": 0} for i in range(51)}
    hostvars["db0"] = {}
    found = problems(replicaset_filters, hostvars)
    assert any("51 members" in m and "1 to 50" in m for m in found), found


def test_several_problems_are_all_reported(replicaset_filters):
    hostvars = {"a": {"replicaset_member_host": "x"}, "b": {"replicaset_member_host": "x"},
                "c": {"replicaset_member_hidden": True, "replicaset_member_priority": 5}, "d": {}}
    found = problems(replicaset_filters, hostvars)
    assert len(found) == 3, found  # duplicate, hidden with priority, 4 voters


# ---------------------------------------------------------------- restart order


def test_restart_order_puts_primary_last(replicaset_filters):
    order = replicaset_filters.replicaset_restart_order(
        ["db1", "db2", "db3", "arb"], {"db1": "PRIMARY", "db2": "SECONDARY", "db3": "SECONDARY", "arb": "ARBITER"})
    assert order == ["db2", "db3", "arb", "db1"]


def test_restart_order_without_primary_keeps_order(replicaset_filters):
    assert replicaset_filters.replicaset_restart_order(["b", "a"], {"a": "SECONDARY"}) == ["b", "a"]


def test_restart_order_refuses_two_primaries(replicaset_filters):
    with pytest.raises(AnsibleFilterError, match="more than one primary"):
        replicaset_filters.replicaset_restart_order(["a", "b"], {"a": "PRIMARY", "b": "primary"})


# ---------------------------------------------------------------- preferred host


def test_preferred_host_is_the_highest_priority_electable_member(replicaset_filters):
    hostvars = {"arb": {"replicaset_member_arbiter_only": True},
                "hidden": {"replicaset_member_hidden": True},
                "db1": {"replicaset_member_priority": 1},
                "db2": {"replicaset_member_priority": "5"},
                "db3": {"replicaset_member_priority": 5},
                "nonvoting": {"replicaset_member_votes": 0, "replicaset_member_priority": 9}}
    assert replicaset_filters.replicaset_preferred_host(hostvars, list(hostvars)) == "db2"


def test_preferred_host_defaults_to_the_first_electable_host(replicaset_filters):
    hostvars = {"arb": {"replicaset_member_arbiter_only": True}, "db1": {}, "db2": {}}
    assert replicaset_filters.replicaset_preferred_host(hostvars, ["arb", "db1", "db2"]) == "db1"


def test_preferred_host_is_none_without_electable_member(replicaset_filters):
    hostvars = {"a": {"replicaset_member_priority": 0}, "b": {"replicaset_member_votes": "x"}}
    assert replicaset_filters.replicaset_preferred_host(hostvars, ["a", "b"]) is None


def test_filter_module_exports_every_filter(replicaset_filters):
    exported = replicaset_filters.FilterModule().filters()
    assert set(exported) == {"replicaset_members", "replicaset_member_addresses", "replicaset_member_problems",
                             "replicaset_restart_order", "replicaset_preferred_host", "replicaset_status_table",
                             "replicaset_roles_match",
                             "replicaset_declaration"}


class CountingHostvars(dict):
    """hostvars that count how often each host's variables are looked up (each lookup is costly in Ansible)."""

    def __init__(self, *args):
        dict.__init__(self, *args)
        self.reads = {}

    def __getitem__(self, host):
        self.reads[host] = self.reads.get(host, 0) + 1
        return dict.__getitem__(self, host)


def test_declaration_gives_everything_from_one_read_per_host(replicaset_filters):
    plain = {"DB1": {"replicaset_member_priority": 3}, "db2": {"replicaset_member_port": "27018"},
             "arb": {"replicaset_member_arbiter_only": "yes"}}
    hostvars = CountingHostvars(plain)
    hosts = list(plain)
    found = replicaset_filters.replicaset_declaration(hostvars, hosts, group="g",
                                                      settings={"heartbeat_timeout_secs": 0})
    assert hostvars.reads == {host: 1 for host in hosts}
    assert found["members"] == replicaset_filters.replicaset_members(plain, hosts)
    assert found["addresses"] == replicaset_filters.replicaset_member_addresses(plain, hosts)
    assert found["addresses"]["DB1"] == "db1:27017"
    assert found["preferred_host"] == replicaset_filters.replicaset_preferred_host(plain, hosts) == "DB1"
    assert found["problems"] == replicaset_filters.replicaset_member_problems(
        plain, hosts, group="g", settings={"heartbeat_timeout_secs": 0})
    assert found["problems"] == ["replicaset_settings.heartbeat_timeout_secs must be at least 1, got 0"]


# ---------------------------------------------------------------- status table


def test_status_table_lists_members_and_tolerance(replicaset_filters):
    status = {
        "primary": "db1:27017",
        "members": [
            {"name": "db1:27017", "state": "PRIMARY", "health": 1, "lag": 0, "votes": 1, "priority": 2},
            {"name": "db2:27017", "state": "SECONDARY", "health": 1, "lag": 1.25, "votes": 1, "priority": 1},
            {"name": "db4.example.net:27017", "state": "(not reachable/healthy)", "health": 0, "votes": 0,
             "priority": 0},
        ],
        "fault_tolerance": {"overall": 1, "per_tag": {"dc": {
            "east": {"remaining_votes": 0, "majority_kept": False},
            "west": {"remaining_votes": 1, "majority_kept": True}}}},
    }
    lines = replicaset_filters.replicaset_status_table(status)
    assert lines[0].split() == ["member", "state", "health", "lag", "(s)", "votes", "priority"]
    assert lines[1].split() == ["db1:27017", "PRIMARY", "up", "0", "1", "2"]
    assert lines[2].split() == ["db2:27017", "SECONDARY", "up", "1.25", "1", "1"]
    assert lines[3].split()[0] == "db4.example.net:27017" and "down" in lines[3] and " - " in lines[3]
    # columns line up
    assert len({line.index("up") for line in lines[1:3]}) == 1
    assert "primary: db1:27017" in lines
    assert "fault tolerance: 1 voting member(s) can fail with a primary still elected" in lines
    assert "fault tolerance by dc: east=0 votes remain (majority lost), west=1 votes remain (majority kept)" in lines


def test_status_table_without_primary_or_members(replicaset_filters):
    lines = replicaset_filters.replicaset_status_table(
        {"members": [], "fault_tolerance": {"overall": 0, "voting_members": 0, "majority": 0, "per_tag": {}}})
    assert lines[1:] == ["primary: none", "fault tolerance: 0 voting member(s) can fail with a primary still elected"]


def test_a_second_arbiter_is_refused_unless_allowed(replicaset_filters):
    hostvars = {"db%d" % i: {} for i in range(1, 4)}
    arbiter = {"replicaset_member_arbiter_only": True}
    hostvars.update({"arb1": dict(arbiter), "arb2": dict(arbiter)})
    hosts = sorted(hostvars)
    found = replicaset_filters.replicaset_member_problems(hostvars, hosts, group="mongodb_replicaset")
    assert any("2 arbiters (arb1, arb2)" in problem and "replicaset_allow_multiple_arbiters" in problem
               for problem in found), found
    check = replicaset_filters.replicaset_member_problems
    allowed = check(hostvars, hosts, group="mongodb_replicaset", allow_multiple_arbiters=True)
    assert not any("arbiters" in problem for problem in allowed), allowed


def test_roles_match_only_exactly_the_declared_roles(replicaset_filters):
    match = replicaset_filters.replicaset_roles_match
    root = [{"role": "root", "db": "admin"}]
    assert match(root, ["root"], "admin")
    assert match(root, [{"role": "root"}], "admin")
    assert match(root, [{"role": "root", "db": "admin"}])
    # Order does not matter; a role missing, extra or on another database does.
    two = [{"role": "readWrite", "db": "app"}, {"role": "root", "db": "admin"}]
    assert match(list(reversed(two)), ["root", {"role": "readWrite", "db": "app"}], "admin")
    assert not match(root, ["root", {"role": "readWrite", "db": "app"}], "admin")
    assert not match(two, ["root"], "admin")
    assert not match(root, ["root"], "ops")
    # Not known (no login with credentials) never matches, not even no roles.
    assert not match(None, [], "admin")
    assert match([], [], "admin")
    with pytest.raises(AnsibleFilterError, match="replicaset_roles_match: roles"):
        match(root, "root", "admin")
