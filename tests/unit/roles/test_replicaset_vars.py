"""When the replicaset role leaves the admin user alone (roles/replicaset/vars/main.yml, _replicaset_admin_in_place).

connect.yml logs in as the admin; that login proves the user and its password. users.yml calls the user module for
the admin only when the login did not work with credentials or its roles differ from replicaset_admin_roles.
Rendered with plain Jinja and the collection's filter.
"""

import importlib.util
import pathlib

import jinja2
import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[3]
ROLE = ROOT / "roles" / "replicaset"

_spec = importlib.util.spec_from_file_location("quorum_filter_replicaset_vars",
                                               ROOT / "plugins" / "filter" / "replicaset.py")
FILTERS = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(FILTERS)


def admin_in_place(**facts):
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    env.filters["quorum.mongodb.replicaset_roles_match"] = FILTERS.replicaset_roles_match
    scope = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    scope.update(facts)
    text = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())["_replicaset_admin_in_place"]
    return env.from_string(text).render(scope).strip() == "True"


ROOT_ROLE = [{"role": "root", "db": "admin"}]


@pytest.mark.parametrize("facts, in_place", [
    ({"__replicaset_login": "credentials", "__replicaset_member": {"login_roles": ROOT_ROLE}}, True),
    # The declared roles changed: the module grants and revokes.
    ({"__replicaset_login": "credentials", "__replicaset_member": {"login_roles": ROOT_ROLE},
      "replicaset_admin_roles": ["root", {"role": "clusterMonitor", "db": "admin"}]}, False),
    ({"__replicaset_login": "credentials", "__replicaset_member": {"login_roles": ROOT_ROLE},
      "replicaset_admin_roles": ["userAdminAnyDatabase"]}, False),
    ({"__replicaset_login": "credentials", "__replicaset_member": {"login_roles": ROOT_ROLE},
      "replicaset_admin_database": "ops"}, False),
    # No login with credentials (first run, the localhost exception, admin_first.yml's creation): the module runs.
    ({"__replicaset_login": "localhost_exception", "__replicaset_member": {"login_roles": None}}, False),
    ({"__replicaset_login": "no_authorization", "__replicaset_member": {"login_roles": None}}, False),
    ({"__replicaset_login": "credentials", "__replicaset_member": {"login_roles": None}}, False),
    # A member module without login_roles (an older answer) or no answer at all.
    ({"__replicaset_login": "credentials", "__replicaset_member": {}}, False),
    ({}, False),
])
def test_the_admin_is_left_alone_only_when_its_login_holds_the_declared_roles(facts, in_place):
    assert admin_in_place(**facts) is in_place
