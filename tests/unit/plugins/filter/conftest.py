"""Load the collection's filter plugins straight from plugins/filter/.

The plugins import only ansible, so they are loaded by path: the tests do not
depend on the collection being installed or on ansible_collections on sys.path.
"""

import importlib.util
import pathlib

import pytest

FILTER_DIR = pathlib.Path(__file__).resolve().parents[4] / "plugins" / "filter"


def load_filter_plugin(name):
    spec = importlib.util.spec_from_file_location("quorum_mongodb_filter_" + name, FILTER_DIR / (name + ".py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def replicaset_filters():
    return load_filter_plugin("replicaset")


@pytest.fixture(scope="session")
def mongod_filters():
    return load_filter_plugin("mongod")


@pytest.fixture(scope="session")
def host_filters():
    return load_filter_plugin("host")


@pytest.fixture(scope="session")
def preload_filters():
    return load_filter_plugin("preload")
