"""Benchmark of quorum.mongodb.replicaset against mongosim members on loopback.

Prints measurements next to baselines taken in the same run (never asserts on
time; run with scripts/bench):

1. The commands each member received during a no-op run of the module (its
   time next to ansible.builtin.ping's and the peer's module, for 3, 7 and 50
   members, is in bench_module.py), and the ping floor that 3. subtracts.
2. Planning a 3 -> 50 member change with 7 voters (pure planner time).
3. Growing a set from 3 to 7 voters end to end with the module, next to the
   same change made directly with pymongo (one replSetReconfig, then polling
   until the new voters count): the server's own commit and catch-up waits.

Everything measured here is mongosim, not a real mongod.
"""

import json
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "build" / "collections"))

FAST = {"electionTimeoutMillis": 1500, "heartbeatIntervalMillis": 300}
SETTINGS = {"election_timeout_millis": 1500, "heartbeat_interval_millis": 300}
REPEATS = 5


def playbook(work, tasks):
    path = work / ("play%d.yml" % len(list(work.glob("play*.yml"))))
    play = [{"hosts": "localhost", "connection": "local", "gather_facts": False, "tasks": tasks}]
    path.write_text(json.dumps(play))
    return path


def run_playbook(path):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / "build" / "collections"),
               ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0")
    command = [str(ROOT / ".venv" / "bin" / "ansible-playbook"), "-i", "localhost,", str(path),
               "-e", "ansible_python_interpreter=%s" % (ROOT / ".venv" / "bin" / "python")]
    started = time.perf_counter()
    proc = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit("playbook failed:\n%s\n%s" % (proc.stdout, proc.stderr))
    return elapsed


def module_task(cluster, hosts, **extra):
    args = {"name": "rs0", "members": [{"host": h} for h in hosts], "settings": SETTINGS,
            "login_host": "127.0.0.1", "login_port": cluster.ports[0], "wait_timeout": 300}
    args.update(extra)
    return {"quorum.mongodb.replicaset": args}


def command_counts(cluster):
    from pymongo import MongoClient
    counts = {}
    for host in cluster.hosts:
        client = MongoClient(host, directConnection=True)
        try:
            commands = client.admin.command("serverStatus")["metrics"]["commands"]
        finally:
            client.close()
        counts[host] = {name: value.get("total", 0) for name, value in commands.items() if isinstance(value, dict)}
    return counts


def voters(client):
    return client.admin.command("replSetGetStatus").get("votingMembersCount", 0)


def wait_until(predicate, timeout=300):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit("timed out")
        time.sleep(0.05)


def main():
    from pymongo import MongoClient

    from mongosim.cluster import Cluster, free_ports

    work = pathlib.Path(tempfile.mkdtemp(prefix="bench-replicaset-"))
    clusters = []
    try:
        # 1. what a no-op run sends, and the ping floor for 3.
        cluster = Cluster(work / "noop", free_ports(3))
        clusters.append(cluster)
        cluster.start()
        converge = playbook(work, [module_task(cluster, cluster.hosts)])
        run_playbook(converge)
        ping = playbook(work, [{"ansible.builtin.ping": {}}])
        run_playbook(ping)  # warm caches for both
        noop_times, ping_times = [], []
        for _round in range(REPEATS):
            ping_times.append(run_playbook(ping))
            before = command_counts(cluster)
            noop_times.append(run_playbook(converge))
            after = command_counts(cluster)
        floor = statistics.median(ping_times)
        print("no-op run of the module, 3 members (%.2fs median of %d; ratios in bench_module.py):"
              % (statistics.median(noop_times), REPEATS))
        for host in cluster.hosts:
            sent = {name: after[host].get(name, 0) - before[host].get(name, 0) for name in after[host]}
            sent = {name: count for name, count in sent.items() if count and name != "serverStatus"}
            print("  commands received by %s during one no-op run: %s" % (host, sent))
        print("  (hello counts include the driver's connection handshake and monitor checks)")

        # 2. planning time, 3 -> 50 members with 7 voters
        from ansible_collections.quorum.mongodb.plugins.module_utils.replicaset_config import desired_members
        from ansible_collections.quorum.mongodb.plugins.module_utils.replicaset_plan import plan
        config = {"_id": "rs0", "version": 1, "members": [{"_id": i, "host": "h%d:27017" % i} for i in range(3)]}
        wanted = desired_members([{"host": "h%d" % i, "votes": 1 if i < 7 else 0} for i in range(50)])
        timings = []
        for _round in range(20):
            started = time.perf_counter()
            steps = plan(config, wanted, {}, "h0:27017")
            timings.append(time.perf_counter() - started)
        print("planning 3 -> 50 members (7 voters): %.1f ms median, %d step(s)"
              % (statistics.median(timings) * 1000, len(steps)))

        # 3. grow 3 -> 7 voters: module vs direct pymongo
        module_cluster = Cluster(work / "grow-module", free_ports(7))
        direct_cluster = Cluster(work / "grow-direct", free_ports(7))
        clusters.extend([module_cluster, direct_cluster])
        module_cluster.start()
        direct_cluster.start()
        run_playbook(playbook(work, [module_task(module_cluster, module_cluster.hosts[:3])]))
        grow = playbook(work, [module_task(module_cluster, module_cluster.hosts)])
        module_time = run_playbook(grow)

        client = MongoClient(direct_cluster.hosts[0], directConnection=True)
        config = direct_cluster.initiate_config(**FAST)
        config["members"] = config["members"][:3]
        client.admin.command("replSetInitiate", config)
        wait_until(lambda: client.admin.command("hello").get("isWritablePrimary"))
        current = client.admin.command("replSetGetConfig")["config"]
        current["version"] += 1
        current["members"] += [{"_id": i, "host": h} for i, h in enumerate(direct_cluster.hosts) if i >= 3]
        started = time.perf_counter()
        client.admin.command("replSetReconfig", current)
        wait_until(lambda: voters(client) == 7)
        direct_time = time.perf_counter() - started
        client.close()
        print("grow 3 -> 7 voters: module run %.2fs (ansible-playbook included), direct pymongo %.2fs, "
              "ratio %.2f; minus the ping floor the module adds %.2fs"
              % (module_time, direct_time, module_time / direct_time, module_time - floor - direct_time))
    finally:
        for cluster in clusters:
            cluster.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
