"""playbooks/site.yml refuses a bad inventory before any host is touched.

Each case is an inventory with one mistake. The hosts are this machine under
other names (ansible_connection: local). The run is
``site.yml --tags site_preflight --skip-tags always``: the checks (the first two
plays) carry the tag site_preflight and no task of the roles' play does, so
even a preflight that wrongly passed runs nothing of the roles; this holds by
construction, not by --check, and test_the_roles_play_selects_nothing_under_the_preflight_tags
proves it with --list-tasks (the roles' few always-tagged tasks are what
--skip-tags always excludes). What is asserted: the run fails, with a message
naming the variable or host, and no task of the roles' play ran.
"""

import os
import pathlib
import subprocess
import sys

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"
KEY = "a" * 64
PASSWORD = "preflight-test-password"
# Only the checks: see the module docstring.
PREFLIGHT_ONLY = ("--tags", "site_preflight", "--skip-tags", "always")


def inventory(hosts, **group_vars):
    base = {"mongod_keyfile_content": KEY, "replicaset_admin_password": PASSWORD,
            "ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    base.update(group_vars)
    return {"all": {"children": {"mongodb_replicaset": {"hosts": hosts, "vars": base}}}}


def three(**extra):
    hosts = {"db1": {}, "db2": {}, "db3": {}}
    for name, variables in extra.items():
        hosts[name] = variables
    return hosts


def seven_plus(count):
    return {"db%d" % i: {} for i in range(1, count + 1)}


CASES = [
    ("port inside replicaset_member_host",
     inventory(three(db3={"replicaset_member_host": "db3.example.com:27018"})),
     "host db3: replicaset_member_host 'db3.example.com:27018' carries a port; give the host alone and the port "
     "in replicaset_member_port"),
    ("replicaset_name against the mongod role's default", inventory(three(), replicaset_name="rs1"),
     'got replicaset_name "rs1" and mongod_replset_name "rs0"'),
    ("settings out of range, not a bool, unknown",
     inventory(three(), replicaset_settings={"heartbeat_timeout_secs": -1, "chaining_allowed": "maybe",
                                             "bogus": 1}),
     "replicaset_settings.heartbeat_timeout_secs must be at least 1, got -1"),
    ("arbiter without the data members' horizons",
     inventory({"db1": {"replicaset_member_horizons": {"ext": "e1.example:1"}},
                "db2": {"replicaset_member_horizons": {"ext": "e2.example:1"}},
                "arb": {"replicaset_member_arbiter_only": True}}), "arbiters too"),
    ("even number of voters", inventory(seven_plus(4)), "number of voting members must be odd"),
    ("more than 7 voters", inventory(seven_plus(9)), "mongod requires 1 to 7"),
    ("arbiter with data options",
     inventory(three(db3={"replicaset_member_arbiter_only": True, "replicaset_member_priority": 1})), "db3"),
    ("hidden member with priority",
     inventory(three(db3={"replicaset_member_hidden": True, "replicaset_member_priority": 2})), "db3"),
    ("delayed member with priority",
     inventory(three(db3={"replicaset_member_secondary_delay_secs": 3600, "replicaset_member_priority": 1})),
     "db3"),
    ("two members with the same address",
     inventory(three(db3={"replicaset_member_host": "db1"})), "lists db1:27017 twice (db1, db3)"),
    ("auth without a key", inventory(three(), mongod_keyfile_content=None), "mongod_keyfile"),
    ("auth without an admin password", inventory(three(), replicaset_admin_password=None),
     "replicaset_admin_password"),
    ("oplog below mongod's minimum", inventory(three(db2={"mongod_oplog_size_mb": 512})),
     "db2: mongod_oplog_size_mb is 512"),
    ("negative oplog retention", inventory(three(), mongod_oplog_min_retention_hours=-2),
     "mongod_oplog_min_retention_hours must be 0 or more"),
    ("TLS without its files", inventory(three(), mongod_tls_mode="requireTLS"), "mongod_tls"),
    ("second arbiter", inventory({"db1": {}, "db2": {}, "db3": {}, "a1": {"replicaset_member_arbiter_only": True},
                                  "a2": {"replicaset_member_arbiter_only": True}}), "allowMultipleArbiters"),
    ("feature compatibility version as a number", inventory(three(), replicaset_feature_compatibility_version=8.0),
     'replicaset_feature_compatibility_version must be a release series in quotes, such as "8.0"'),
    ("feature compatibility version with a patch", inventory(three(), replicaset_feature_compatibility_version="8.0.4"),
     'got "8.0.4"'),
    ("an archive of another series than install_mongodb_version",
     inventory(three(), install_method="archive", install_mongodb_version="8.0",
               install_archive_src="/nonexistent/mongodb-linux-x86_64-debian12-7.0.14.tgz",
               install_archive_checksum="sha256:" + "0" * 64),
     "mongodb-linux-x86_64-debian12-7.0.14 is MongoDB 7.0.14, not a release of install_mongodb_version"),
]


def run_site(tmp_path, hosts_file, *options):
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump(hosts_file))
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", ANSIBLE_RETRY_FILES_ENABLED="0",
               ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default", ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"))
    playbook = str(VENV_BIN / "ansible-playbook") if (VENV_BIN / "ansible-playbook").exists() else "ansible-playbook"
    proc = subprocess.run([playbook, "-i", str(path), str(ROOT / "playbooks" / "site.yml"), *options],
                          capture_output=True, text=True, check=False, env=env, timeout=600)
    return proc, proc.stdout + proc.stderr


def _without_unset(hosts_file):
    variables = hosts_file["all"]["children"]["mongodb_replicaset"]["vars"]
    for key in [k for k, v in variables.items() if v is None]:
        del variables[key]
    return hosts_file


def roles_play_tasks(output):
    """Task lines run under the roles' play (everything after its header)."""
    if "PLAY [Install and run mongod" not in output:
        return []
    after = output.split("PLAY [Install and run mongod", 1)[1]
    return [line for line in after.splitlines() if line.startswith("TASK [")]


@pytest.mark.parametrize("case, hosts_file, words", CASES, ids=[case[0] for case in CASES])
def test_bad_inventory_stops_in_preflight(tmp_path, case, hosts_file, words):
    proc, output = run_site(tmp_path, _without_unset(hosts_file), *PREFLIGHT_ONLY)
    assert proc.returncode != 0, "%s: site.yml did not fail\n%s" % (case, output)
    assert words in output, "%s: the failure does not say %r\n%s" % (case, words, output)
    # Nothing after the preflight play ran: its play header never appears.
    assert "PLAY [Install and run mongod" not in output, "%s: the roles ran\n%s" % (case, output)
    assert PASSWORD not in output and KEY not in output, "%s: a secret was printed" % case


def test_settings_problems_are_all_reported_at_once(tmp_path):
    bad = inventory(three(), replicaset_settings={"heartbeat_timeout_secs": -1, "chaining_allowed": "maybe",
                                                  "bogus": 1})
    proc, output = run_site(tmp_path, bad, *PREFLIGHT_ONLY)
    assert proc.returncode != 0
    for words in ("replicaset_settings.heartbeat_timeout_secs must be at least 1",
                  "replicaset_settings.chaining_allowed must be true or false, got 'maybe'",
                  "replicaset_settings.bogus is not a setting"):
        assert words in output, output


def test_an_empty_group_fails_the_run(tmp_path):
    # The whole site.yml, untagged: with no host in the group the roles' play has nothing to run on.
    empty = {"all": {"children": {"mongodb_replicaset": {"hosts": {}},
                                  "others": {"hosts": {"db1": {"ansible_connection": "local"}}}}}}
    proc, output = run_site(tmp_path, empty)
    assert proc.returncode != 0, output
    assert "The inventory group mongodb_replicaset (replicaset_group) has no hosts" in output, output
    assert not roles_play_tasks(output), output


def test_a_valid_inventory_passes_and_the_roles_play_runs_nothing(tmp_path):
    proc, output = run_site(tmp_path, inventory(three()), *PREFLIGHT_ONLY)
    assert proc.returncode == 0, output
    assert "TASK [quorum.mongodb.replicaset : Check the members and settings declared in the inventory]" in output
    assert not roles_play_tasks(output), output
    assert PASSWORD not in output and KEY not in output


def test_the_roles_play_selects_nothing_under_the_preflight_tags(tmp_path):
    proc, output = run_site(tmp_path, inventory(three()), "--list-tasks", *PREFLIGHT_ONLY)
    assert proc.returncode == 0, output
    plays = output.split("  play #")
    roles = [p for p in plays if "Install and run mongod" in p.splitlines()[0]]
    checks = [p for p in plays if "Check every member's variables" in p.splitlines()[0]]
    assert len(roles) == 1 and len(checks) == 1, output
    tasks = [line for line in roles[0].splitlines()[1:] if "TAGS:" in line and "TASK TAGS" not in line]
    assert tasks == [], "tasks of the roles' play would run under %s: %s" % (PREFLIGHT_ONLY, tasks)
    assert any("TAGS:" in line for line in checks[0].splitlines()[1:]), output


def test_tls_files_that_do_not_fit_stop_in_preflight(tmp_path):
    from mongosim import testing
    pki = testing.make_test_pki(tmp_path / "pki", ["db1", "db2", "db3"])
    other = testing.make_test_pki(tmp_path / "other", ["db3"], ca_name="another CA")
    hosts = three(db2={"mongod_tls_certificate_key_file_src": pki["db1"]},
                  db3={"mongod_tls_certificate_key_file_src": other["db3"]})
    hosts["db1"] = {"mongod_tls_certificate_key_file_src": pki["db1"]}
    hosts_file = inventory(hosts, mongod_tls_mode="requireTLS", mongod_tls_ca_file_src=pki["ca"])
    proc, output = run_site(tmp_path, hosts_file, *PREFLIGHT_ONLY)
    assert proc.returncode != 0, output
    assert "db2: mongod_tls_certificate_key_file_src (%s) holds a certificate that does not name db2" % pki["db1"] \
        in output
    assert "db3: mongod_tls_certificate_key_file_src (%s) holds a certificate issued by" % other["db3"] in output
    assert "db1: " not in output.split("Check that the TLS files belong together", 1)[1].split("TASK [", 1)[0]
    assert "PLAY [Install and run mongod" not in output
    assert "PRIVATE KEY" not in output


def test_the_roles_check_for_themselves_when_tags_leave_the_checks_play_out(tmp_path):
    # The roles' play skips the install and mongod roles' checks only for the hosts the first play checked in
    # this run. Under --tags mongod_configure that play runs nothing, so the mongod role checks on its own, in
    # the roles' play, and stops there.
    bad = inventory(three(db2={"mongod_oplog_size_mb": 512}))
    proc, output = run_site(tmp_path, bad, "--tags", "mongod_configure", "--check")
    assert proc.returncode != 0, output
    assert "db2: mongod_oplog_size_mb is 512" in output, output
    ran = roles_play_tasks(output)
    assert any("quorum.mongodb.mongod : Check" in line for line in ran), output
    assert not any("Write mongod.conf" in line for line in ran), output
    assert PASSWORD not in output and KEY not in output
