"""Fixtures for the integration tests: mongosim members on loopback, and the
collection's modules run through ``ansible-playbook`` as users run them.

Two fixtures make the API the tests (and the replicaset module's tests) use:

``mongosim_cluster(n, auth=False, keyfile=False, tls=False, initiate=False, version=None, parameters=None)``
    starts ``n`` mongosim members on free loopback ports in the test's tmp dir
    and returns the :class:`IntegrationCluster` (a ``mongosim.cluster.Cluster``)
    with ``.hosts`` ("127.0.0.1:port") and ``.ports``. ``auth``/``keyfile``
    give every member a keyFile made here (``keyfile`` alone implies
    authorization, as with mongod); ``tls`` makes the members requireTLS with a
    throwaway CA (``.tls_files``); ``initiate`` initiates the set with FAST
    settings (through the localhost exception when auth is on) and waits for a
    primary; ``version`` is the MongoDB version the members report (a member's
    own ``.version`` and a restart replace its binary); ``parameters`` are
    extra ``setParameter`` values. Members are killed at teardown.

``run_playbook(tasks, check=False, diff=False, extra_vars=None, expect_failure=False)``
    writes a one-play playbook (hosts: localhost, connection: local,
    gather_facts: false) with ``tasks``, runs ``.venv/bin/ansible-playbook`` and
    returns a :class:`PlaybookRun`: ``rc``, ``results`` (each task's result in
    order, as a playbook would register it, plus ``task``/``status``),
    ``changed_count``, ``stdout``, ``stderr``. A non-zero exit fails the test
    with the output unless ``expect_failure`` (then a zero exit fails it). Any
    password found in the tasks or extra vars must not appear in the output or
    the results; the test fails if one does.

``majority_writer(cluster, **options)``
    starts a :class:`MajorityWriter` thread against the set (a pymongo client
    with the set's seed list, ``w="majority"``, ``retryWrites=True``) that
    inserts numbered documents into ``quorum_writer.writesN`` (N counts the
    test's writers) until ``stop()``. ``wait_for_acknowledged(k)`` polls until
    k more inserts are acknowledged; ``stop()`` prints and returns the report
    (acknowledged inserts, failed ones by error, longest stall between two
    acknowledgements) and fails the test if the thread met an error that is not
    "no primary now"; ``assert_no_acknowledged_write_lost()`` then reads the
    collection with readConcern majority and fails the test for any
    acknowledged ``_id`` missing. Writers still running are stopped at teardown.
"""

import json
import os
import pathlib
import subprocess
import sys
import threading
import time

import pytest
import yaml
from pymongo import MongoClient
from pymongo.errors import AutoReconnect, OperationFailure, PyMongoError, WriteConcernError
from pymongo.read_concern import ReadConcern

from mongosim import testing
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
    """Poll ``predicate`` until it is truthy (a pymongo error counts as not yet); fail after ``timeout``."""
    return testing.wait_for(predicate, timeout, interval, what, retry_on=(PyMongoError,))


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
    paths = testing.make_test_pki(tmp_path_factory.mktemp("pki"), ["member"], ca_name="quorum.mongodb integration CA")
    return {"ca": paths["ca"], "pem": paths["member"]}


@pytest.fixture
def mongosim_cluster(tmp_path, request):
    clusters = []

    def make(n, auth=False, keyfile=False, tls=False, initiate=False, version=None, parameters=None):
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
                                     auth=bool(auth), tls=tls_conf, version=version, parameters=parameters)
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


# ---------------------------------------------------------------- a writer during a change

# Server errors that mean "no primary to take this write right now" (error_codes.yml: the NotPrimaryError
# and ShutdownError categories, InterruptedDueToReplStateChange, and the write-concern failures a step-down
# or a slow majority gives); pymongo raises most of them as NotPrimaryError (an AutoReconnect) already.
TRANSIENT_WRITE_CODES = frozenset((
    6, 7, 89, 9001,             # HostUnreachable, HostNotFound, NetworkTimeout, SocketException
    50, 262,                    # MaxTimeMSExpired, ExceededTimeLimit
    64,                         # WriteConcernFailed (wtimeout)
    91, 11600, 11602,           # ShutdownInProgress, InterruptedAtShutdown, InterruptedDueToReplStateChange
    189, 10107, 13435, 13436,   # PrimarySteppedDown, NotWritablePrimary, NotPrimaryNoSecondaryOk,
))                              # NotPrimaryOrSecondary


class MajorityWriter(threading.Thread):
    """Inserts ``{"_id": n}`` for n = 0, 1, 2, ... with ``w: "majority"`` until stopped.

    An insert that returns was acknowledged by a majority and must never be lost. One that fails
    with a "no primary now" error (pymongo has retried it once already: retryWrites) is not
    acknowledged: its ``_id`` is claimed neither way, the thread polls the client's view of the set
    until it knows a primary again (pymongo's monitors check the set again at once after such an
    error), and the next insert takes the next ``_id``. Any other error ends the thread and fails
    the test at ``stop()``. ``pace`` is the time between two inserts, to keep one writer's load
    modest on a shared machine; it is not a wait for anything.
    """

    def __init__(self, cluster, database="quorum_writer", collection="writes", pace=0.02,
                 primary_wait=30.0, client_options=None):
        super().__init__(name="majority-writer", daemon=True)
        self.cluster = cluster
        self.database = database
        self.collection = collection
        self.pace = pace
        self.primary_wait = primary_wait
        self.acknowledged = []
        self.failures = {}          # error class name (and code) -> count
        self.last_failure = None
        self.longest_stall = 0.0    # the longest time between two acknowledged inserts (or the start and the first)
        self.attempts = 0
        self.unexpected = None      # the exception that ended the thread
        self._stop_event = threading.Event()
        options = dict(w="majority", wtimeoutMS=60000, retryWrites=True, serverSelectionTimeoutMS=2000,
                       heartbeatFrequencyMS=500, connectTimeoutMS=2000)
        if cluster.tls_files:
            options.update(tls=True, tlsCAFile=cluster.tls_files["ca"],
                           tlsCertificateKeyFile=cluster.tls_files["pem"])
        options.update(client_options or {})
        self.client = MongoClient(self.seed_list(), **options)

    def seed_list(self):
        return "mongodb://%s/?replicaSet=%s" % (",".join(self.cluster.hosts), self.cluster.repl_set)

    def run(self):
        coll = self.client[self.database][self.collection]
        number = 0
        last_ack = time.monotonic()
        try:
            while not self._stop_event.is_set():
                self.attempts += 1
                try:
                    coll.insert_one({"_id": number, "at": time.time()})
                except (AutoReconnect, WriteConcernError, OperationFailure) as exc:
                    # AutoReconnect covers NotPrimaryError and ServerSelectionTimeoutError.
                    code = getattr(exc, "code", None)
                    if not isinstance(exc, AutoReconnect) and code not in TRANSIENT_WRITE_CODES:
                        raise
                    name = "%s(%s)" % (type(exc).__name__, code) if code is not None else type(exc).__name__
                    self.failures[name] = self.failures.get(name, 0) + 1
                    self.last_failure = "%s: %s" % (name, str(exc)[:300])
                    number += 1
                    self._wait_for_primary()
                else:
                    now = time.monotonic()
                    self.longest_stall = max(self.longest_stall, now - last_ack)
                    last_ack = now
                    self.acknowledged.append(number)
                    number += 1
                self._stop_event.wait(self.pace)
        except BaseException as exc:  # noqa: BLE001 - kept for stop(), which fails the test with it
            self.unexpected = exc

    def _wait_for_primary(self):
        deadline = time.monotonic() + self.primary_wait
        while not self._stop_event.is_set() and time.monotonic() < deadline:
            if self.client.primary is not None:
                return
            self._stop_event.wait(0.05)

    def wait_for_acknowledged(self, more=1, timeout=120.0):
        """Poll until ``more`` further inserts are acknowledged: the set takes majority writes now."""
        target = len(self.acknowledged) + more
        wait_for(lambda: len(self.acknowledged) >= target or not self.is_alive(), timeout=timeout,
                 what="%d more acknowledged inserts (last failure: %s)" % (more, self.last_failure))
        assert len(self.acknowledged) >= target, "the writer stopped: %r" % (self.unexpected,)

    def stop(self, timeout=60.0):
        """Stop the thread and return the report (also printed); fails the test if the thread broke."""
        self._stop_event.set()
        self.join(timeout)
        assert not self.is_alive(), "the writer did not stop within %ss" % timeout
        report = self.report()
        print("majority writer: %(acknowledged)d acknowledged of %(attempts)d inserts, longest stall "
              "%(longest_stall).2fs, failed inserts %(failures)s" % report)
        if self.unexpected is not None:
            raise AssertionError("the writer thread failed: %r; %s" % (self.unexpected, report)) \
                from self.unexpected
        return report

    def report(self):
        return {"acknowledged": len(self.acknowledged), "attempts": self.attempts,
                "longest_stall": round(self.longest_stall, 2), "failures": dict(self.failures),
                "last_failure": self.last_failure}

    def assert_no_acknowledged_write_lost(self, timeout=120.0):
        """Read the collection with readConcern majority; every acknowledged ``_id`` must be in it."""
        assert not self.is_alive(), "stop() the writer first"
        assert self.acknowledged, "the writer never had an insert acknowledged: %s" % self.report()
        coll = self.client[self.database].get_collection(self.collection, read_concern=ReadConcern("majority"))
        deadline = time.monotonic() + timeout
        while True:
            # The read goes to the primary: tried again while the set is between primaries.
            try:
                found = {doc["_id"] for doc in coll.find({}, {"_id": 1})}
                break
            except AutoReconnect:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        missing = sorted(set(self.acknowledged) - found)
        assert not missing, "%d acknowledged writes lost (the first: %s); %s" % (
            len(missing), missing[:20], self.report())
        return found

    def close(self):
        self.client.close()


@pytest.fixture
def majority_writer():
    writers = []

    def start(cluster, **options):
        # Each writer of a test numbers from 0, so each gets its own collection.
        options.setdefault("collection", "writes%d" % len(writers))
        writer = MajorityWriter(cluster, **options)
        writers.append(writer)
        writer.start()
        return writer

    yield start
    for writer in writers:
        writer._stop_event.set()
        writer.join(60)
        writer.close()
