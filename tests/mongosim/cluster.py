"""Start, stop and kill mongosim members on loopback, for tests.

Python::

    from mongosim.cluster import Cluster
    with Cluster(tmp_path, ports=[27101, 27102, 27103]) as cluster:
        cluster.start()
        ...   # members are uninitiated: initiate them yourself

Command line (state kept in ``WORKDIR/cluster.json``)::

    python3 -m mongosim.cluster start --workdir DIR --ports 27101-27103 [--repl-set rs0]
        [--keyfile FILE] [--auth] [--tls-mode requireTLS --tls-cert PEM --tls-ca CA]
        [--set-parameter name=value ...]
    python3 -m mongosim.cluster stop|kill|restart --workdir DIR [--port P]
    python3 -m mongosim.cluster initiate --workdir DIR   (all members, default settings)

Each member gets ``DIR/<port>/`` with ``mongod.conf``, ``db/`` and ``mongod.log``
and runs as ``python3 -m mongosim -f DIR/<port>/mongod.conf``, exactly like
mongod would be started.
"""

import argparse
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS_DIR = os.path.dirname(HERE)


def _ephemeral_range():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range", encoding="ascii") as handle:
            low, high = (int(part) for part in handle.read().split())
        return low, high
    except (OSError, ValueError):
        return 32768, 60999


def free_ports(count):
    """``count`` loopback ports free at the time of asking (for tests and benchmarks).

    Chosen at random below the kernel's ephemeral range: a port the kernel hands
    out for ``bind(0)`` or as the source port of an outgoing connection (every
    client and heartbeat makes some) could be taken by then by someone else.
    """
    low = 10000
    high = _ephemeral_range()[0] - 1
    if high - low < 1000:
        low, high = 1024, 65535
    chooser = random.SystemRandom()
    ports = []
    while len(ports) < count:
        port = chooser.randint(low, high)
        if port in ports:
            continue
        sock = socket.socket()
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            sock.close()
        ports.append(port)
    return ports


def _log_size(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _says_listening(logpath, offset):
    """Whether the member's log, from ``offset`` on, has its "Waiting for connections" line (id 23016).

    mongosim writes that line only after every listener is bound, so it is the member's own word that it holds
    the port. Another process listening on the port would answer a connection too, and /proc (which could tell
    whose socket it is) is not readable the same way on every machine.
    """
    try:
        with open(logpath, "rb") as handle:
            # A log that was started afresh (no logAppend) is shorter than before: read it whole.
            handle.seek(offset if os.fstat(handle.fileno()).st_size >= offset else 0)
            return b'"id":23016' in handle.read()
    except OSError:
        return False


def _wait_port(port, host="127.0.0.1", timeout=20.0, proc=None, logpath=None, log_offset=0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        if logpath is None or _says_listening(logpath, log_offset):
            try:
                with socket.create_connection((host, port), timeout=0.5):
                    return True
            except OSError:
                pass
        time.sleep(0.05)
    return False


class Member:
    def __init__(self, cluster, port):
        self.cluster = cluster
        self.port = port
        self.dir = os.path.join(cluster.workdir, str(port))
        self.dbpath = os.path.join(self.dir, "db")
        self.logpath = os.path.join(self.dir, "mongod.log")
        self.conf_path = os.path.join(self.dir, "mongod.conf")
        self.pid_path = os.path.join(self.dir, "mongod.pid")
        self.proc = None
        self.log_offset = 0
        # The binary this member runs (MONGOSIM_VERSION), when it differs from the cluster's:
        # set it and restart the member to "replace the binary".
        self.version = None

    @property
    def host(self):
        return "%s:%d" % (self.cluster.host_name, self.port)

    def config(self):
        conf = {
            "net": {"port": self.port, "bindIp": self.cluster.bind_ip},
            "storage": {"dbPath": self.dbpath},
            "systemLog": {"destination": "file", "path": self.logpath, "logAppend": True},
            "processManagement": {"pidFilePath": self.pid_path},
        }
        if self.cluster.repl_set:
            conf["replication"] = {"replSetName": self.cluster.repl_set}
            if self.cluster.oplog_size_mb:
                conf["replication"]["oplogSizeMB"] = self.cluster.oplog_size_mb
        security = {}
        if self.cluster.keyfile:
            security["keyFile"] = self.cluster.keyfile
        if self.cluster.auth:
            security["authorization"] = "enabled"
        if security:
            conf["security"] = security
        if self.cluster.tls:
            tls = {"mode": self.cluster.tls.get("mode", "requireTLS"),
                   "certificateKeyFile": self.cluster.tls["cert"]}
            if self.cluster.tls.get("ca"):
                tls["CAFile"] = self.cluster.tls["ca"]
            if self.cluster.tls.get("allow_without_cert"):
                tls["allowConnectionsWithoutCertificates"] = True
            conf["net"]["tls"] = tls
        params = dict(self.cluster.parameters)
        if params:
            conf["setParameter"] = params
        for section, values in (self.cluster.extra_conf or {}).items():
            if isinstance(values, dict):
                conf.setdefault(section, {}).update(values)
            else:
                conf[section] = values
        return conf

    def write_config(self):
        os.makedirs(self.dbpath, exist_ok=True)
        with open(self.conf_path, "w", encoding="utf-8") as handle:
            yaml.safe_dump(self.config(), handle, default_flow_style=False)

    def start(self, wait=True):
        self.write_config()
        env = dict(os.environ)
        env["PYTHONPATH"] = TESTS_DIR + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        version = self.version or self.cluster.version
        if version:
            env["MONGOSIM_VERSION"] = version
        self.log_offset = _log_size(self.logpath)
        out = open(os.path.join(self.dir, "stdout.log"), "ab")
        program = os.environ.get("MONGOSIM_PROGRAM")
        command = [sys.executable] + ([program] if program else ["-m", "mongosim"]) + ["-f", self.conf_path]
        self.proc = subprocess.Popen(command, env=env,
                                     stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        out.close()
        if wait and not self.wait_started():
            raise RuntimeError("mongosim on port %d did not start; see %s" % (self.port, self.logpath))
        return self

    def wait_started(self):
        """Whether this start of the member is up: its process runs, says it listens, and the port answers."""
        return _wait_port(self.port, proc=self.proc, logpath=self.logpath, log_offset=self.log_offset)

    def pid(self):
        if self.proc is not None and self.proc.poll() is None:
            return self.proc.pid
        try:
            with open(self.pid_path, encoding="ascii") as handle:
                pid = int(handle.read().strip())
            os.kill(pid, 0)
            return pid
        except (OSError, ValueError):
            return None

    def signal(self, signum):
        pid = self.pid()
        if pid is not None:
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass
        return pid

    def wait_exit(self, timeout=60.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None:
                if self.proc.poll() is not None:
                    return True
            elif self.pid() is None:
                return True
            time.sleep(0.05)
        return False

    def stop(self, timeout=60.0):
        if self.signal(signal.SIGTERM) is None:
            return
        if not self.wait_exit(timeout):
            self.kill()

    def kill(self):
        self.signal(signal.SIGKILL)
        self.wait_exit(10.0)
        if self.proc is not None:
            self.proc.wait()

    def restart(self, wait=True):
        self.stop()
        return self.start(wait=wait)


class Cluster:
    def __init__(self, workdir, ports, repl_set="rs0", bind_ip="127.0.0.1", keyfile=None, auth=False, tls=None,
                 extra_conf=None, version=None, parameters=None, host_name="127.0.0.1", oplog_size_mb=None):
        self.workdir = os.path.abspath(str(workdir))
        self.repl_set = repl_set
        self.bind_ip = bind_ip
        self.keyfile = keyfile
        self.auth = auth
        self.tls = tls
        self.extra_conf = extra_conf
        self.version = version
        # Like MongoDB's own test suites, shorten the quiesce period of a
        # signalled shutdown (15 s by default) unless a test asks otherwise.
        self.parameters = {"shutdownTimeoutMillisForSignaledShutdown": 500}
        self.parameters.update(parameters or {})
        self.host_name = host_name
        self.oplog_size_mb = oplog_size_mb
        self.members = [Member(self, p) for p in ports]

    @property
    def hosts(self):
        return [m.host for m in self.members]

    @property
    def ports(self):
        return [m.port for m in self.members]

    def member(self, port):
        for m in self.members:
            if m.port == port:
                return m
        raise KeyError(port)

    def start(self):
        os.makedirs(self.workdir, exist_ok=True)
        for m in self.members:
            m.start(wait=False)
        for m in self.members:
            if not m.wait_started():
                raise RuntimeError("mongosim on port %d did not start; see %s" % (m.port, m.logpath))
        return self

    def stop(self):
        for m in self.members:
            m.signal(signal.SIGTERM)
        for m in self.members:
            if not m.wait_exit(60.0):
                m.kill()

    def kill(self, port=None):
        for m in self.members:
            if port is None or m.port == port:
                m.kill()

    def restart(self, port):
        self.member(port).restart()

    def initiate_config(self, **settings):
        config = {"_id": self.repl_set, "members": [{"_id": i, "host": h} for i, h in enumerate(self.hosts)]}
        if settings:
            config["settings"] = settings
        return config

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.kill()

    # ---------------------------------------------------------------- state file for the CLI
    def save(self):
        state = {"ports": self.ports, "repl_set": self.repl_set, "bind_ip": self.bind_ip, "keyfile": self.keyfile,
                 "auth": self.auth, "tls": self.tls, "extra_conf": self.extra_conf, "version": self.version,
                 "parameters": self.parameters, "host_name": self.host_name, "oplog_size_mb": self.oplog_size_mb}
        with open(os.path.join(self.workdir, "cluster.json"), "w", encoding="utf-8") as handle:
            json.dump(state, handle, indent=2)

    @classmethod
    def load(cls, workdir):
        with open(os.path.join(workdir, "cluster.json"), encoding="utf-8") as handle:
            state = json.load(handle)
        return cls(workdir, **state)


def _ports(text):
    out = []
    for part in text.split(","):
        if "-" in part:
            low, high = part.split("-")
            out.extend(range(int(low), int(high) + 1))
        else:
            out.append(int(part))
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python3 -m mongosim.cluster")
    parser.add_argument("action", choices=["start", "stop", "kill", "restart", "initiate", "status"])
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--ports")
    parser.add_argument("--port", type=int)
    parser.add_argument("--repl-set", default="rs0")
    parser.add_argument("--bind-ip", default="127.0.0.1")
    parser.add_argument("--host-name", default="127.0.0.1")
    parser.add_argument("--keyfile")
    parser.add_argument("--auth", action="store_true")
    parser.add_argument("--tls-mode")
    parser.add_argument("--tls-cert")
    parser.add_argument("--tls-ca")
    parser.add_argument("--version", dest="server_version")
    parser.add_argument("--set-parameter", action="append", default=[])
    args = parser.parse_args(argv)
    if args.action == "start":
        if not args.ports:
            parser.error("start needs --ports")
        tls = None
        if args.tls_mode:
            tls = {"mode": args.tls_mode, "cert": args.tls_cert, "ca": args.tls_ca}
        params = dict(p.split("=", 1) for p in args.set_parameter)
        cluster = Cluster(args.workdir, _ports(args.ports), repl_set=args.repl_set, bind_ip=args.bind_ip,
                          keyfile=args.keyfile, auth=args.auth, tls=tls, version=args.server_version,
                          parameters=params, host_name=args.host_name)
        os.makedirs(cluster.workdir, exist_ok=True)
        cluster.save()
        cluster.start()
        print(json.dumps({"hosts": cluster.hosts, "workdir": cluster.workdir}))
        return 0
    cluster = Cluster.load(args.workdir)
    targets = [cluster.member(args.port)] if args.port else cluster.members
    if args.action == "stop":
        for m in targets:
            m.signal(signal.SIGTERM)
        for m in targets:
            if not m.wait_exit(60.0):
                m.kill()
    elif args.action == "kill":
        for m in targets:
            m.kill()
    elif args.action == "restart":
        for m in targets:
            m.restart()
    elif args.action == "initiate":
        from pymongo import MongoClient
        client = MongoClient(cluster.hosts[0], directConnection=True)
        print(client.admin.command("replSetInitiate", cluster.initiate_config()))
    elif args.action == "status":
        print(json.dumps({str(m.port): m.pid() for m in cluster.members}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
