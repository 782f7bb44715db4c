"""playbooks/site.yml refuses a bad inventory before any host is touched.

Each case is an inventory with one mistake. The hosts are this machine under
other names (ansible_connection: local), and the playbook runs in check mode,
so even a preflight that wrongly passed could not change anything here. What is
asserted: the run fails in the first play (the preflight), with a message that
names the variable or host, and no task of the roles' later plays ran.
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
    ("even number of voters", inventory(seven_plus(4)), "number of voting members must be odd"),
    ("more than 7 voters", inventory(seven_plus(9)), "at most 7 may vote"),
    ("arbiter with data options",
     inventory(three(db3={"replicaset_member_arbiter_only": True, "replicaset_member_priority": 1})), "db3"),
    ("hidden member with priority",
     inventory(three(db3={"replicaset_member_hidden": True, "replicaset_member_priority": 2})), "db3"),
    ("delayed member with priority",
     inventory(three(db3={"replicaset_member_secondary_delay_secs": 3600, "replicaset_member_priority": 1})),
     "db3"),
    ("two members with the same address",
     inventory(three(db3={"replicaset_member_host": "db1"})), "both declare the member address"),
    ("auth without a key", inventory(three(), mongod_keyfile_content=None), "mongod_keyfile"),
    ("auth without an admin password", inventory(three(), replicaset_admin_password=None),
     "replicaset_admin_password"),
    ("TLS without its files", inventory(three(), mongod_tls_mode="requireTLS"), "mongod_tls"),
    ("second arbiter", inventory({"db1": {}, "db2": {}, "db3": {}, "a1": {"replicaset_member_arbiter_only": True},
                                  "a2": {"replicaset_member_arbiter_only": True}}), "allowMultipleArbiters"),
]


@pytest.mark.parametrize("case, hosts_file, words", CASES, ids=[case[0] for case in CASES])
def test_bad_inventory_stops_in_preflight(tmp_path, case, hosts_file, words):
    variables = hosts_file["all"]["children"]["mongodb_replicaset"]["vars"]
    for key in [k for k, v in variables.items() if v is None]:
        del variables[key]
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump(hosts_file))
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", ANSIBLE_RETRY_FILES_ENABLED="0",
               ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default", ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"))
    playbook = str(VENV_BIN / "ansible-playbook") if (VENV_BIN / "ansible-playbook").exists() else "ansible-playbook"
    proc = subprocess.run([playbook, "-i", str(path), str(ROOT / "playbooks" / "site.yml"), "--check"],
                          capture_output=True, text=True, check=False, env=env, timeout=600)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, "%s: site.yml did not fail\n%s" % (case, output)
    assert words in output, "%s: the failure does not say %r\n%s" % (case, words, output)
    # Nothing after the preflight play ran: its play header never appears.
    assert "PLAY [Install and run mongod" not in output, "%s: the roles ran\n%s" % (case, output)
    assert PASSWORD not in output and KEY not in output, "%s: a secret was printed" % case
