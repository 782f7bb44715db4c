"""The replicaset module's no-op run against Ansible's floor and the peer's module (run with scripts/bench).

mongosim members on loopback, no containers; every figure is next to a baseline measured in the
same run, and nothing asserts on time. What is measured:

1. For 3, 7 and 50 declared members (at most 7 voters, the rest votes 0 and priority 0), one
   ansible-playbook run of each, in turn, several rounds, median (min-max):
     - ping:   a play whose one task is ansible.builtin.ping (Ansible's floor for one module call);
     - ours:   quorum.mongodb.replicaset declaring the live set (a no-op: it asks every declared
               member hello, reads the primary's config and compares it);
     - peer:   community.mongodb.mongodb_replicaset (bundled in the ansible package) as its roles'
               users call it, reconfigure: false: one hello, the set's name compared, members not;
     - peer-r: the same with reconfigure: true and the members as dicts, the only way the peer
               compares the members with the live config.
   Printed: seconds, each as a ratio to ping, ours to the peer, and the growth per declared member.
2. The module itself on the 50-member set (item 3 of issue 14), without ansible-playbook:
     - one no-op converge in this process: wall time and tracemalloc's peak of the Python heap;
     - the whole module as its own Python process (as Ansible runs it, arguments from a file):
       wall time and peak RSS, next to ansible.builtin.ping run the same way;
     - planning on the live 50-member config: the no-op (nothing to plan) and a change that moves
       a vote from one member to another, time and tracemalloc peak.

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
import tracemalloc

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "build" / "collections"))

PYTHON = str(ROOT / ".venv" / "bin" / "python")
SIZES = tuple(int(n) for n in os.environ.get("BENCH_MODULE_SIZES", "3,7,50").split(","))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
VOTERS = 7
# The no-op declares these settings too (so they match the live set). For 50 members the heartbeat
# interval is longer: 50 mongosim processes on two cores otherwise spend the machine on heartbeats.
SETTINGS = {3: {"election_timeout_millis": 10000, "heartbeat_interval_millis": 2000},
            7: {"election_timeout_millis": 10000, "heartbeat_interval_millis": 2000},
            50: {"election_timeout_millis": 30000, "heartbeat_interval_millis": 6000}}


def summary(values):
    return "%.2fs (%.2f-%.2f)" % (statistics.median(values), min(values), max(values))


def env():
    return dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / "build" / "collections"),
                ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0",
                ANSIBLE_DEPRECATION_WARNINGS="0", ANSIBLE_PYTHON_INTERPRETER=PYTHON)


def write_play(path, tasks):
    play = [{"hosts": "localhost", "connection": "local", "gather_facts": False, "tasks": tasks}]
    path.write_text(json.dumps(play))
    return path


def run_playbook(path):
    command = [str(ROOT / ".venv" / "bin" / "ansible-playbook"), "-i", "localhost,", str(path)]
    started = time.perf_counter()
    proc = subprocess.run(command, env=env(), capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit("playbook %s failed:\n%s\n%s" % (path, proc.stdout, proc.stderr))
    if "changed=0" not in proc.stdout:
        raise SystemExit("playbook %s changed something on a run meant to be a no-op:\n%s" % (path, proc.stdout))
    return elapsed


def declared(cluster):
    """Our module's members: the first VOTERS vote, the others neither vote nor can be elected."""
    return [{"host": host} if index < VOTERS else {"host": host, "votes": 0, "priority": 0}
            for index, host in enumerate(cluster.hosts)]


def ours_args(cluster, size):
    return {"name": "rs0", "members": declared(cluster), "settings": SETTINGS[size],
            "login_host": "127.0.0.1", "login_port": cluster.ports[0], "wait_timeout": 600}


def peer_task(cluster, reconfigure):
    if reconfigure:
        members = [{"host": m["host"], "priority": m.get("priority", 1), "votes": m.get("votes", 1)}
                   for m in declared(cluster)]
    else:
        members = list(cluster.hosts)
    return {"community.mongodb.mongodb_replicaset": {
        "replica_set": "rs0", "members": members, "login_host": "127.0.0.1", "login_port": cluster.ports[0],
        # validate counts the voters of the declaration and wants an odd number of them; the
        # declarations above have 7, but as strings every member counts as a voter.
        "validate": False, "reconfigure": reconfigure}}


def start_set(work, size):
    from mongosim.cluster import Cluster, free_ports

    cluster = Cluster(work / ("set%d" % size), free_ports(size))
    cluster.start()
    # Initiated by our module (it waits until every member is healthy), then no-op runs from here on.
    initiate = write_play(work / ("initiate%d.yml" % size),
                          [{"quorum.mongodb.replicaset": ours_args(cluster, size)}])
    command = [str(ROOT / ".venv" / "bin" / "ansible-playbook"), "-i", "localhost,", str(initiate)]
    proc = subprocess.run(command, env=env(), capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        cluster.kill()
        raise SystemExit("initiating the %d-member set failed:\n%s\n%s" % (size, proc.stdout, proc.stderr))
    return cluster


def compare_noops(work, size, cluster):
    plays = {
        "ping": write_play(work / ("ping%d.yml" % size), [{"ansible.builtin.ping": {}}]),
        "ours": write_play(work / ("ours%d.yml" % size), [{"quorum.mongodb.replicaset": ours_args(cluster, size)}]),
        "peer": write_play(work / ("peer%d.yml" % size), [peer_task(cluster, reconfigure=False)]),
        "peer-r": write_play(work / ("peerr%d.yml" % size), [peer_task(cluster, reconfigure=True)]),
    }
    for path in plays.values():
        run_playbook(path)  # warm the caches of every kind once
    times = {name: [] for name in plays}
    for _round in range(ROUNDS):
        for name, path in plays.items():  # interleaved, so drift in the machine's load hits all alike
            times[name].append(run_playbook(path))
    return times


# A child's peak RSS as Linux counts it starts from its parent's at fork (it survives exec), so the
# module is started by this small wrapper rather than by the benchmark's own, larger, process.
WRAPPER = """
import resource, subprocess, sys, time
started = time.perf_counter()
proc = subprocess.run(sys.argv[1:], capture_output=True, text=True)
elapsed = time.perf_counter() - started
sys.stdout.write(proc.stdout)
sys.stderr.write("%f %d %d" % (elapsed, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, proc.returncode))
"""


def module_process(args_path, module):
    """Run one module as Ansible runs it (its own interpreter, arguments from a file): seconds, peak RSS KiB."""
    proc = subprocess.run([PYTHON, "-c", WRAPPER, PYTHON, "-m", module, str(args_path)],
                          env=dict(env(), PYTHONPATH=str(ROOT / "build" / "collections")),
                          capture_output=True, text=True, check=False)
    elapsed, peak, status = proc.stderr.split()[-3:]
    out = proc.stdout
    result = json.loads(out[out.index("{"):])
    if int(status) != 0 or result.get("failed") or result.get("changed"):
        raise SystemExit("%s did not run as a no-op: %s" % (module, out))
    return float(elapsed), int(peak)


def module_itself(work, cluster):
    """Item 3 of issue 14: the module's own time and memory on the 50-member set."""
    from ansible.module_utils import basic
    from pymongo import MongoClient

    from ansible_collections.quorum.mongodb.plugins.module_utils.mongodb_common import Connector
    from ansible_collections.quorum.mongodb.plugins.module_utils.replicaset_config import desired_declaration
    from ansible_collections.quorum.mongodb.plugins.module_utils.replicaset_converge import Converger
    from ansible_collections.quorum.mongodb.plugins.module_utils.replicaset_plan import plan
    from ansible_collections.quorum.mongodb.plugins.modules import replicaset

    size = len(cluster.hosts)
    args = ours_args(cluster, size)
    basic._ANSIBLE_ARGS = json.dumps({"ANSIBLE_MODULE_ARGS": args}).encode()
    basic._ANSIBLE_PROFILE = "legacy"  # what a module run from a file of arguments gets
    module = basic.AnsibleModule(argument_spec=replicaset.argument_spec(), supports_check_mode=True)
    params = module.params

    def converge():
        desired, settings = desired_declaration(params)
        connector = Connector(params, app_name="quorum.mongodb.replicaset bench")
        try:
            return Converger(connector, params["name"], desired, settings, wait_timeout=params["wait_timeout"],
                             warn=print).run()
        finally:
            connector.close()

    converge()  # warm up: imports, first connections
    timings, peaks = [], []
    for _round in range(ROUNDS):
        tracemalloc.start()
        started = time.perf_counter()
        result = converge()
        timings.append(time.perf_counter() - started)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        if result["changed"]:
            raise SystemExit("the in-process converge changed the set: %s" % result)
    print("  one no-op converge in this process (declaration checked, %d hellos, the config read and compared):"
          % size)
    print("    %.0f ms (%.0f-%.0f), Python heap peak %d KiB (%d-%d), median of %d"
          % (statistics.median(timings) * 1000, min(timings) * 1000, max(timings) * 1000,
             statistics.median(peaks) // 1024, min(peaks) // 1024, max(peaks) // 1024, ROUNDS))

    ours_file = work / "module-args.json"
    ours_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    ping_file = work / "ping-args.json"
    ping_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": {}}))
    module_name = "ansible_collections.quorum.mongodb.plugins.modules.replicaset"
    runs = {"module": [], "ping": []}
    for _round in range(ROUNDS):
        runs["module"].append(module_process(ours_file, module_name))
        runs["ping"].append(module_process(ping_file, "ansible.modules.ping"))
    ours_t, ping_t = [t for t, _r in runs["module"]], [t for t, _r in runs["ping"]]
    ours_r, ping_r = [r for _t, r in runs["module"]], [r for _t, r in runs["ping"]]
    print("  the module as its own process (as Ansible runs it), %d declared members, median of %d:" % (size, ROUNDS))
    print("    replicaset %s, peak RSS %.1f MiB; ansible.builtin.ping %s, peak RSS %.1f MiB; ratio %.2f"
          % (summary(ours_t), statistics.median(ours_r) / 1024, summary(ping_t), statistics.median(ping_r) / 1024,
             statistics.median(ours_t) / statistics.median(ping_t)))

    client = MongoClient(cluster.hosts[0], directConnection=True)
    try:
        config = client.admin.command("replSetGetConfig")["config"]
    finally:
        client.close()
    desired, settings = desired_declaration(params)
    moved = [dict(m) for m in args["members"]]
    moved[VOTERS - 1] = {"host": moved[VOTERS - 1]["host"], "votes": 0, "priority": 0}
    moved[-1] = {"host": moved[-1]["host"]}
    moved_desired, _settings = desired_declaration(dict(params, members=moved))
    primary = cluster.hosts[0]
    cases = [("no-op (nothing to plan)", desired)]
    if size > VOTERS:
        cases.append(("a vote moved from member %d to member %d" % (VOTERS, size), moved_desired))
    for name, wanted in cases:
        timings, peaks = [], []
        for _round in range(ROUNDS):
            tracemalloc.start()
            started = time.perf_counter()
            steps = plan(config, wanted, settings, primary)
            timings.append(time.perf_counter() - started)
            peaks.append(tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()
        print("  planning on the live %d-member config, %s: %.1f ms (%.1f-%.1f), heap peak %d KiB, %d step(s)"
              % (size, name, statistics.median(timings) * 1000, min(timings) * 1000, max(timings) * 1000,
                 statistics.median(peaks) // 1024, len(steps)))


def main():
    work = pathlib.Path(tempfile.mkdtemp(prefix="bench-module-"))
    clusters = []
    medians = {}
    try:
        print("no-op run of one task through ansible-playbook on localhost, mongosim members on loopback;")
        print("median of %d rounds (min-max), the four kinds interleaved in each round:" % ROUNDS)
        for size in SIZES:
            started = time.perf_counter()
            cluster = start_set(work, size)
            clusters.append(cluster)
            setup = time.perf_counter() - started
            times = compare_noops(work, size, cluster)
            medians[size] = {name: statistics.median(values) for name, values in times.items()}
            m = medians[size]
            print("  %2d members (%d voting; set up in %.0f s):" % (size, min(size, VOTERS), setup))
            print("    ping %s | ours %s = %.2fx ping | peer %s = %.2fx ping | peer reconfigure %s = %.2fx ping"
                  % (summary(times["ping"]), summary(times["ours"]), m["ours"] / m["ping"],
                     summary(times["peer"]), m["peer"] / m["ping"], summary(times["peer-r"]),
                     m["peer-r"] / m["ping"]))
            print("    ours is %.2fx the peer's default call and %.2fx its reconfigure call"
                  % (m["ours"] / m["peer"], m["ours"] / m["peer-r"]))
            if size == SIZES[-1]:
                module_itself(work, cluster)
            if size != SIZES[0]:
                # Each set is only needed for its own rounds (and item 3); 50 processes cost the machine.
                cluster.kill()
                clusters.remove(cluster)
        first, last = SIZES[0], SIZES[-1]
        if first == last:
            return
        print("growth per declared member, %d -> %d members (median minus median, over %d members):"
              % (first, last, last - first))
        labels = {"ping": "ping", "ours": "ours", "peer": "peer (reconfigure: false)",
                  "peer-r": "peer (reconfigure: true)"}
        ping_per = (medians[last]["ping"] - medians[first]["ping"]) / (last - first)
        for name in ("ping", "ours", "peer", "peer-r"):
            per = (medians[last][name] - medians[first][name]) / (last - first)
            print("  %-26s %+6.1f ms per member%s" % (labels[name], per * 1000, "" if name == "ping" else
                                                      ", %+.1f ms more than ping's" % ((per - ping_per) * 1000)))
        print("  (ping itself does not depend on the members: its growth is the load of %d mongosim processes"
              " on this machine)" % last)
        target = medians[first]["ours"] / medians[first]["ping"]
        print("target (issue 14): ours <= 1.3x ping on 3 members: %.2fx, %s"
              % (target, "met" if target <= 1.3 else "NOT met"))
    finally:
        for cluster in clusters:
            cluster.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
