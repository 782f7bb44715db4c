"""The option table (replicaset_schema) against every place that lists the options by hand, so they cannot drift:
the module's DOCUMENTATION and argument_spec(), the role's meta/argument_specs.yml and defaults/main.yml, and
README.md's member-option text."""

import pathlib
import re

import pytest
import yaml

from ansible_collections.quorum.mongodb.plugins.module_utils import replicaset_schema as schema
from ansible_collections.quorum.mongodb.plugins.modules import replicaset as module

ROOT = pathlib.Path(__file__).resolve().parents[4]
ROLE = ROOT / "roles" / "replicaset"
DOC = yaml.safe_load(module.DOCUMENTATION)
SPEC = module.argument_spec()
ROLE_SPEC = yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
DEFAULTS = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
DEFAULTS_TEXT = (ROLE / "defaults" / "main.yml").read_text()
README = (ROOT / "README.md").read_text()


def rows(table):
    return {row.name: row for row in table}


@pytest.mark.parametrize("option, table", [("members", schema.MEMBER_SCHEMA), ("settings", schema.SETTINGS_SCHEMA)])
def test_documentation_suboptions_are_the_table(option, table):
    documented = DOC["options"][option]["suboptions"]
    assert set(documented) == set(rows(table))
    for name, row in rows(table).items():
        assert documented[name]["type"] == row.type, name


@pytest.mark.parametrize("option, table", [("members", schema.MEMBER_SCHEMA), ("settings", schema.SETTINGS_SCHEMA)])
def test_argument_spec_suboptions_are_the_table(option, table):
    assert set(SPEC[option]["options"]) == set(rows(table))
    for name, row in rows(table).items():
        assert SPEC[option]["options"][name]["type"] == row.type, name
    if option == "members":
        assert SPEC[option]["options"]["host"]["required"] is True


def test_module_options_of_the_table_match_documentation_and_spec():
    for row in schema.MODULE_SCHEMA:
        assert DOC["options"][row.name]["type"] == row.type, row.name
        assert SPEC[row.name]["type"] == row.type, row.name
        if row.default not in (None, {}):
            assert DOC["options"][row.name]["default"] == row.default, row.name
            assert SPEC[row.name]["default"] == row.default, row.name


def test_documented_ranges_are_the_tables():
    text = yaml.safe_dump(DOC["options"])
    for row in schema.MEMBER_SCHEMA + schema.SETTINGS_SCHEMA + schema.MODULE_SCHEMA:
        if row.maximum is not None:
            assert str(row.maximum) in text, row.name
    members = DOC["options"]["members"]["suboptions"]
    assert "0 to 1000" in " ".join(members["priority"]["description"])
    assert "31622400" in " ".join(members["secondary_delay_secs"]["description"])
    for name in ("heartbeat_interval_millis", "heartbeat_timeout_secs", "election_timeout_millis"):
        assert "at least 1" in DOC["options"]["settings"]["suboptions"][name]["description"], name


def test_role_argument_specs_have_every_member_variable_with_its_type():
    for row in schema.MEMBER_SCHEMA + (schema.PORT,):
        assert row.variable in ROLE_SPEC, row.variable
        assert ROLE_SPEC[row.variable]["type"] == row.type, row.variable
        assert "default" not in ROLE_SPEC[row.variable], "%s is a host variable; it has no role default" % row.variable


def test_role_argument_specs_have_every_setting_with_its_type():
    settings = ROLE_SPEC[schema.SETTINGS_VARIABLE]
    assert settings["type"] == "dict"
    assert set(settings["options"]) == set(rows(schema.SETTINGS_SCHEMA))
    for name, row in rows(schema.SETTINGS_SCHEMA).items():
        assert settings["options"][name]["type"] == row.type, name


def test_role_variables_of_module_options_match_type_and_default():
    for row in schema.MODULE_SCHEMA:
        assert ROLE_SPEC[row.variable]["type"] == row.type, row.variable
        assert ROLE_SPEC[row.variable]["default"] == row.default, row.variable
        assert DEFAULTS[row.variable] == row.default, row.variable
    assert DEFAULTS[schema.SETTINGS_VARIABLE] == {}


def test_defaults_comments_name_every_member_option_and_setting():
    for row in schema.MEMBER_SCHEMA[1:]:
        assert "_" + row.name in DEFAULTS_TEXT, row.name
    for row in schema.SETTINGS_SCHEMA:
        assert row.name in DEFAULTS_TEXT, row.name


def test_readme_names_every_member_variable():
    start = README.index("Member options are host variables")
    text = README[start:start + 1200]
    for row in schema.MEMBER_SCHEMA[1:]:
        assert re.search(r"`(replicaset_member)?_%s`" % row.name, text), row.name
    assert "`replicaset_member_host`" in text and "`replicaset_member_port`" in text


def test_every_variable_name_translates():
    assert schema.variable_name("priority") == "replicaset_member_priority"
    assert schema.variable_name("settings.heartbeat_timeout_secs") == "replicaset_settings.heartbeat_timeout_secs"
    assert schema.variable_name("default_write_concern.w") == "replicaset_default_write_concern.w"
    assert schema.variable_name("port", "mongod_port") == "mongod_port"
    assert schema.variable_name("wait_timeout") == "replicaset_wait_timeout"
    assert schema.variable_name("members") == "members"


def test_role_descriptions_are_text():
    def walk(options):
        for name, option in options.items():
            description = option["description"]
            items = description if isinstance(description, list) else [description]
            assert all(isinstance(item, str) for item in items), name
            walk(option.get("options") or {})
    walk(ROLE_SPEC)
