"""Fixtures for the integration tests: mongosim members on loopback, and the
collection's modules run through ``ansible-playbook`` as users run them.

Two fixtures make the API the tests (and the replicaset module's tests) use:

``mongosim_cluster(n, auth=False, keyfile=False, tls=False, initiate=False)``
    starts ``n`` mongosim members on free loopback ports in the test's tmp dir
    and returns the :class:`IntegrationCluster` (a ``mongosim.cluster.Cluster``)
    with ``.hosts`` ("127.0.0.1:port") and ``.ports``. ``auth``/``keyfile``
    give every member a keyFile made here (``keyfile`` alone implies
    authorization, as with mongod); ``tls`` makes the members requireTLS with a
    throwaway CA (``.tls_files``); ``initiate`` initiates the set with FAST
    settings (through the localhost exception when auth is on) and waits for a
    primary. Members are killed at teardown.

``run_playbook(tasks, check=False, diff=False, extra_vars=None, expect_failure=False)``
    writes a one-play playbook (hosts: localhost, connection: local,
    gather_facts: false) with ``tasks``, runs ``.venv/bin/ansible-playbook`` and
    returns a :class:`PlaybookRun`: ``rc``, ``results`` (each task's result in
    order, as a playbook would register it, plus ``task``/``status``),
    ``changed_count``, ``stdout``, ``stderr``. A non-zero exit fails the test
    with the output unless ``expect_failure`` (then a zero exit fails it). Any
    password found in the tasks or extra vars must not appear in the output or
    the results; the test fails if one does.
"""

import json
import os
import pathlib
import subprocess
import sys
import time

import pytest
import yaml
from pymongo import MongoClient
from pymongo.errors import PyMongoError

from mongosim.cluster import Cluster, free_ports

ROOT = pathlib.Path(__file__).resolve().parents[2]
HERE = pathlib.Path(__file__).resolve().parent
VENV_BIN = ROOT / ".venv" / "bin"
# Fast settings for sets whose election timing is not what a test is about
# (the same values as tests/mongosim/tests/conftest.py).
FAST = {"electionTimeoutMillis": 1500, "heartbeatIntervalMillis": 300}
KEYFILE_CONTENT = "cXVvcnVtLW1vbmdvZGItaW50ZWdyYXRpb24tdGVzdHM="
SECRET_KEYS = ("password", "login_password", "tls_certificate_key_file_password")
NOT_SECRET_KEYS = ("update_password",)


# ---------------------------------------------------------------- helpers


def wait_for(predicate, timeout=60.0, interval=0.1, what="condition"):
    """Poll ``predicate`` until it returns a truthy value; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except PyMongoError as exc:
            last_error = exc
        time.sleep(interval)
    raise AssertionError("timed out after %ss waiting for %s (last error: %r)" % (timeout, what, last_error))


class IntegrationCluster(Cluster):
    """A mongosim Cluster with the helpers the integration tests share."""

    tls_files = None

    def initiate_config(self, **settings):
        merged = dict(FAST)
        merged.update(settings)
        return super().initiate_config(**merged)

    def client_options(self, **kwargs):
        options = {"directConnection": True, "serverSelectionTimeoutMS": 5000}
        if self.tls_files:
            options.update(tls=True, tlsCAFile=self.tls_files["ca"], tlsCertificateKeyFile=self.tls_files["pem"])
        options.update(kwargs)
        return options

    def client(self, host, username=None, password=None, auth_source="admin", **kwargs):
        """A direct pymongo client to one member (TLS options filled in); the caller closes it."""
        if username is not None:
            kwargs.update(username=username, password=password, authSource=auth_source)
        return MongoClient(host, **self.client_options(**kwargs))

    def command(self, host, *args, **kwargs):
        credentials = {key: kwargs.pop(key) for key in ("username", "password", "auth_source") if key in kwargs}
        client = self.client(host, **credentials)
        try:
            return client.admin.command(*args, **kwargs)
        finally:
            client.close()

    def hello(self, host):
        return self.command(host, "hello", serverSelectionTimeoutMS=1000)

    def primary(self, timeout=60.0):
        """The member that says it is the writable primary, polled until one does."""
        def find():
            for host in self.hosts_up():
                try:
                    if self.hello(host).get("isWritablePrimary"):
                        return host
                except PyMongoError:
                    continue
            return None
        return wait_for(find, timeout=timeout, what="a primary among %s" % self.hosts)

    def hosts_up(self):
        return [member.host for member in self.members if member.pid() is not None]

    def wait_settled(self, timeout=60.0):
        """Wait until every running member is PRIMARY, SECONDARY or ARBITER and they agree on one primary."""
        def settled():
            primaries, ready = set(), 0
            for host in self.hosts_up():
                hello = self.hello(host)
                if hello.get("isWritablePrimary"):
                    primaries.add(host)
                if hello.get("isWritablePrimary") or hello.get("secondary") or hello.get("arbiterOnly"):
                    ready += 1
                    if hello.get("primary"):
                        primaries.add(hello["primary"])
            return len(primaries) == 1 and ready == len(self.hosts_up())
        wait_for(settled, timeout=timeout, what="every member of %s to settle on one primary" % self.hosts)
        return self.primary()

    def initiate(self, **settings):
        """replSetInitiate from the first member (the localhost exception allows it), then wait for a primary."""
        self.command(self.hosts[0], "replSetInitiate", self.initiate_config(**settings))
        return self.wait_settled()

    def login_args(self, host=None, **extra):
        """Connection options of the collection's modules for ``host`` (the first member by default)."""
        host = host or self.hosts[0]
        name, port = host.rsplit(":", 1)
        args = {"login_host": name, "login_port": int(port)}
        if self.tls_files:
            args.update(tls=True, tls_ca_file=self.tls_files["ca"], tls_certificate_key_file=self.tls_files["pem"])
        args.update(extra)
        return args


@pytest.fixture(scope="session")
def mongosim_pki(tmp_path_factory):
    """A throwaway CA and a member/client certificate for 127.0.0.1 and localhost."""
    path = tmp_path_factory.mktemp("pki")

    def run(*args):
        subprocess.run(["openssl"] + list(args), check=True, capture_output=True, cwd=path)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=quorum.mongodb integration CA")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "member.key", "-out", "member.csr", "-subj",
        "/O=quorum/CN=localhost")
    (path / "ext.cnf").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                                  "extendedKeyUsage=serverAuth,clientAuth\n")
    run("x509", "-req", "-in", "member.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "member.crt", "-days", "2", "-extfile", "ext.cnf")
    (path / "member.pem").write_text((path / "member.crt").read_text() + (path / "member.key").read_text())
    return {"ca": str(path / "ca.pem"), "pem": str(path / "member.pem")}


@pytest.fixture
def mongosim_cluster(tmp_path, request):
    clusters = []

    def make(n, auth=False, keyfile=False, tls=False, initiate=False):
        index = len(clusters)
        keyfile_path = None
        if auth or keyfile:
            keyfile_path = tmp_path / ("keyfile%d" % index)
            keyfile_path.write_text(KEYFILE_CONTENT + "\n")
            os.chmod(keyfile_path, 0o400)
            keyfile_path = str(keyfile_path)
        tls_conf = None
        pki = None
        if tls:
            pki = request.getfixturevalue("mongosim_pki")
            tls_conf = {"mode": "requireTLS", "cert": pki["pem"], "ca": pki["ca"]}
        cluster = IntegrationCluster(tmp_path / ("cluster%d" % index), free_ports(n), keyfile=keyfile_path,
                                     auth=bool(auth), tls=tls_conf)
        cluster.tls_files = pki
        clusters.append(cluster)
        cluster.start()
        if initiate:
            cluster.initiate()
        return cluster

    yield make
    for cluster in clusters:
        cluster.kill()


# ---------------------------------------------------------------- ansible-playbook


class PlaybookRun:
    def __init__(self, rc, results, stdout, stderr):
        self.rc = rc
        self.results = results
        self.stdout = stdout
        self.stderr = stderr

    @property
    def changed_count(self):
        return sum(1 for result in self.results if result.get("changed"))

    @property
    def failed(self):
        return [result for result in self.results if result.get("failed")]

    def result(self, task_name):
        """The result of the task with this name (the last one, if the name repeats)."""
        matches = [result for result in self.results if result.get("task") == task_name]
        assert matches, "no task named %r ran; tasks: %s" % (task_name, [r.get("task") for r in self.results])
        return matches[-1]

    def output(self):
        return "rc=%s\n--- stdout\n%s\n--- stderr\n%s" % (self.rc, self.stdout, self.stderr)


def _secrets(value, found):
    """Every password-like value in the tasks and extra vars (literal strings long enough to search for)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, str) and (key in SECRET_KEYS or str(key).endswith("password")) \
                    and key not in NOT_SECRET_KEYS:
                if len(item) >= 8 and "{{" not in item:
                    found.add(item)
            else:
                _secrets(item, found)
    elif isinstance(value, list):
        for item in value:
            _secrets(item, found)
    return found


def _collections_path():
    configured = os.environ.get("ANSIBLE_COLLECTIONS_PATH")
    if configured:
        return configured
    collections = ROOT / "build" / "collections"
    link = collections / "ansible_collections" / "quorum" / "mongodb"
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(ROOT)
    return str(collections)


@pytest.fixture
def run_playbook(tmp_path):
    counter = [0]
    python = VENV_BIN / "python"
    interpreter = str(python) if python.exists() else sys.executable
    playbook_bin = VENV_BIN / "ansible-playbook"

    def run(tasks, check=False, diff=False, extra_vars=None, expect_failure=False):
        counter[0] += 1
        work = tmp_path / ("playbook%d" % counter[0])
        work.mkdir()
        play = [{"name": "integration test", "hosts": "localhost", "connection": "local", "gather_facts": False,
                 "tasks": tasks}]
        (work / "playbook.yml").write_text(yaml.safe_dump(play, sort_keys=False))
        variables = {"ansible_python_interpreter": interpreter}
        variables.update(extra_vars or {})
        (work / "vars.json").write_text(json.dumps(variables))
        results_file = work / "results.json"
        env = dict(os.environ)
        env.update({
            "ANSIBLE_COLLECTIONS_PATH": _collections_path(),
            "ANSIBLE_CALLBACK_PLUGINS": str(HERE / "callback_plugins"),
            "ANSIBLE_CALLBACKS_ENABLED": "quorum_results",
            "QUORUM_RESULTS_FILE": str(results_file),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_RETRY_FILES_ENABLED": "0",
            "ANSIBLE_LOCALHOST_WARNING": "0",
            "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0",
            "ANSIBLE_LOCAL_TEMP": str(work / "tmp"),
            "ANSIBLE_DEPRECATION_WARNINGS": "0",
        })
        command = [str(playbook_bin) if playbook_bin.exists() else "ansible-playbook", "-i", "localhost,",
                   str(work / "playbook.yml"), "-e", "@%s" % (work / "vars.json")]
        if check:
            command.append("--check")
        if diff:
            command.append("--diff")
        proc = subprocess.run(command, cwd=str(work), env=env, capture_output=True, text=True, check=False,
                              timeout=600)
        results = json.loads(results_file.read_text()) if results_file.exists() else []
        outcome = PlaybookRun(proc.returncode, results, proc.stdout, proc.stderr)
        everything = proc.stdout + proc.stderr + json.dumps(results)
        leaked = [secret for secret in _secrets({"tasks": tasks, "vars": extra_vars or {}}, set())
                  if secret in everything]
        if leaked:
            places = []
            for secret in leaked:
                for where, text in (("stdout", proc.stdout), ("stderr", proc.stderr),
                                    ("results", json.dumps(results))):
                    at = text.find(secret)
                    if at >= 0:
                        places.append("%s: ...%s..." % (where, text[max(at - 200, 0):at + len(secret) + 50]
                                                        .replace(secret, "<SECRET>")))
            pytest.fail("a secret from the tasks appears in ansible-playbook's output or results:\n"
                        + "\n".join(places))
        if expect_failure and outcome.rc == 0:
            pytest.fail("ansible-playbook was expected to fail but succeeded\n" + outcome.output())
        if not expect_failure and outcome.rc != 0:
            pytest.fail("ansible-playbook failed\n" + outcome.output())
        return outcome

    return run
