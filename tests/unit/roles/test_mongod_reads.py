"""When the mongod role reuses what an earlier task of the same run read from a member (roles/mongod/vars/main.yml).

The version check asks each running member for its authentication stage and, where TLS is asked for, the TLS mode
it runs; auth_stage.yml and tls_stage.yml use those answers instead of asking again only while the very process
that answered still runs (its systemd MainPID is the one
unit_state.yml read). Rendered as Ansible itself templates it.
"""

import pathlib

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

ROOT = pathlib.Path(__file__).resolve().parents[3]
VARS = yaml.safe_load((ROOT / "roles" / "mongod" / "vars" / "main.yml").read_text())


def read_again(name, **facts):
    """The role's variable ``name`` rendered with the role's other variables and ``facts``, as a bool."""
    role_vars = dict((key, trust_as_template(value) if isinstance(value, str) else value)
                     for key, value in VARS.items())
    templar = Templar(loader=DataLoader(), variables=dict(role_vars, **facts))
    return templar.template(trust_as_template(VARS[name])) in (True, "True", "true")


def stage_read(**facts):
    return read_again("_mongod_auth_stage_read", **facts)


ANSWERED = {"state": "PRIMARY", "auth_stage": "none", "service_main_pid": 4242}


@pytest.mark.parametrize("facts, reused", [
    ({"__mongod_version_member": ANSWERED, "__mongod_unit": {"MainPID": "4242"}}, True),
    # Restarted since (the upgrade play, another start): a new process is asked again.
    ({"__mongod_version_member": ANSWERED, "__mongod_unit": {"MainPID": "5151"}}, False),
    ({"__mongod_version_member": ANSWERED, "__mongod_unit": {"MainPID": "0"}}, False),
    # The version check did not ask for the stage, or systemd could not tell the process.
    ({"__mongod_version_member": dict(ANSWERED, auth_stage=None), "__mongod_unit": {"MainPID": "4242"}}, False),
    ({"__mongod_version_member": {"state": "PRIMARY", "service_main_pid": 4242},
      "__mongod_unit": {"MainPID": "4242"}}, False),
    ({"__mongod_version_member": dict(ANSWERED, service_main_pid=0), "__mongod_unit": {"MainPID": "0"}}, False),
    # No version check in this run (the role on its own, or its version check skipped by tags).
    ({"__mongod_unit": {"MainPID": "4242"}}, False),
])
def test_the_authentication_stage_is_read_again_unless_the_same_process_answered(facts, reused):
    assert stage_read(**facts) is reused


@pytest.mark.parametrize("facts, reused", [
    ({"__mongod_version_member": dict(ANSWERED, tls_mode="allowTLS"), "__mongod_unit": {"MainPID": "4242"}}, True),
    ({"__mongod_version_member": dict(ANSWERED, tls_mode="allowTLS"), "__mongod_unit": {"MainPID": "5151"}}, False),
    # Not asked (no TLS asked for), or not known (the login may not run getParameter).
    ({"__mongod_version_member": ANSWERED, "__mongod_unit": {"MainPID": "4242"}}, False),
    ({"__mongod_version_member": dict(ANSWERED, tls_mode=None), "__mongod_unit": {"MainPID": "4242"}}, False),
    ({"__mongod_unit": {"MainPID": "4242"}}, False),
])
def test_the_tls_mode_is_read_again_unless_the_same_process_answered(facts, reused):
    assert read_again("_mongod_tls_mode_read", **facts) is reused
