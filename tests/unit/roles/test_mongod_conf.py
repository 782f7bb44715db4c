"""The mongod role's mongod.conf, rendered for a table of inputs and parsed back.

The template is rendered with Jinja2 and the same filters Ansible gives it
(ansible's comment/to_nice_yaml/bool and the collection's mongod_conf), with the
role's defaults and vars as context, the way a play would resolve them. Each
case compares the parsed document with what mongod should be given.
"""

import importlib.util
import itertools
import os
import pathlib

import jinja2
import pytest
import yaml
from ansible.plugins.filter import core as ansible_core

ROOT = pathlib.Path(__file__).resolve().parents[3]
ROLE = ROOT / "roles" / "mongod"


def _load_filter_plugin(name):
    spec = importlib.util.spec_from_file_location("quorum_filter_" + name, ROOT / "plugins" / "filter" / (name + ".py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MONGOD_FILTERS = _load_filter_plugin("mongod")

DEBIAN_FACTS = {"os_family": "Debian", "default_ipv4": {"address": "198.51.100.5"}}
REDHAT_FACTS = {"os_family": "RedHat", "default_ipv4": {"address": "198.51.100.6"}}
MANAGED = "Ansible managed: mongod.conf.j2"


def environment():
    # trim_blocks as in ansible.builtin.template.
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, trim_blocks=True,
                             extensions=["jinja2.ext.do"])
    env.filters.update({
        "to_nice_yaml": ansible_core.to_nice_yaml,
        "comment": ansible_core.comment,
        "bool": ansible_core.to_bool,
        "dirname": os.path.dirname,
        "quorum.mongodb.mongod_conf": MONGOD_FILTERS.mongod_conf,
    })
    return env


# Role variables that need a lookup on the controller or a task's result (or Ansible-only filters), and play no
# part in mongod.conf.
NOT_RENDERED = {"_mongod_keyfile_text", "_mongod_keyfile_target_text", "_mongod_lag_with_credentials",
                "_mongod_watched_paths", "_mongod_tls_installed_paths", "_mongod_auth_stage_read",
                "_mongod_version_named", "_mongod_version_same_process", "_mongod_tls_mode_read"}


def resolve(env, values, context):
    """Render role variables that are templates until they stop changing."""
    resolved = {key: value for key, value in values.items() if key not in NOT_RENDERED}
    for _round in range(10):
        changed = False
        for key, value in resolved.items():
            if isinstance(value, str) and "{{" in value:
                scope = dict(context, **resolved)
                rendered = env.from_string(value).render(scope)
                try:
                    parsed = yaml.safe_load(rendered) if rendered.strip().startswith(("[", "{")) else rendered
                except yaml.YAMLError:
                    parsed = rendered
                if parsed != value:
                    resolved[key] = parsed
                    changed = True
        if not changed:
            return resolved
    raise AssertionError("role variables did not resolve: %r" % resolved)


def role_variables(env, facts, overrides):
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    internal = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())
    context = {"ansible_facts": facts}
    values = dict(defaults, **internal)
    values.update(overrides)
    return resolve(env, values, context), context


def render(overrides=None, facts=None):
    env = environment()
    values, context = role_variables(env, DEBIAN_FACTS if facts is None else facts, overrides or {})
    template = env.from_string((ROLE / "templates" / "mongod.conf.j2").read_text())
    text = template.render(dict(context, ansible_managed=MANAGED, **values))
    return text, yaml.safe_load(text)


SECURE_DEFAULT = {
    "storage": {"dbPath": "/var/lib/mongodb"},
    "systemLog": {"destination": "file", "path": "/var/log/mongodb/mongod.log", "logAppend": True,
                  "logRotate": "rename"},
    "net": {"port": 27017, "bindIp": "127.0.0.1,198.51.100.5"},
    "processManagement": {"timeZoneInfo": "/usr/share/zoneinfo"},
    "replication": {"replSetName": "rs0"},
    "security": {"authorization": "enabled", "keyFile": "/etc/mongodb/keyfile"},
}


def test_defaults_are_secure_and_complete():
    text, conf = render()
    assert conf == SECURE_DEFAULT
    assert text.startswith("#\n# " + MANAGED)
    # Sections in a stable, readable order, not sorted alphabetically.
    assert list(conf) == ["storage", "systemLog", "net", "processManagement", "replication", "security"]


def test_redhat_hosts_get_the_rpm_data_directory():
    conf = render(facts=REDHAT_FACTS)[1]
    assert conf["storage"]["dbPath"] == "/var/lib/mongo"
    assert conf["net"]["bindIp"] == "127.0.0.1,198.51.100.6"


def test_a_host_without_default_route_listens_on_loopback_only():
    conf = render(facts={"os_family": "Debian", "default_ipv4": {}})[1]
    assert conf["net"]["bindIp"] == "127.0.0.1"


CASES = [
    ("bind all interfaces", {"mongod_bind_ip_all": True},
     {"net": {"port": 27017, "bindIpAll": True}}),
    ("explicit addresses and port", {"mongod_bind_ip": ["127.0.0.1", "10.1.2.3", "db1.internal"], "mongod_port": 27018},
     {"net": {"port": 27018, "bindIp": "127.0.0.1,10.1.2.3,db1.internal"}}),
    ("ipv6", {"mongod_ipv6": True}, {"net": {"port": 27017, "bindIp": "127.0.0.1,198.51.100.5", "ipv6": True}}),
    ("authorization off removes the keyFile", {"mongod_authorization": "disabled"},
     {"security": {"authorization": "disabled"}}),
    ("the middle stage of authorization turned on in a running set",
     {"mongod_authorization": "enabled", "__mongod_auth_transition": True},
     {"security": {"authorization": "enabled", "transitionToAuth": True, "keyFile": "/etc/mongodb/keyfile"}}),
    ("transition to auth keeps the keyFile", {"mongod_authorization": "disabled", "mongod_transition_to_auth": True},
     {"security": {"authorization": "disabled", "transitionToAuth": True, "keyFile": "/etc/mongodb/keyfile"}}),
    ("x509 members need no keyFile",
     {"mongod_cluster_auth_mode": "x509", "mongod_tls_mode": "requireTLS",
      "mongod_tls_certificate_key_file_src": "a.pem", "mongod_tls_ca_file_src": "ca.pem"},
     {"security": {"authorization": "enabled", "clusterAuthMode": "x509"}}),
    ("sendX509 still sends the keyFile", {"mongod_cluster_auth_mode": "sendX509"},
     {"security": {"authorization": "enabled", "keyFile": "/etc/mongodb/keyfile", "clusterAuthMode": "sendX509"}}),
    ("keyFile elsewhere", {"mongod_keyfile_path": "/srv/key"},
     {"security": {"authorization": "enabled", "keyFile": "/srv/key"}}),
    ("requireTLS with CA and cluster file",
     {"mongod_tls_mode": "requireTLS", "mongod_tls_certificate_key_file_src": "files/db1.pem",
      "mongod_tls_ca_file_src": "files/ca.pem", "mongod_tls_cluster_file_src": "files/db1-cluster.pem"},
     {"net": {"port": 27017, "bindIp": "127.0.0.1,198.51.100.5", "tls": {
         "mode": "requireTLS", "certificateKeyFile": "/etc/mongodb/tls/server.pem", "CAFile": "/etc/mongodb/tls/ca.pem",
         "clusterFile": "/etc/mongodb/tls/cluster.pem", "allowConnectionsWithoutCertificates": False,
         "disabledProtocols": "TLS1_0,TLS1_1"}}}),
    ("allowTLS without cluster file, protocols left to mongod, key password",
     {"mongod_tls_mode": "allowTLS", "mongod_tls_certificate_key_file_src": "a.pem", "mongod_tls_ca_file_src": "ca.pem",
      "mongod_tls_disabled_protocols": "", "mongod_tls_allow_connections_without_certificates": True,
      "mongod_tls_certificate_key_file_password": "s3cret"},
     {"net": {"port": 27017, "bindIp": "127.0.0.1,198.51.100.5", "tls": {
         "mode": "allowTLS", "certificateKeyFile": "/etc/mongodb/tls/server.pem",
         "certificateKeyFilePassword": "s3cret", "CAFile": "/etc/mongodb/tls/ca.pem",
         "allowConnectionsWithoutCertificates": True}}}),
    ("oplog size and cache", {"mongod_oplog_size_mb": 2048, "mongod_wiredtiger_cache_size_gb": 1.5},
     {"replication": {"replSetName": "rs0", "oplogSizeMB": 2048},
      "storage": {"dbPath": "/var/lib/mongodb", "wiredTiger": {"engineConfig": {"cacheSizeGB": 1.5}}}}),
    ("numbers given as strings (extra vars) are written as numbers",
     {"mongod_oplog_size_mb": "4096", "mongod_wiredtiger_cache_size_gb": "2", "mongod_port": "27019"},
     {"replication": {"replSetName": "rs0", "oplogSizeMB": 4096},
      "storage": {"dbPath": "/var/lib/mongodb", "wiredTiger": {"engineConfig": {"cacheSizeGB": 2.0}}},
      "net": {"port": 27019, "bindIp": "127.0.0.1,198.51.100.5"}}),
    ("oplog minimum retention", {"mongod_oplog_min_retention_hours": 24},
     {"storage": {"dbPath": "/var/lib/mongodb", "oplogMinRetentionHours": 24.0}}),
    ("other set name and data path", {"mongod_replset_name": "analytics", "mongod_db_path": "/data/db"},
     {"replication": {"replSetName": "analytics"}, "storage": {"dbPath": "/data/db"}}),
    ("journal logging", {"mongod_log_destination": "stdout"}, {"systemLog": None}),
    ("syslog", {"mongod_log_destination": "syslog"}, {"systemLog": {"destination": "syslog"}}),
    ("reopen for logrotate", {"mongod_log_rotate": "reopen"},
     {"systemLog": {"destination": "file", "path": "/var/log/mongodb/mongod.log", "logAppend": True,
                    "logRotate": "reopen"}}),
    ("server parameters",
     {"mongod_set_parameters": {"enableLocalhostAuthBypass": False, "diagnosticDataCollectionEnabled": False}},
     {"setParameter": {"enableLocalhostAuthBypass": False, "diagnosticDataCollectionEnabled": False}}),
    ("extra settings merge, win, and null removes",
     {"mongod_config_extra": {"net": {"maxIncomingConnections": 2000, "port": 27999},
                              "processManagement": {"timeZoneInfo": None},
                              "operationProfiling": {"mode": "slowOp", "slowOpThresholdMs": 50}}},
     {"net": {"port": 27999, "bindIp": "127.0.0.1,198.51.100.5", "maxIncomingConnections": 2000},
      "processManagement": None,
      "operationProfiling": {"mode": "slowOp", "slowOpThresholdMs": 50}}),
]


@pytest.mark.parametrize("overrides,expected_sections", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_rendered_sections(overrides, expected_sections):
    conf = render(overrides)[1]
    for section, expected in expected_sections.items():
        if expected is None:
            assert section not in conf, conf
        else:
            assert conf[section] == expected
    # Sections the case does not mention keep their secure defaults.
    for section, default in SECURE_DEFAULT.items():
        if section not in expected_sections and section != "net":
            assert conf[section] == default, section


def test_every_combination_is_a_well_formed_document_mongod_accepts():
    axes = [
        [{}, {"mongod_authorization": "disabled"}, {"mongod_cluster_auth_mode": "sendKeyFile"}],
        [{}, {"mongod_tls_mode": "preferTLS", "mongod_tls_certificate_key_file_src": "a",
              "mongod_tls_ca_file_src": "c"}],
        [{}, {"mongod_bind_ip_all": True}],
        [{}, {"mongod_log_destination": "stdout"}, {"mongod_log_destination": "syslog"}],
        [{}, {"mongod_oplog_size_mb": 990}, {"mongod_oplog_size_mb": 2048, "mongod_oplog_min_retention_hours": 0}],
    ]
    for combination in itertools.product(*axes):
        overrides = {}
        for part in combination:
            overrides.update(part)
        text, conf = render(overrides)
        assert isinstance(conf, dict) and conf["net"]["port"] == 27017, text
        assert MONGOD_FILTERS.mongod_conf_problems(conf, "8.0") == [], (overrides, text)
        assert "None" not in text and "null" not in text, text


def test_removed_options_given_as_extra_are_caught_by_preflight_filter():
    conf = render({"mongod_config_extra": {"storage": {"journal": {"enabled": True}}}})[1]
    problems = MONGOD_FILTERS.mongod_conf_problems(conf, "7.0")
    assert len(problems) == 1 and "storage.journal.enabled" in problems[0]


def test_the_oplog_settings_alone_do_not_change_the_restart_digest():
    digest = MONGOD_FILTERS.mongod_conf_restart_digest
    base = digest(render()[1])
    for overrides in ({"mongod_oplog_size_mb": 2048}, {"mongod_oplog_size_mb": 4096},
                      {"mongod_oplog_size_mb": 990, "mongod_oplog_min_retention_hours": 12}):
        assert digest(render(overrides)[1]) == base, overrides
    for overrides in ({"mongod_port": 27018}, {"mongod_oplog_size_mb": 2048, "mongod_authorization": "disabled"},
                      {"mongod_wiredtiger_cache_size_gb": 1}):
        assert digest(render(overrides)[1]) != base, overrides


def test_the_tls_mode_alone_does_not_change_the_restart_digest_but_turning_tls_on_does():
    digest = MONGOD_FILTERS.mongod_conf_restart_digest
    files = {"mongod_tls_certificate_key_file_src": "/ca/m1.pem", "mongod_tls_ca_file_src": "/ca/ca.pem"}
    confs = dict((mode, render(dict(files, mongod_tls_mode=mode))[1])
                 for mode in ("disabled", "allowTLS", "preferTLS", "requireTLS"))
    assert confs["preferTLS"]["net"]["tls"]["mode"] == "preferTLS"
    assert digest(confs["allowTLS"]) == digest(confs["preferTLS"]) == digest(confs["requireTLS"])
    assert digest(confs["disabled"]) != digest(confs["allowTLS"])
    # The digest of earlier releases keeps the mode: a record with it is still recognised (service.yml).
    legacy = set(digest(conf, tls_mode_at_runtime=False) for conf in confs.values())
    assert len(legacy) == 4
    assert digest(confs["disabled"], tls_mode_at_runtime=False) == digest(confs["disabled"])
