"""The collection's filters stay cheap to load, and the playbooks load them once (plugins/filter/preload.py).

Ansible imports every filter file of the collection in each worker process that uses one of its filters,
unless its main process has them already. So: no filter file may pull in pymongo (about 0.1 s of imports, paid
per task and host when not preloaded), and every playbook's first play templates quorum.mongodb.preload in its
``hosts:``, which Ansible does in its main process.
"""

import pathlib
import subprocess
import sys

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[4]
FILTER_FILES = sorted(path.stem for path in (ROOT / "plugins" / "filter").glob("*.py"))
PLAYBOOKS = sorted((ROOT / "playbooks").glob("*.yml"))


def test_preload_returns_its_input(preload_filters):
    preload = preload_filters.FilterModule().filters()["preload"]
    value = {"a": [1, 2]}
    assert preload(value) is value
    assert preload("localhost") == "localhost"


def test_no_filter_file_imports_pymongo():
    collections = ROOT / "build" / "collections"
    program = (
        "import sys\n"
        "sys.path.insert(0, %r)\n"
        "import importlib\n"
        "for name in %r:\n"
        "    importlib.import_module('ansible_collections.quorum.mongodb.plugins.filter.' + name)\n"
        "heavy = sorted(m for m in ('pymongo', 'bson') if m in sys.modules)\n"
        "print(','.join(heavy))\n" % (str(collections), FILTER_FILES)
    )
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "", "the filter plugins import %s" % result.stdout.strip()


@pytest.mark.parametrize("playbook", PLAYBOOKS, ids=[path.name for path in PLAYBOOKS])
def test_first_play_preloads_the_filters(playbook):
    plays = [entry for entry in yaml.safe_load(playbook.read_text()) if "hosts" in entry]
    assert "| quorum.mongodb.preload }}" in plays[0]["hosts"], (
        "%s: the first play's hosts: should end in | quorum.mongodb.preload" % playbook.name)
