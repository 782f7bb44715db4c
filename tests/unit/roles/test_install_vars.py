"""The install role's derived variables (roles/install/vars/main.yml) for the versions and repository files.

Rendered with Jinja and the filters they use, as Ansible would: the version each host is to run (given to the
version check in playbooks/site.yml) and the repository files of other series that the role removes. The
role's list of series is held to the one of the version rules (plugins/module_utils/replicaset_versions.py).
"""

import importlib.util
import os
import pathlib

import jinja2
import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.filter import core as ansible_core
from ansible.template import Templar, trust_as_template

from ansible_collections.quorum.mongodb.plugins.module_utils.replicaset_versions import SUPPORTED

ROOT = pathlib.Path(__file__).resolve().parents[3]
ROLE = ROOT / "roles" / "install"

_spec = importlib.util.spec_from_file_location("quorum_filter_install", ROOT / "plugins" / "filter" / "install.py")
INSTALL_FILTERS = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(INSTALL_FILTERS)

# Rendered with plain Jinja and the collection's filter (no backslash in them, where the two differ).
RENDERED = ("_install_archive_file", "_install_archive_dirname", "_install_archive_version",
            "_install_target_version")


def render(os_family="Debian", **overrides):
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    env.filters.update({"regex_replace": ansible_core.regex_replace, "basename": os.path.basename,
                        "quorum.mongodb.install_archive_version": INSTALL_FILTERS.install_archive_version})
    env.tests["eq"] = lambda a, b: a == b
    scope = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    scope.update(overrides)
    scope["ansible_facts"] = {"os_family": os_family}
    internal = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())
    scope.update({name: value for name, value in internal.items() if not isinstance(value, str)})
    for name in RENDERED:
        text = env.from_string(internal[name]).render(scope).strip()
        scope[name] = yaml.safe_load(text) if text.startswith("[") else text
    return scope


def test_the_role_installs_the_series_the_version_rules_know():
    internal = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())
    assert tuple(internal["_install_series"]) == SUPPORTED


@pytest.mark.parametrize("overrides, version", [
    ({"install_method": "repository", "install_mongodb_version": "8.0", "install_package_version": ""}, "8.0"),
    ({"install_method": "repository", "install_mongodb_version": "8.0", "install_package_version": "8.0.4"},
     "8.0.4"),
    ({"install_method": "archive", "install_mongodb_version": "8.0",
      "install_archive_src": "/srv/mongodb-linux-x86_64-debian12-8.0.5.tgz"}, "8.0.5"),
    ({"install_method": "archive", "install_mongodb_version": "8.0",
      "install_archive_url": "https://fastdl.mongodb.org/linux/mongodb-linux-x86_64-debian12-8.0.4.tgz"}, "8.0.4"),
    # A renamed archive carries no version: the series stands.
    ({"install_method": "archive", "install_mongodb_version": "7.0", "install_archive_src": "/srv/mongod.tgz"},
     "7.0"),
    # The pin belongs to the repository method; an archive's own release wins.
    ({"install_method": "archive", "install_mongodb_version": "7.0", "install_package_version": "7.0.2",
      "install_archive_src": "/srv/mongodb-linux-x86_64-debian12-7.0.14.tgz"}, "7.0.14"),
])
def test_the_version_each_host_is_to_run(overrides, version):
    assert render(**overrides)["_install_target_version"] == version


def ansible_render(name, os_family, **variables):
    """One role variable as Ansible itself templates it. Plain Jinja differs where it matters here: it reads
    '\\\\1' in a string literal as a group reference, Ansible keeps both backslashes (the first version of
    the list below passed with plain Jinja and removed nothing on a host)."""
    internal = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())
    scope = {key: value for key, value in internal.items() if not isinstance(value, str) or "{{" not in value}
    scope.update(variables, ansible_facts={"os_family": os_family})
    return Templar(loader=DataLoader(), variables=scope).template(trust_as_template(internal[name]))


def test_the_other_series_repository_files_are_the_ones_removed():
    debian = ansible_render("_install_stale_repository_paths", "Debian", install_mongodb_version="8.0")
    assert debian == [
        "/etc/apt/keyrings/mongodb-server-6.0.asc", "/etc/apt/keyrings/mongodb-server-7.0.asc",
        "/etc/apt/sources.list.d/mongodb-org-6.0.sources", "/etc/apt/sources.list.d/mongodb-org-7.0.sources"]
    redhat = ansible_render("_install_stale_repository_paths", "RedHat", install_mongodb_version="7.0")
    assert redhat == ["/etc/yum.repos.d/mongodb-org-6.0.repo", "/etc/yum.repos.d/mongodb-org-8.0.repo"]
