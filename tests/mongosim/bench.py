"""mongosim benchmark (a script, not a timed test).

    python3 -m mongosim.bench [--quick]

For a 3-member set on loopback it prints: time from replSetInitiate to a
primary and failover time after SIGKILL of the primary, each next to the
set's electionTimeoutMillis; ping and ``insert w:majority`` operations per
second per member, next to a baseline measured in the same run (a bare
asyncio server answering the same OP_MSG round trip); resident memory per
member next to a bare Python process that imports the same libraries.

Targets (issue #2): failover within electionTimeoutMillis + 2 x
heartbeatIntervalMillis; at least 3,000 pings/s per member; at most 60 MiB
resident per member.
"""

import argparse
import asyncio
import socket
import subprocess
import sys
import tempfile
import threading
import time

from pymongo import MongoClient

from . import wire
from .cluster import Cluster, free_ports

MiB = 1024 * 1024


def _rss(pid):
    with open("/proc/%d/status" % pid, encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


_CLIENTS = {}


def _client(host):
    if host not in _CLIENTS:
        _CLIENTS[host] = MongoClient(host, directConnection=True, serverSelectionTimeoutMS=500)
    return _CLIENTS[host]


def _primary(hosts, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for host in hosts:
            try:
                if _client(host).admin.command("hello").get("isWritablePrimary"):
                    return host
            except Exception:  # noqa: BLE001 - member down or not ready yet: keep polling
                pass
        time.sleep(0.02)
    raise RuntimeError("no primary within %ss" % timeout)


def _rate(fn, seconds):
    count = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        fn()
        count += 1
    return count / seconds


class _RawClient:
    """A minimal blocking OP_MSG client, so the client's own cost does not hide
    the server's (pymongo alone tops out near 2,500 round trips/s here)."""

    def __init__(self, host):
        name, _sep, port = host.rpartition(":")
        self.sock = socket.create_connection((name, int(port)))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.message, _request_id = wire.encode_op_msg(0, {"ping": 1, "$db": "admin"})

    def ping(self):
        self.sock.sendall(self.message)
        header = self._read(16)
        length = int.from_bytes(header[:4], "little")
        body = self._read(length - 16)
        if b"ok" not in body:
            raise RuntimeError("unexpected reply")

    def _read(self, count):
        chunks = []
        while count:
            chunk = self.sock.recv(count)
            if not chunk:
                raise ConnectionError("closed")
            chunks.append(chunk)
            count -= len(chunk)
        return b"".join(chunks)

    def close(self):
        self.sock.close()


def _concurrent_rate(host, connections, seconds):
    """Aggregate pings/s over several connections (threads; the raw client's
    socket calls release the GIL)."""
    counts = [0] * connections
    clients = [_RawClient(host) for _index in range(connections)]
    deadline = time.monotonic() + seconds

    def run(index):
        client = clients[index]
        while time.monotonic() < deadline:
            client.ping()
            counts[index] += 1

    threads = [threading.Thread(target=run, args=(i,)) for i in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for client in clients:
        client.close()
    return sum(counts) / seconds


async def _serve_baseline(port):
    """A bare asyncio server that answers any OP_MSG with {ok: 1}: the floor of
    the same round trip through Python's asyncio and loopback."""
    reply = wire.encode({"ok": 1.0})

    async def handle(reader, writer):
        while True:
            try:
                request_id, _response_to, _opcode, _payload = await wire.read_message(reader)
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            data, _request_id = wire.encode_op_msg(request_id, reply)
            writer.write(data)
            await writer.drain()

    server = await asyncio.start_server(handle, "127.0.0.1", port)
    await server.serve_forever()


def _baseline_server():
    """Run the baseline in its own process, as each mongosim member is."""
    port = free_ports(1)[0]
    proc = subprocess.Popen([sys.executable, "-m", "mongosim.bench", "--baseline-server", str(port)])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.02)
    return "127.0.0.1:%d" % port, proc


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python3 -m mongosim.bench")
    parser.add_argument("--quick", action="store_true", help="shorter measurements")
    parser.add_argument("--baseline-server", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.baseline_server:
        asyncio.run(_serve_baseline(args.baseline_server))
        return 0
    seconds = 1.0 if args.quick else 3.0
    settings = {"electionTimeoutMillis": 10000, "heartbeatIntervalMillis": 2000}
    workdir = tempfile.mkdtemp(prefix="mongosim-bench-")
    cluster = Cluster(workdir, free_ports(3))
    cluster.start()
    results = []
    try:
        first = MongoClient(cluster.hosts[0], directConnection=True)
        started = time.monotonic()
        first.admin.command("replSetInitiate", cluster.initiate_config(**settings))
        _primary(cluster.hosts)  # returns once a member has won the first election
        elect = time.monotonic() - started
        eto = settings["electionTimeoutMillis"] / 1000.0
        results.append(("initiate -> primary", "%.2f s" % elect, "%.2f x electionTimeoutMillis" % (elect / eto)))

        baseline, baseline_proc = _baseline_server()
        floor = _concurrent_rate(baseline, 4, seconds)
        baseline_proc.kill()
        for host in cluster.hosts:
            rate = _concurrent_rate(host, 4, seconds)
            results.append(("ping %s (4 connections)" % host, "%.0f ops/s" % rate,
                            "%.2f x bare asyncio server (%.0f ops/s)" % (rate / floor, floor)))
        rs = MongoClient(",".join(cluster.hosts), replicaSet="rs0", w="majority")
        counter = iter(range(10 ** 9))
        rate = _rate(lambda: rs.bench.w.insert_one({"_id": next(counter)}), seconds)
        results.append(("insert w:majority", "%.0f ops/s" % rate, "%.2f x ping floor" % (rate / floor)))

        bare = subprocess.Popen([sys.executable, "-c", "import asyncio, bson, yaml, ssl, hashlib, time; "
                                 "time.sleep(30)"])
        time.sleep(1.0)  # let the interpreter finish importing before reading its RSS
        bare_rss = _rss(bare.pid)
        bare.kill()
        for member in cluster.members:
            rss = _rss(member.pid())
            results.append(("resident %s" % member.host, "%.1f MiB" % (rss / MiB),
                            "%.2f x bare Python with the same imports (%.1f MiB)" % (rss / bare_rss,
                                                                                     bare_rss / MiB)))

        old = _primary(cluster.hosts)
        killed = time.monotonic()
        cluster.kill(int(old.rsplit(":", 1)[1]))
        new = _primary([h for h in cluster.hosts if h != old])
        failover = time.monotonic() - killed
        bound = eto + 2 * settings["heartbeatIntervalMillis"] / 1000.0
        results.append(("failover after SIGKILL", "%.2f s (%s -> %s)" % (failover, old, new),
                        "%.2f x electionTimeoutMillis; target <= %.1f s: %s"
                        % (failover / eto, bound, "met" if failover <= bound else "MISSED")))
    finally:
        for client in _CLIENTS.values():
            client.close()
        cluster.stop()
    width = max(len(r[0]) for r in results)
    print("mongosim benchmark, 3 members on loopback (%s)" % ("quick" if args.quick else "full"))
    for name, value, ratio in results:
        print("  %-*s  %-28s %s" % (width, name, value, ratio))
    ping_rates = [float(v.split()[0]) for n, v, _ratio in results if n.startswith("ping")]
    rss = [float(v.split()[0]) for n, v, _ratio in results if n.startswith("resident")]
    print("  targets: pings >= 3000/s per member: %s; resident <= 60 MiB per member: %s"
          % ("met" if min(ping_rates) >= 3000 else "MISSED", "met" if max(rss) <= 60 else "MISSED"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
