"""Fixtures for mongosim's fidelity tests: real pymongo clients against
mongosim processes on loopback (each test gets its own members)."""

import os
import stat
import subprocess
import sys

import pytest
from pymongo import MongoClient
from pymongo.errors import NotPrimaryError, OperationFailure, PyMongoError

from mongosim import testing
from mongosim.cluster import Cluster, free_ports

TESTS_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Fast settings for sets whose election timing is not what a test is about.
FAST = {"electionTimeoutMillis": 1500, "heartbeatIntervalMillis": 300}


def direct(host, **kwargs):
    kwargs.setdefault("serverSelectionTimeoutMS", 5000)
    return MongoClient(host, directConnection=True, **kwargs)


def wait_for(predicate, timeout=30.0, interval=0.05, what="condition"):
    """Poll ``predicate`` until it is truthy (a pymongo error counts as not yet); fail after ``timeout``."""
    return testing.wait_for(predicate, timeout, interval, what, retry_on=(PyMongoError,))


def primary_of(hosts, **kwargs):
    """The member that says it is a writable primary, polled until one does."""
    def find():
        for host in hosts:
            try:
                hello = direct(host, serverSelectionTimeoutMS=1000, **kwargs).admin.command("hello")
            except PyMongoError:
                continue
            if hello.get("isWritablePrimary"):
                return host
        return None
    return wait_for(find, what="a primary among %s" % hosts)


def state_of(host, **kwargs):
    return direct(host, **kwargs).admin.command("replSetGetStatus")["myState"]


def error_of(fn):
    """Run ``fn``, expect a server error reply, return (code, errmsg).

    pymongo raises NotPrimaryError (not an OperationFailure) for the
    "not primary" family of codes; both carry the server's reply."""
    with pytest.raises((OperationFailure, NotPrimaryError)) as info:
        fn()
    details = info.value.details or {}
    return details.get("code"), details.get("errmsg", "")


@pytest.fixture
def make_cluster(tmp_path):
    clusters = []

    def make(count, **kwargs):
        cluster = Cluster(tmp_path / ("c%d" % len(clusters)), free_ports(count), **kwargs)
        clusters.append(cluster)
        cluster.start()
        return cluster

    yield make
    for cluster in clusters:
        cluster.kill()


@pytest.fixture
def rs3(make_cluster):
    """An initiated 3-member set with short election timeouts."""
    cluster = make_cluster(3)
    direct(cluster.hosts[0]).admin.command("replSetInitiate", cluster.initiate_config(**FAST))
    primary_of(cluster.hosts)
    return cluster


def run_mongosim(args, env=None, timeout=20):
    """Run ``python3 -m mongosim args`` to completion; callers check its exit status and output."""
    full_env = dict(os.environ)
    full_env["PYTHONPATH"] = TESTS_DIR
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "mongosim"] + args, check=False, capture_output=True, text=True,
                          env=full_env, timeout=timeout)


def make_keyfile(path, content="c2VjcmV0a2V5Zm9ydGVzdHM=", mode=0o400):
    path.write_text(content + "\n")
    os.chmod(path, mode)
    return str(path)


__all__ = ["FAST", "direct", "wait_for", "primary_of", "state_of", "error_of", "run_mongosim", "make_keyfile",
           "free_ports", "stat"]
