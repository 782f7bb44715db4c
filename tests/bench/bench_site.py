"""playbooks/site.yml side by side with Ansible's floor and with the peer's roles (run with scripts/bench).

Podman containers of the project's Debian 12 image on one machine, mongosim installed as
mongodb-org-server from the signed local apt repository (scripts/build-mongosim-packages),
served by a helper container; Ansible reaches the members over SSH as the demo does. Every
figure is next to a baseline measured in the same run; nothing asserts on time. What is measured:

  a. our idempotent re-run of playbooks/site.yml on 3 members, next to the floor playbook
     (tests/bench/site/floor.yml: facts and one ansible.builtin.ping per host) on the same hosts;
  b. the peer, community.mongodb (bundled in the ansible package), doing the same job on 3 other
     members: tests/bench/site/peer.yml runs its mongodb_repository, mongodb_install and
     mongodb_mongod roles, mongodb_replicaset, mongodb_status and mongodb_auth (its mongodb_config
     role is not run: it sets up a sharded cluster's config servers, a different job);
  c. the first run from bare hosts to a healthy secured set, ours and the peer's;
  e. our re-run with 3 and with 7 members (and the floor on the same hosts), per host.

The five costliest tasks of our last 3-member re-run are printed (ansible.posix.profile_tasks).
Re-runs: BENCH_SITE_ROUNDS (default 3) of each kind, interleaved; first runs: one each (a first
run needs fresh containers). The containers (bench-*), the network bench-net and the controller's
SSH connections are removed when the bench ends, however it ends. Needs root and scripts/setup-host
(make bench runs `make host`). Everything measured here is mongosim, not a real mongod.
"""

import json
import os
import pathlib
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
HERE = pathlib.Path(__file__).resolve().parent / "site"
WORK = ROOT / "build" / "bench"
ROUNDS = int(os.environ.get("BENCH_SITE_ROUNDS", "3"))
GROWTH = os.environ.get("BENCH_SITE_GROWTH", "1") != "0"
PEER = os.environ.get("BENCH_SITE_PEER", "1") != "0"

NETWORK, SUBNET = "bench-net", "198.51.100.192/28"  # .193 is the gateway
APT = ("bench-apt", "198.51.100.194")
OURS = [("bench-%d" % n, "198.51.100.%d" % (194 + n)) for n in range(1, 8)]      # .195-.201
PEERS = [("bench-peer-%d" % n, "198.51.100.%d" % (201 + n)) for n in range(1, 4)]  # .202-.204
LOGIN = "ansible"
SSH_OPTIONS = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
               "-o", "ConnectTimeout=5", "-o", "BatchMode=yes"]
PEER_PAUSE = 5.0  # seconds: the pause community.mongodb 1.7.10's mongodb_mongod role runs on every run


def log(text):
    print(text, flush=True)


def progress(text):
    print("  [%s] %s" % (time.strftime("%H:%M:%S"), text), file=sys.stderr, flush=True)


def run(command, check=True, **kwargs):
    return subprocess.run(command, check=check, capture_output=True, text=True, **kwargs)


def podman(*args, check=True):
    return run(["podman", *args], check=check)


def summary(values):
    return "%.1fs (%.1f-%.1f)" % (statistics.median(values), min(values), max(values))


# ---------------------------------------------------------------- containers

def version():
    out = run([sys.executable, "-c", "from mongosim.version import DEFAULT_VERSION; print(DEFAULT_VERSION)"],
              env=dict(os.environ, PYTHONPATH=str(ROOT / "tests"))).stdout.strip()
    return out, ".".join(out.split(".")[:2])


def remove_all():
    """Every container and the network this bench makes, and the SSH masters Ansible kept open."""
    for socket in (WORK / "ssh" / "cp").glob("*") if (WORK / "ssh" / "cp").is_dir() else []:
        if socket.is_socket():
            run(["ssh", "-O", "exit", "-o", "ControlPath=%s" % socket, "bench"], check=False)
    for name, _address in [APT] + OURS + PEERS:
        if podman("container", "exists", name, check=False).returncode == 0:
            podman("rm", "--force", "--time", "0", name, check=False)
    if podman("network", "exists", NETWORK, check=False).returncode == 0:
        podman("network", "rm", NETWORK, check=False)


def start_members(members, image, key):
    for name, address in members:
        podman("run", "--detach", "--name", name, "--hostname", name, "--network", NETWORK, "--ip", address,
               "--systemd=always", "--label", "quorum.bench=1",
               "--volume", "%s.pub:/home/%s/.ssh/authorized_keys:ro" % (key, LOGIN), image)
    deadline = time.monotonic() + 180
    for _name, address in members:
        # Each container boots systemd and its SSH server: poll until it answers.
        while run(["ssh", *SSH_OPTIONS, "-i", str(key), "%s@%s" % (LOGIN, address), "true"],
                  check=False).returncode != 0:
            if time.monotonic() > deadline:
                raise SystemExit("bench: %s does not answer over SSH; see podman logs" % address)
            time.sleep(0.5)


def start_apt(image, repo):
    podman("run", "--detach", "--name", APT[0], "--hostname", APT[0], "--network", NETWORK, "--ip", APT[1],
           "--label", "quorum.bench=1", "--volume", "%s:/srv/repo:ro" % repo, image,
           # sh as PID 1, so that removing the container ends the server at once.
           "sh", "-c", 'trap "exit 0" TERM; python3 -m http.server 8080 --directory /srv/repo & wait')


# ---------------------------------------------------------------- inventories

def connection_vars(key):
    return {
        "ansible_user": LOGIN,
        "ansible_ssh_private_key_file": str(key),
        "ansible_ssh_common_args": " ".join(SSH_OPTIONS + ["-o", "ServerAliveInterval=5"]),
        "ansible_ssh_pipelining": True,
        "ansible_control_path_dir": str(WORK / "ssh" / "cp"),
        "ansible_python_interpreter": "/usr/bin/python3",
    }


def write_inventory(directory, group, members, variables):
    directory.mkdir(parents=True, exist_ok=True)
    hosts = {name: {"ansible_host": address, "replicaset_member_host": address} for name, address in members}
    (directory / "hosts.yml").write_text(json.dumps({group: {"hosts": hosts}}, indent=1))
    (directory / "group_vars").mkdir(exist_ok=True)
    (directory / "group_vars" / "all.yml").write_text(json.dumps(variables, indent=1))
    return directory


def secrets():
    directory = WORK / "secrets"
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    keyfile, password = directory / "keyfile", directory / "admin-password"
    if not keyfile.exists():
        keyfile.write_text(run(["openssl", "rand", "-base64", "756"]).stdout.replace("\n", ""))
        password.write_text(re.sub("[/+=\n]", "", run(["openssl", "rand", "-base64", "33"]).stdout))
        keyfile.chmod(0o600)
        password.chmod(0o600)
    return keyfile, password


def ours_inventory(members, key, full_version, series):
    keyfile, password = secrets()
    variables = dict(connection_vars(key), **{
        "install_method": "repository",
        "install_mongodb_version": series,
        "install_apt_repository_url": "http://%s:8080/apt/debian" % APT[0],
        "install_apt_key_url": "http://%s:8080/server-%s.asc" % (APT[0], series),
        "install_package_version": full_version,
        "install_pymongo_method": "wheels",
        "install_pymongo_wheel_dir": str(ROOT / "build" / "packages" / "wheels"),
        "mongod_keyfile_content": "{{ lookup('ansible.builtin.file', '%s') }}" % keyfile,
        "replicaset_admin_password": "{{ lookup('ansible.builtin.file', '%s') }}" % password,
    })
    return write_inventory(WORK / ("ours-%d" % len(members)), "mongodb_replicaset", members, variables)


def peer_inventory(key, series):
    keyfile, password = secrets()
    variables = dict(connection_vars(key), **{
        "bench_wheel_dir": str(ROOT / "build" / "packages" / "wheels"),
        "mongodb_version": series,
        "debian": {
            "apt_key_url": "http://%s:8080/server-%s.asc" % (APT[0], series),
            "apt_repository_repo": "deb http://%s:8080/apt/debian bookworm/mongodb-org/%s main" % (APT[0], series),
        },
        "repl_set_name": "rs0",
        "authorization": "enabled",
        "openssl_keyfile_content": "{{ lookup('ansible.builtin.file', '%s') }}" % keyfile,
        "mongodb_admin_user": "admin",
        "mongodb_admin_pwd": "{{ lookup('ansible.builtin.file', '%s') }}" % password,
    })
    return write_inventory(WORK / "peer", "peer", PEERS, variables)


# ---------------------------------------------------------------- runs

def ansible_env(profile=False):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / "build" / "collections"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_DEPRECATION_WARNINGS="0")
    if profile:
        env.update(ANSIBLE_CALLBACKS_ENABLED="ansible.posix.profile_tasks", PROFILE_TASKS_TASK_OUTPUT_LIMIT="all",
                   PROFILE_TASKS_SORT_ORDER="descending")
    return env


def playbook(inventory, path, idempotent, profile=False, extra=()):
    command = [str(ROOT / ".venv" / "bin" / "ansible-playbook"), "-i", str(inventory), str(path), *extra]
    started = time.perf_counter()
    proc = subprocess.run(command, env=ansible_env(profile), capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    recap = proc.stdout[proc.stdout.rfind("PLAY RECAP"):]
    if proc.returncode != 0:
        raise SystemExit("bench: %s failed (rc %d):\n%s\n%s" % (path, proc.returncode, proc.stdout[-6000:],
                                                                proc.stderr[-3000:]))
    if idempotent and re.search(r"changed=[1-9]", recap):
        raise SystemExit("bench: a re-run of %s changed something, so it is no re-run:\n%s" % (path, proc.stdout))
    return elapsed, proc.stdout


def task_count(stdout):
    """Tasks that ran on at least one host: ok + changed (skipped ones excluded), summed over the hosts."""
    recap = stdout[stdout.rfind("PLAY RECAP"):]
    return sum(int(ok) for ok in re.findall(r"\bok=(\d+)", recap))


def costliest(stdout, count=5):
    """profile_tasks' summary lines: 'role : task name ---- 1.23s', costliest first."""
    rows = re.findall(r"^(.+?) -{3,} (\d+\.\d+)s$", stdout, re.MULTILINE)
    rows = [(name.strip(), float(seconds)) for name, seconds in rows]
    return sorted(rows, key=lambda row: -row[1])[:count]


def rounds(kinds):
    """Each kind once per round, interleaved: drift in the machine's load hits every kind alike."""
    times = {name: [] for name in kinds}
    outputs = {}
    for _round in range(ROUNDS):
        for name, function in kinds.items():
            elapsed, stdout = function()
            progress("%s re-run: %.1f s" % (name, elapsed))
            times[name].append(elapsed)
            outputs[name] = stdout
    return times, outputs


def main():
    if os.geteuid() != 0:
        raise SystemExit("bench_site: needs root (podman containers), as make demo does")
    full_version, series = version()
    image = run([str(ROOT / "scripts" / "build-image")]).stdout.strip().splitlines()[-1]
    run([str(ROOT / "scripts" / "build-mongosim-packages")])
    remove_all()  # what an interrupted earlier run may have left
    shutil.rmtree(WORK, ignore_errors=True)
    (WORK / "ssh" / "cp").mkdir(parents=True)
    os.chmod(WORK / "ssh", 0o700)
    key = WORK / "ssh" / "id_ed25519"
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "quorum-bench", "-f", str(key)])
    site, floor, peer = ROOT / "playbooks" / "site.yml", HERE / "floor.yml", HERE / "peer.yml"

    log("mongosim %s as mongodb-org-server from the signed repository in build/packages/repo, served by %s;"
        % (full_version, APT[0]))
    log("podman containers of %s on %s (%s), on this one machine; re-runs: median of %d (min-max),"
        % (image, NETWORK, SUBNET, ROUNDS))
    log("the kinds interleaved in each round; first runs: one each, from fresh containers.")
    podman("network", "create", "--subnet", SUBNET, NETWORK)
    start_apt(image, ROOT / "build" / "packages" / "repo")
    three = OURS[:3]
    start_members(three + (PEERS if PEER else []), image, key)
    ours3 = ours_inventory(three, key, full_version, series)
    first = {}
    progress("containers up; first run of site.yml")
    first["ours"], _out = playbook(ours3, site, idempotent=False)
    progress("ours: %.1f s" % first["ours"])
    if PEER:
        peer_inv = peer_inventory(key, series)
        first["peer"], _out = playbook(peer_inv, peer, idempotent=False)
        progress("peer: %.1f s; re-runs" % first["peer"])

    kinds = {
        "ours": lambda: playbook(ours3, site, idempotent=True),
        "floor": lambda: playbook(ours3, floor, idempotent=True, extra=["-e", "bench_group=mongodb_replicaset"]),
    }
    if PEER:
        kinds["peer"] = lambda: playbook(peer_inv, peer, idempotent=True)
        kinds["peer floor"] = lambda: playbook(peer_inv, floor, idempotent=True, extra=["-e", "bench_group=peer"])
    times, outputs = rounds(kinds)
    med = {name: statistics.median(values) for name, values in times.items()}
    profiled, profile_out = playbook(ours3, site, idempotent=True, profile=True)

    log("")
    log("a. idempotent re-run, 3 members:")
    log("   ours  site.yml %s, %d task results over the hosts; floor on the same hosts %s; ours = %.1fx the floor"
        % (summary(times["ours"]), task_count(outputs["ours"]), summary(times["floor"]), med["ours"] / med["floor"]))
    if PEER:
        log("b. the peer doing the same job on 3 other members (tests/bench/site/peer.yml):")
        log("   peer  %s, %d task results; floor on its hosts %s; peer = %.1fx its floor"
            % (summary(times["peer"]), task_count(outputs["peer"]), summary(times["peer floor"]),
               med["peer"] / med["peer floor"]))
        log("   ours = %.2fx the peer; without the %.0f s pause the peer's mongodb_mongod role runs every time"
            " (its 1.7.10 'debug section'), ours = %.2fx the peer"
            % (med["ours"] / med["peer"], PEER_PAUSE, med["ours"] / (med["peer"] - PEER_PAUSE)))
        log("   not run: mongodb_config (a sharded cluster's config-server set, not this job); the peer's repository"
            " role's apt_key and its install role's extra packages ran against the stand-ins")
    versus_peer = ""
    if PEER:
        peer_ratio = med["ours"] / med["peer"]
        versus_peer = "; ours <= 0.5x the peer: %.2fx, %s" % (peer_ratio, "met" if peer_ratio <= 0.5 else "NOT met")
    log("   targets (issue 14): ours <= 4x the floor: %.1fx, %s%s"
        % (med["ours"] / med["floor"], "met" if med["ours"] / med["floor"] <= 4 else "NOT met", versus_peer))
    log("   costliest tasks of one more profiled re-run (%.1f s, ansible.posix.profile_tasks; wall time over all"
        " hosts):" % profiled)
    for name, seconds in costliest(profile_out):
        log("     %5.2fs  %s" % (seconds, name))
    log("c. first run, bare hosts to a healthy secured set, 3 members (one run each):")
    if PEER:
        log("   ours %.1fs, peer %.1fs: ours = %.2fx the peer (both install Debian packages from the Debian mirror:"
            " python3-venv for ours; curl and python3-yaml for the peer)"
            % (first["ours"], first["peer"], first["ours"] / first["peer"]))
    else:
        log("   ours %.1fs" % first["ours"])

    if GROWTH:
        if PEER:
            for name, _address in PEERS:  # their part is done; fewer containers for the 7-member runs
                podman("rm", "--force", "--time", "0", name, check=False)
        start_members(OURS[3:], image, key)
        ours7 = ours_inventory(OURS, key, full_version, series)
        grow_time, _out = playbook(ours7, site, idempotent=False)
        kinds7 = {
            "ours": lambda: playbook(ours7, site, idempotent=True),
            "floor": lambda: playbook(ours7, floor, idempotent=True, extra=["-e", "bench_group=mongodb_replicaset"]),
        }
        times7, outputs7 = rounds(kinds7)
        med7 = {name: statistics.median(values) for name, values in times7.items()}
        log("e. growth of the re-run, 3 -> 7 members (the 4 new ones joined the live set in one run of %.1f s):"
            % grow_time)
        log("   7 members: ours %s, %d task results; floor %s; ours = %.1fx the floor"
            % (summary(times7["ours"]), task_count(outputs7["ours"]), summary(times7["floor"]),
               med7["ours"] / med7["floor"]))
        per_ours = (med7["ours"] - med["ours"]) / 4
        per_floor = (med7["floor"] - med["floor"]) / 4
        log("   per added host: ours %+.2f s, floor %+.2f s (%s); per host overall: ours %.2f s at 3, %.2f s at 7"
            % (per_ours, per_floor, "ours grows no faster than the floor" if per_ours <= per_floor
               else "ours grows %.1fx as fast as the floor" % (per_ours / per_floor if per_floor > 0 else float("inf")),
               med["ours"] / 3, med7["ours"] / 7))


def stop(signum, _frame):
    raise SystemExit("bench_site: stopped by signal %d" % signum)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, stop)
    try:
        main()
    finally:
        remove_all()
