"""Preflight and the module give the same verdict on the same declaration.

Hypothesis generates declarations (members with valid and invalid options and hosts, and settings),
written once as the module's parameters and once as an inventory (hostvars, with values as an inventory
gives them: often strings). The preflight filter (replicaset_member_problems) and the module's validation
(AnsibleModule's type conversion, then replicaset_config.desired_declaration, what main() runs before
connecting) must both accept, or both
refuse with the same set of problem kinds. The one rule preflight adds by design is its policy of an odd
number of voters: the "even-voters" kind, asserted on its own.
"""

import copy

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.errors import ArgumentTypeError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.quorum.mongodb.plugins.module_utils.replicaset_config import (
    ConfigError,
    check_declaration,
    desired_declaration,
)
from ansible_collections.quorum.mongodb.plugins.modules.replicaset import argument_spec

VALIDATOR = ArgumentSpecValidator(argument_spec())

NAMES = ["db1.example", "db2.example", "db3.example", "DB1.example", "10.0.0.7", "localhost", "127.0.0.2",
         "db 4", "10.0.0.300", "-bad", "x_y"]
PORTS = [27017, 27018, 0, 70000]


def _inventory_value(draw, value):
    """How an inventory may spell a value: as it is, or as a string Ansible converts back."""
    if isinstance(value, bool):
        return draw(st.sampled_from([value, "yes" if value else "no", str(value).lower()]))
    if isinstance(value, (int, float)):
        return draw(st.sampled_from([value, str(value)]))
    return value


@st.composite
def member(draw):
    options = {}
    for name, values in (
        ("priority", st.one_of(st.sampled_from([0, 1, 2, 0.5, 1001, -1]), st.just("high"))),
        ("votes", st.sampled_from([0, 1, 2])),
        ("hidden", st.booleans()),
        ("arbiter_only", st.booleans()),
        ("build_indexes", st.booleans()),
        ("secondary_delay_secs", st.sampled_from([0, 60, -1, 31622401])),
        ("tags", st.sampled_from([{"dc": "a"}, {"dc": "b"}, {"rack": 1}])),
        ("horizons", st.sampled_from([{"ext": "e1.example:1"}, {"ext": "e2.example:2"}, {"int": "i.example:3"},
                                      {"ext": "10.1.1.1:1"}])),
    ):
        if draw(st.integers(0, 3)) == 0:
            options[name] = draw(values)
    return draw(st.sampled_from(NAMES)), draw(st.sampled_from(PORTS)), options


SETTINGS = st.dictionaries(
    st.sampled_from(["chaining_allowed", "heartbeat_timeout_secs", "election_timeout_millis",
                     "catch_up_timeout_millis", "bogus"]),
    st.sampled_from([True, False, -2, -1, 0, 1, 10000, "maybe"]), max_size=3)


@st.composite
def declaration(draw):
    members = draw(st.lists(member(), min_size=1, max_size=9))
    return members, draw(SETTINGS), draw(st.booleans())


def module_verdict(params):
    """The problem kinds the module finds: AnsibleModule's own argument validation (type conversion),
    then main()'s desired_declaration on what it validated."""
    result = VALIDATOR.validate(copy.deepcopy(dict(params, name="rs0")))
    # A value AnsibleModule cannot convert is a "type" problem; an unknown key (UnsupportedError) is left in
    # the validated parameters, where the rule book names it (unknown-setting).
    kinds = {"type"} if any(isinstance(e, ArgumentTypeError) for e in result.errors.errors) else set()
    try:
        desired_declaration(result.validated_parameters)
    except ConfigError as exc:
        assert exc.problems, "ConfigError without problems"
        kinds |= {p.kind for p in exc.problems}
    return kinds


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), case=declaration())
def test_preflight_and_module_agree(replicaset_filters, data, case):
    members, wanted_settings, multiple_arbiters = case
    module_members = [dict({"host": "%s:%d" % (name, port)}, **options) for name, port, options in members]
    hostvars, hosts = {}, []
    for index, (name, port, options) in enumerate(members):
        host = "h%d" % index
        spelled_port = data.draw(st.sampled_from([port, str(port)]))
        variables = {"replicaset_member_host": name, "replicaset_member_port": spelled_port}
        for option, value in options.items():
            variables["replicaset_member_" + option] = _inventory_value(data.draw, value)
        hostvars[host] = variables
        hosts.append(host)
    params = {"members": module_members, "settings": wanted_settings or None, "default_write_concern": None,
              "wait_timeout": 600, "step_down_secs": 60, "allow_multiple_arbiters": multiple_arbiters}
    module_kinds = module_verdict(params)
    found = replicaset_filters.replicaset_member_problems(
        hostvars, hosts, group="g", settings=wanted_settings, allow_multiple_arbiters=multiple_arbiters, details=True)
    preflight_kinds = {p["kind"] for p in found}
    # inventory-side spelling of the host: name and port apart
    preflight_kinds = {"host" if kind in ("host-port", "port") else kind for kind in preflight_kinds}
    module_kinds = {"host" if kind in ("host-port", "port") else kind for kind in module_kinds}
    assert preflight_kinds - {"even-voters"} == module_kinds, (found, module_kinds)
    voters = [m for m in check_declaration(module_members).members if m["votes"]]
    expect_even = "voters" not in module_kinds and len(voters) % 2 == 0
    assert ("even-voters" in preflight_kinds) == expect_even, (found, len(voters))
    for problem in found:
        # every preflight message names the host (per-member problems) and speaks in variable names
        if problem["host"] is not None:
            assert problem["message"].startswith("host %s: " % problem["host"]), problem
        if problem["variable"]:
            assert problem["variable"].startswith("replicaset_") or problem["variable"] in ("mongod_port", "members"), \
                problem
