"""The rule book (replicaset_config.check_declaration) on the module's side: a corpus of bad module
parameters, each refused before any connection with a message naming the culprit (the member and the
option), and every problem reported at once."""

import pytest

from ansible_collections.quorum.mongodb.plugins.module_utils.replicaset_config import (
    ConfigError,
    can_become_primary,
    canonical_host,
    check_declaration,
    desired_declaration,
    desired_members,
    electable,
    validate_members,
)

PSS = [{"host": "db1"}, {"host": "db2"}, {"host": "db3"}]


def params(members=None, **options):
    out = {"members": PSS if members is None else members, "settings": None, "default_write_concern": None,
           "wait_timeout": 600, "step_down_secs": 60, "allow_multiple_arbiters": False}
    out.update(options)
    return out


def with_member(**options):
    return PSS[:2] + [dict({"host": "db3"}, **options)]


# (id, module parameters, who must be named, option that must be named, words of the rule)
CORPUS = [
    # ---- host syntax (3a)
    ("space before the port", params([{"host": "127.0.0.1 :27017"}]), "127.0.0.1 :27017", "host", "space"),
    ("space inside a name", params(PSS[:2] + [{"host": "db 3"}]), "db 3", "host", "space"),
    ("empty host", params(PSS[:2] + [{"host": " "}]), None, "host", "empty"),
    ("port zero", params(PSS[:2] + [{"host": "db3:0"}]), "db3:0", "host", "out of range 1-65535"),
    ("port too big", params(PSS[:2] + [{"host": "db3:65536"}]), "db3:65536", "host", "out of range 1-65535"),
    ("port not a number", params(PSS[:2] + [{"host": "db3:abc"}]), "db3:abc", "host", "must be a number"),
    ("unbracketed IPv6", params(PSS[:2] + [{"host": "fd00::3"}]), "fd00::3", "host", "[brackets]"),
    ("brackets around a name", params(PSS[:2] + [{"host": "[db3]:27017"}]), "[db3]:27017", "host",
     "not an IPv6 address"),
    ("unbalanced bracket", params(PSS[:2] + [{"host": "[fd00::3:27017"}]), "[fd00::3:27017", "host",
     "unbalanced"),
    ("junk after bracket", params(PSS[:2] + [{"host": "[fd00::3]x"}]), "[fd00::3]x", "host", "':port'"),
    ("bad IPv4", params(PSS[:2] + [{"host": "10.0.0.300"}]), "10.0.0.300", "host", "IPv4"),
    ("slash in a name", params(PSS[:2] + [{"host": "db3/rs0"}]), "db3/rs0", "host", "not a host name"),
    ("label starting with a dash", params(PSS[:2] + [{"host": "-db3.example"}]), "-db3.example", "host",
     "not a host name"),
    ("empty label", params(PSS[:2] + [{"host": "db3..example"}]), "db3..example", "host", "not a host name"),
    ("a member that is not a dict", params(PSS[:2] + [42]), "members[2]", None, "host string or a dict"),
    # ---- member options
    ("priority too high", params(with_member(priority=1001)), "db3:27017", "priority", "from 0 to 1000"),
    ("negative priority", params(with_member(priority=-1)), "db3:27017", "priority", "from 0 to 1000"),
    ("priority not a number", params(with_member(priority="high")), "db3:27017", "priority", "a number"),
    ("votes 2", params(with_member(votes=2)), "db3:27017", "votes", "0 or 1"),
    ("votes a bool", params(with_member(votes=True)), "db3:27017", "votes", "whole number"),
    ("hidden a string", params(with_member(hidden="yes")), "db3:27017", "hidden", "true or false"),
    ("delay negative", params(with_member(secondary_delay_secs=-1, priority=0)), "db3:27017",
     "secondary_delay_secs", "from 0 to 31622400"),
    ("delay over a year", params(with_member(secondary_delay_secs=31622401, priority=0)), "db3:27017",
     "secondary_delay_secs", "from 0 to 31622400"),
    ("tags not a dict", params(with_member(tags=["dc"])), "db3:27017", "tags", "dictionary"),
    ("tag value a number", params(with_member(tags={"rack": 1})), "db3:27017", "tags.rack", "string"),
    ("hidden with priority", params(with_member(hidden=True, priority=1)), "db3:27017", "priority",
     "hidden is true"),
    ("delayed with priority", params(with_member(secondary_delay_secs=60, priority=1)), "db3:27017", "priority",
     "secondary_delay_secs is set"),
    ("no index builds with priority", params(with_member(build_indexes=False, priority=1)), "db3:27017",
     "priority", "build_indexes is false"),
    ("non-voting with priority", params(with_member(votes=0, priority=1)), "db3:27017", "priority",
     "votes is 0"),
    ("arbiter without a vote", params(with_member(arbiter_only=True, votes=0)), "db3:27017", "votes",
     "an arbiter must vote"),
    ("arbiter with priority", params(with_member(arbiter_only=True, priority=1)), "db3:27017", "priority",
     "arbiter has priority 0"),
    ("arbiter with tags", params(with_member(arbiter_only=True, tags={"dc": "a"})), "db3:27017", "tags",
     "tags on arbiters"),
    ("hidden arbiter", params(with_member(arbiter_only=True, hidden=True)), "db3:27017", "hidden",
     "holds no data"),
    ("delayed arbiter", params(with_member(arbiter_only=True, secondary_delay_secs=5)), "db3:27017",
     "secondary_delay_secs", "holds no data"),
    ("arbiter with build_indexes", params(with_member(arbiter_only=True, build_indexes=True)), "db3:27017",
     "build_indexes", "holds no data"),
    ("unknown member option", params(with_member(prio=1)), "db3:27017", "prio", "not a member option"),
    # ---- horizons (mongod's rules)
    ("horizon on an IP", params([{"host": "db1", "horizons": {"ext": "10.0.0.1:1"}}]), "db1:27017",
     "horizons.ext", "IP address"),
    ("horizon named __default", params([{"host": "db1", "horizons": {"__default": "x.example:1"}}]),
     "db1:27017", "horizons", "__default"),
    ("horizon not host:port", params([{"host": "db1", "horizons": {"ext": "x y"}}]), "db1:27017",
     "horizons.ext", "space"),
    ("horizon sharing the member's host name", params([{"host": "db1", "horizons": {"ext": "db1:2"}}]),
     "db1:27017", "horizons.ext", "own host name"),
    ("arbiter without the data members' horizons",
     params([{"host": "db1", "horizons": {"ext": "e1.example:1"}}, {"host": "db2", "horizons": {"ext": "e2.example:1"}},
             {"host": "arb", "arbiter_only": True}]), "arb:27017", "horizons", "arbiters too"),
    ("horizon address used twice",
     params([{"host": "db1", "horizons": {"ext": "e.example:1"}}, {"host": "db2", "horizons": {"ext": "e.example:1"}},
             {"host": "db3", "horizons": {"ext": "f.example:1"}}]), "db1:27017", "horizons", "more than once"),
    # ---- the whole set
    ("duplicate member", params(PSS + [{"host": "DB1:27017"}]), "db1:27017", None, "twice"),
    ("localhost mixed", params([{"host": "localhost:1"}, {"host": "db2"}, {"host": "db3"}]), "localhost:1",
     "host", "localhost"),
    ("eight voters", params([{"host": "h%d" % i} for i in range(8)]), "h7:27017", "votes", "8 voting members"),
    ("no voter", params([{"host": "h%d" % i, "votes": 0} for i in range(3)]), None, "votes", "0 voting members"),
    ("two arbiters", params(PSS + [{"host": "a1", "arbiter_only": True}, {"host": "a2", "arbiter_only": True}]),
     "a2:27017", "allow_multiple_arbiters", "2 arbiters"),
    ("nobody can be primary", params([{"host": "a", "priority": 0}, {"host": "b", "priority": 0}]), None,
     "priority", "no member that can become primary"),
    ("51 members", params([{"host": "h%d" % i, "votes": 1 if i < 7 else 0} for i in range(51)]), None,
     "members", "51 members"),
    ("no members", params([]), None, "members", "no members"),
    # ---- settings
    ("negative heartbeat timeout", params(settings={"heartbeat_timeout_secs": -1}), None,
     "settings.heartbeat_timeout_secs", "at least 1"),
    ("zero election timeout", params(settings={"election_timeout_millis": 0}), None,
     "settings.election_timeout_millis", "at least 1"),
    ("heartbeat interval a string", params(settings={"heartbeat_interval_millis": "fast"}), None,
     "settings.heartbeat_interval_millis", "whole number"),
    ("catch-up below -1", params(settings={"catch_up_timeout_millis": -2}), None,
     "settings.catch_up_timeout_millis", "at least -1"),
    ("catch-up takeover below -1", params(settings={"catch_up_takeover_delay_millis": -5}), None,
     "settings.catch_up_takeover_delay_millis", "at least -1"),
    ("chaining maybe", params(settings={"chaining_allowed": "maybe"}), None, "settings.chaining_allowed",
     "true or false"),
    ("unknown setting", params(settings={"protocol_version": 1}), None, "settings.protocol_version",
     "not a setting"),
    ("mode not a dict", params(settings={"get_last_error_modes": {"dc2": 2}}), None,
     "settings.get_last_error_modes.dc2", "dictionary"),
    ("mode count zero", params([dict(m, tags={"dc": m["host"]}) for m in PSS],
                               settings={"get_last_error_modes": {"dc2": {"dc": 0}}}), None,
     "settings.get_last_error_modes.dc2.dc", "at least 1"),
    ("mode on an unknown tag", params(settings={"get_last_error_modes": {"dc2": {"dc": 2}}}), None,
     "settings.get_last_error_modes.dc2", "no member has"),
    # ---- default write concern (3b)
    ("w zero", params(default_write_concern={"w": 0}), None, "default_write_concern.w", "at least 1"),
    ("w negative", params(default_write_concern={"w": -1}), None, "default_write_concern.w", "at least 1"),
    ("w unknown mode", params(default_write_concern={"w": "dc2"}), None, "default_write_concern.w",
     "get_last_error_modes"),
    ("w a list", params(default_write_concern={"w": [1]}), None, "default_write_concern.w", "whole number"),
    ("w missing", params(default_write_concern={"j": True}), None, "default_write_concern", "needs w"),
    ("wtimeout negative", params(default_write_concern={"w": 1, "wtimeout": -1}), None,
     "default_write_concern.wtimeout", "at least 0"),
    ("j a string", params(default_write_concern={"w": 1, "j": "yes"}), None, "default_write_concern.j",
     "true or false"),
    ("unknown write concern key", params(default_write_concern={"w": 1, "fsync": True}), None,
     "default_write_concern.fsync", "not a write concern field"),
    ("write concern not a dict", params(default_write_concern="majority"), None, "default_write_concern",
     "dictionary"),
    # ---- the module's numeric options (3b)
    ("wait_timeout zero", params(wait_timeout=0), None, "wait_timeout", "from 1 to 2147483"),
    ("wait_timeout over maxTimeMS", params(wait_timeout=3000000), None, "wait_timeout", "from 1 to 2147483"),
    ("step_down_secs zero", params(step_down_secs=0), None, "step_down_secs", "at least 1"),
    ("step_down_secs negative", params(step_down_secs=-10), None, "step_down_secs", "at least 1"),
]


@pytest.mark.parametrize("given, who, option, words", [c[1:] for c in CORPUS], ids=[c[0] for c in CORPUS])
def test_bad_parameters_are_refused_naming_the_culprit(given, who, option, words):
    with pytest.raises(ConfigError) as err:
        desired_declaration(given)
    messages = err.value.messages
    message = str(err.value)
    assert message == "; ".join(messages)
    matching = [m for m in messages if words in m]
    assert matching, message
    if who is not None:
        assert any(who in m for m in matching), "%r not named in %s" % (who, matching)
    if option is not None:
        assert any(option in m for m in matching), "%r not named in %s" % (option, matching)
    assert len(messages) == len(err.value.problems)


def test_the_corpus_is_large_enough():
    assert len(CORPUS) >= 60


def test_every_problem_is_reported_at_once():
    given = params([{"host": "127.0.0.1 :27017"}, {"host": "db2", "hidden": True, "priority": 2},
                    {"host": "db3", "votes": 5}], settings={"heartbeat_timeout_secs": 0, "bogus": 1},
                   default_write_concern={"w": 0}, wait_timeout=0, step_down_secs=0)
    with pytest.raises(ConfigError) as err:
        desired_declaration(given)
    kinds = sorted(p.kind for p in err.value.problems)
    assert kinds == sorted(["host", "priority-hidden", "range", "range", "unknown-setting", "write-concern-w",
                            "range", "range"]), kinds
    assert {p.option for p in err.value.problems} >= {"host", "priority", "votes", "settings.heartbeat_timeout_secs",
                                                      "settings", "default_write_concern.w", "wait_timeout",
                                                      "step_down_secs"}


def test_desired_members_and_settings_raise_every_problem_too():
    with pytest.raises(ConfigError) as err:
        desired_members([{"host": "a", "votes": 2}, {"host": "b", "priority": -1}])
    assert [p.member for p in err.value.problems] == [0, 1]
    assert "member a:27017: votes" in str(err.value) and "member b:27017: priority" in str(err.value)


def test_a_valid_declaration_passes_whole():
    members, settings = desired_declaration(params(
        [{"host": "db1", "tags": {"dc": "a"}}, {"host": "db2", "tags": {"dc": "b"}},
         {"host": "arb", "arbiter_only": True}],
        settings={"get_last_error_modes": {"two_dcs": {"dc": 2}}, "chaining_allowed": False},
        default_write_concern={"w": "two_dcs", "wtimeout": 0, "j": True}))
    assert [m["host"] for m in members] == ["db1:27017", "db2:27017", "arb:27017"]
    assert settings == {"getLastErrorModes": {"two_dcs": {"dc": 2}}, "chainingAllowed": False}
    assert desired_declaration(params(default_write_concern={"w": "majority"}))[1] == {}
    assert desired_declaration(params(default_write_concern={}))[0][0]["priority"] == 1


def test_horizons_alike_on_every_member_including_the_arbiter_are_valid():
    members = desired_members([{"host": "db1", "horizons": {"ext": "e1.example:1"}},
                               {"host": "db2", "horizons": {"ext": "e2.example:1"}},
                               {"host": "arb", "arbiter_only": True, "horizons": {"ext": "e3.example:1"}}])
    assert [sorted(m["horizons"]) for m in members] == [["ext"]] * 3


@pytest.mark.parametrize("given, expected", [
    ("db1.example.com", "db1.example.com:27017"),
    ("DB_1", "db_1:27017"),
    ("10.0.0.1:27018", "10.0.0.1:27018"),
    ("[::1]", "[::1]:27017"),
    ("[fd00::10.0.0.1]:1", "[fd00::10.0.0.1]:1"),
    ("  db1:2  ", "db1:2"),
])
def test_host_syntax_accepts_names_ipv4_and_bracketed_ipv6(given, expected):
    assert canonical_host(given) == expected


def test_validate_members_reports_every_whole_set_rule():
    members = [{"host": "h%d:1" % i, "votes": 1, "arbiterOnly": i >= 6, "priority": 0, "hidden": False,
                "buildIndexes": True, "secondaryDelaySecs": 0, "tags": {}} for i in range(9)]
    with pytest.raises(ConfigError) as err:
        validate_members(members, what="step 2 of the plan")
    assert sorted(p.kind for p in err.value.problems) == ["arbiters", "no-primary", "voters"]
    assert str(err.value).startswith("step 2 of the plan has 9 voting members")
    # newlyAdded members are not voters (mongod does not count them)
    for m in members[1:6]:
        m["newlyAdded"] = True
    members[0]["priority"] = 1
    validate_members(members[:6])


def test_electable_keeps_its_meaning_and_can_become_primary_checks_everything():
    base = {"host": "h:1", "priority": 1, "arbiterOnly": False, "votes": 1, "hidden": False,
            "secondaryDelaySecs": 0, "buildIndexes": True}
    assert electable(base) and can_become_primary(base)
    for change in ({"votes": 0}, {"hidden": True}, {"secondaryDelaySecs": 5}, {"buildIndexes": False}):
        assert electable(dict(base, **change)) and not can_become_primary(dict(base, **change))
    assert not electable(dict(base, newlyAdded=True)) and not can_become_primary(dict(base, newlyAdded=True))


def test_problems_render_with_other_names():
    decl = check_declaration([{"host": "db1", "port": 27017, "hidden": True, "priority": 3}])
    (problem,) = [p for p in decl.problems if p.kind == "priority-hidden"]
    text = problem.render(name=lambda option, member: "var_" + option, label=lambda i: "inv%d" % i, noun="host")
    assert text == "host inv0: var_priority must be 0 (or unset) when var_hidden is true (mongod's rule), got 3"


def test_the_inventory_form_refuses_a_port_inside_the_host():
    decl = check_declaration([{"host": "db3.example.com:27018", "port": 27017}])
    assert [p.kind for p in decl.problems] == ["host-port"]
    assert "{port}" in decl.problems[0].template
    ok = check_declaration([{"host": "fd00::3", "port": 27018}, {"host": "[fd00::4]", "port": 27018}])
    assert [m["host"] for m in ok.members] == ["[fd00::3]:27018", "[fd00::4]:27018"] and not ok.problems
