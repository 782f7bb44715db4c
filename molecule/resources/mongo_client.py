"""pymongo from the controller against a scenario's members, for verify steps.

The members are reached by their addresses on the scenario's podman network
(the addresses Ansible reaches them on over SSH), each with a direct
connection: the names the replica-set config uses resolve inside the
containers only. Every subcommand prints one JSON document; the playbooks
assert on it. The password comes from the environment (QUORUM_TEST_PASSWORD),
never from the command line.

  hello  --host IP                              the member's hello (no credentials needed)
  write  --host IP --tag T --count N            insert N documents with w: "majority" on the primary at IP
  count  --host IP --tag T                      documents tagged T that the member at IP holds
                                                (both in --db, default quorum_molecule, as --user, default admin)
  wait-primary --hosts IP,IP,... --since EPOCH --timeout S
                                                poll hello (no credentials) until one of the members is
                                                primary; print it and the seconds since EPOCH
  probe  --host IP                              what the member accepts: no credentials, no TLS, the admin
  writer --hosts IP,IP,... --tag T --stop FILE --log FILE [--timeout S] [--interval S] [--auth-later]
                                                write w: "majority" to whichever member is primary until FILE
                                                exists (or S seconds passed); log every acknowledged write and
                                                every moment without a primary, then print the totals. With
                                                --auth-later it writes without credentials until a member
                                                refuses that (13, authorization turned on meanwhile), then as
                                                the admin
                                                With --tls-later (and the TLS files) it connects plain until a
                                                member refuses that (TLS turned on meanwhile), then over TLS
  check-writes --host IP --tag T --log FILE     every write the writer logged as acknowledged must be in the
                                                set (read from the member at IP with read concern majority)
  cmdline --host IP                             the member's parsed options (getCmdLineOpts)
  tls-mode --host IP                            the TLS mode the member runs now (getParameter tlsMode), whether
                                                a plain connection is accepted, and mongod's pid
  oplog  --host IP                              the member's oplog size in MB ($collStats maxSize), its minimum
                                                retention (serverStatus oplogTruncation) and mongod's pid
  certificate --host IP [--file PEM]            the serial number of the certificate the member presents to a
                                                new TLS connection (and of the one in PEM), and mongod's pid

TLS (all subcommands): --tls-ca-file FILE [--tls-certificate-key-file FILE].
--no-login (all subcommands): no credentials at all (a set that runs without authorization).
Verified against mongosim, a MongoDB-compatible stand-in; nothing here needs
more than the wire protocol and the commands every mongod has.
"""

import argparse
import json
import os
import socket
import ssl
import sys
import time

import pymongo
from pymongo.errors import ConnectionFailure, OperationFailure, PyMongoError
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

COLLECTION = "verify"
TIMEOUT_MS = 5000


def client(args, host, credentials=True, tls=None, password=None):
    options = {
        "directConnection": True,
        "serverSelectionTimeoutMS": TIMEOUT_MS,
        "connectTimeoutMS": TIMEOUT_MS,
        "socketTimeoutMS": 30000,
        "retryWrites": False,
        "appname": "quorum.mongodb molecule verify",
    }
    use_tls = bool(args.tls_ca_file) if tls is None else tls
    if use_tls:
        options["tls"] = True
        options["tlsCAFile"] = args.tls_ca_file
        if args.tls_certificate_key_file:
            options["tlsCertificateKeyFile"] = args.tls_certificate_key_file
    if credentials and not args.no_login:
        options["username"] = args.user
        options["password"] = password or os.environ["QUORUM_TEST_PASSWORD"]
        options["authSource"] = args.auth_db
    return pymongo.MongoClient(host, args.port, **options)


def outcome(action):
    """{"ok": True, "value": ...} or {"ok": False, "error": ..., "code": ...}."""
    try:
        return {"ok": True, "value": action()}
    except OperationFailure as exc:
        return {"ok": False, "code": exc.code, "error": str(exc)}
    except PyMongoError as exc:
        return {"ok": False, "code": None, "error": "%s: %s" % (type(exc).__name__, exc)}


def cmd_hello(args):
    with client(args, args.host, credentials=False) as c:
        return c.admin.command("hello")


def cmd_write(args):
    with client(args, args.host) as c:
        hello = c.admin.command("hello")
        coll = c[args.db].get_collection(COLLECTION, write_concern=WriteConcern(w="majority", wtimeout=60000))
        result = coll.insert_many([{"tag": args.tag, "n": n} for n in range(args.count)])
        return {"member": hello.get("me"), "primary": hello.get("isWritablePrimary", False),
                "inserted": len(result.inserted_ids)}


def cmd_count(args):
    with client(args, args.host) as c:
        hello = c.admin.command("hello")
        return {"member": hello.get("me"), "count": c[args.db][COLLECTION].count_documents({"tag": args.tag})}


def cmd_wait_primary(args):
    hosts = args.hosts.split(",")
    clients = {h: client(args, h, credentials=False) for h in hosts}
    deadline = time.time() + args.timeout
    try:
        while True:
            for host, c in clients.items():
                try:
                    hello = c.admin.command("hello")
                except PyMongoError:
                    continue
                if hello.get("isWritablePrimary"):
                    return {"primary": hello.get("me"), "host": host, "seconds": round(time.time() - args.since, 2)}
            if time.time() > deadline:
                return {"primary": None, "host": None, "seconds": round(time.time() - args.since, 2)}
            time.sleep(0.1)
    finally:
        for c in clients.values():
            c.close()


def cmd_probe(args):
    report = {}
    # No credentials: the connection itself is allowed, reading data is not.
    with client(args, args.host, credentials=False) as c:
        report["hello_without_credentials"] = outcome(lambda: bool(c.admin.command("hello").get("setName")))
        report["list_databases_without_credentials"] = outcome(c.list_database_names)
        report["read_without_credentials"] = outcome(c[args.db][COLLECTION].find_one)
    # The admin with a wrong password.
    with client(args, args.host, password="not-the-admin-password") as c:
        report["wrong_password"] = outcome(c.list_database_names)
    # Plain TCP where TLS is required, and TLS without a client certificate.
    if args.tls_ca_file:
        with client(args, args.host, credentials=True, tls=False) as c:
            report["admin_without_tls"] = outcome(c.list_database_names)
    if args.tls_certificate_key_file:
        certificate, args.tls_certificate_key_file = args.tls_certificate_key_file, None
        with client(args, args.host) as c:
            report["admin_without_client_certificate"] = outcome(c.list_database_names)
        args.tls_certificate_key_file = certificate
    # The admin, as configured.
    with client(args, args.host) as c:
        report["admin"] = outcome(lambda: sorted(c.list_database_names()))
    return report


def cmd_writer(args):
    """Write until the stop file appears; every write acknowledged by a majority is logged."""
    hosts = args.hosts.split(",")
    tls_later = args.tls_later and bool(args.tls_ca_file)
    tls_now = not tls_later and bool(args.tls_ca_file)
    clients = {h: client(args, h, tls=tls_now) for h in hosts}
    # Primaries are found with hello, which needs no credentials (and the admin may not exist yet).
    plain = {h: client(args, h, credentials=False, tls=tls_now) for h in hosts}
    writers = plain if args.auth_later else clients

    def reached_over_tls(host):
        """--tls-later: whether the member answers over TLS (it refuses plain connections now)."""
        try:
            with client(args, host, credentials=False, tls=True) as c:
                return bool(c.admin.command("hello"))
        except PyMongoError:
            return False

    acknowledged = failed = 0
    gaps = []            # periods (seconds) without a writable primary
    gap_started = None
    started = time.monotonic()
    n = 0
    primary = None
    primaries = []
    deadline = time.time() + args.timeout
    with open(args.log, "w", encoding="utf-8") as log:
        while not os.path.exists(args.stop) and time.time() < deadline:
            if primary is None:
                for h, c in plain.items():
                    try:
                        if c.admin.command("hello").get("isWritablePrimary"):
                            primary = h
                            break
                    except PyMongoError:
                        continue
                if primary is None:
                    gap_started = gap_started or time.monotonic()
                    time.sleep(0.1)
                    continue
                if gap_started is not None:
                    gaps.append(round(time.monotonic() - gap_started, 2))
                    gap_started = None
                if not primaries or primaries[-1] != primary:
                    primaries.append(primary)
            coll = writers[primary][args.db].get_collection(
                COLLECTION, write_concern=WriteConcern(w="majority", wtimeout=20000))
            try:
                coll.insert_one({"tag": args.tag, "n": n})
            except ConnectionFailure as exc:
                # Not acknowledged: it may or may not survive, and is not counted either way.
                failed += 1
                log.write(json.dumps({"unacknowledged": n, "member": primary, "error": str(exc)[:200]}) + "\n")
                if tls_later and reached_over_tls(primary):
                    # The primary takes TLS connections only now: every client over TLS from here on (the
                    # primary is still the primary).
                    tls_later = False
                    writing_plain = writers is plain
                    for c in list(clients.values()) + list(plain.values()):
                        c.close()
                    clients = {h: client(args, h, tls=True) for h in hosts}
                    plain = {h: client(args, h, credentials=False, tls=True) for h in hosts}
                    writers = plain if writing_plain else clients
                    log.write(json.dumps({"tls_from": n, "member": primary}) + "\n")
                else:
                    primary = None
                    gap_started = time.monotonic()
            except OperationFailure as exc:
                # Not acknowledged: it may or may not survive, and is not counted either way.
                failed += 1
                log.write(json.dumps({"unacknowledged": n, "member": primary, "error": str(exc)[:200]}) + "\n")
                if writers is plain and getattr(exc, "code", None) == 13:
                    # Authentication is enforced now: log in from here on (the primary is still the primary).
                    writers = clients
                    log.write(json.dumps({"credentials_from": n, "member": primary}) + "\n")
                else:
                    primary = None
                    gap_started = time.monotonic()
            else:
                acknowledged += 1
                log.write(json.dumps({"acknowledged": n, "member": primary}) + "\n")
            log.flush()
            n += 1
            # Pace the load (the members share the machine with everything
            # else): ten writes a second show any gap to a tenth of a second, and cost the 2-core CI machine a
            # third of what 50 did (measured against the demo set: 7 % of the CPU instead of 18 %).
            time.sleep(args.interval)
    if gap_started is not None:
        gaps.append(round(time.monotonic() - gap_started, 2))
    for c in list(clients.values()) + list(plain.values()):
        c.close()
    return {"acknowledged": acknowledged, "unacknowledged": failed, "attempts": n,
            "stopped": os.path.exists(args.stop),
            "seconds": round(time.monotonic() - started, 1), "gaps_without_primary": gaps,
            "longest_gap": max(gaps or [0]), "primaries": primaries, "credentials": writers is clients,
            "tls": bool(args.tls_ca_file) and not tls_later}


def cmd_check_writes(args):
    acknowledged = set()
    with open(args.log, encoding="utf-8") as log:
        for line in log:
            entry = json.loads(line)
            if "acknowledged" in entry:
                acknowledged.add(entry["acknowledged"])
    with client(args, args.host) as c:
        coll = c[args.db].get_collection(COLLECTION, read_concern=ReadConcern("majority"))
        found = {doc["n"] for doc in coll.find({"tag": args.tag}, {"n": 1, "_id": 0})}
    missing = sorted(acknowledged - found)
    return {"acknowledged": len(acknowledged), "found": len(found), "missing": missing[:20],
            "missing_count": len(missing)}


def cmd_versions(args):
    """The member's binary version, state, FCV (getParameter) and how long its process has run."""
    with client(args, args.host) as c:
        hello = c.admin.command("hello")
        return {"member": hello.get("me"), "version": c.admin.command("buildInfo")["version"],
                "primary": hello.get("isWritablePrimary", False), "arbiter": hello.get("arbiterOnly", False),
                "fcv": c.admin.command("getParameter", 1, featureCompatibilityVersion=1)["featureCompatibilityVersion"],
                "uptime_millis": c.admin.command("serverStatus")["uptimeMillis"]}


def cmd_cmdline(args):
    with client(args, args.host) as c:
        return c.admin.command("getCmdLineOpts")["parsed"]


def cmd_tls_mode(args):
    """The live TLS mode, asked over a plain connection where the member takes one, else over TLS."""
    def ask(tls):
        with client(args, args.host, tls=tls) as c:
            return {"mode": c.admin.command("getParameter", 1, tlsMode=1)["tlsMode"],
                    "pid": c.admin.command("serverStatus")["pid"]}
    try:
        result = ask(False)
        result["plain"] = True
    except ConnectionFailure:
        result = ask(True)
        result["plain"] = False
    return result


def cmd_oplog(args):
    with client(args, args.host) as c:
        stats = list(c.local["oplog.rs"].aggregate([{"$collStats": {"storageStats": {}}}]))[0]["storageStats"]
        status = c.admin.command("serverStatus")
        return {"size_mb": stats["maxSize"] / (1024.0 * 1024.0),
                "min_retention_hours": status["oplogTruncation"]["oplogMinRetentionHours"], "pid": status["pid"]}


def cmd_certificate(args):
    context = ssl.create_default_context(cafile=args.tls_ca_file)
    context.check_hostname = False
    context.load_cert_chain(args.tls_certificate_key_file)
    with socket.create_connection((args.host, args.port), timeout=TIMEOUT_MS / 1000.0) as raw:
        with context.wrap_socket(raw) as tls:
            served = tls.getpeercert()["serialNumber"]
    result = {"served_serial": served}
    if args.file:
        result["file_serial"] = ssl._ssl._test_decode_cert(args.file)["serialNumber"]  # noqa: SLF001
    with client(args, args.host) as c:
        result["pid"] = c.admin.command("serverStatus")["pid"]
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = sorted(name[len("cmd_"):].replace("_", "-") for name in globals() if name.startswith("cmd_"))
    parser.add_argument("command", choices=commands)
    parser.add_argument("--host")
    parser.add_argument("--hosts")
    parser.add_argument("--port", type=int, default=27017)
    parser.add_argument("--user", default="admin")
    parser.add_argument("--auth-db", default="admin")
    parser.add_argument("--db", default="quorum_molecule")
    parser.add_argument("--tag", default="verify")
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--since", type=float, default=0.0)
    parser.add_argument("--interval", type=float, default=0.1)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--stop")
    parser.add_argument("--log")
    parser.add_argument("--file")
    parser.add_argument("--auth-later", action="store_true")
    parser.add_argument("--no-login", action="store_true")
    parser.add_argument("--tls-later", action="store_true")
    parser.add_argument("--tls-ca-file")
    parser.add_argument("--tls-certificate-key-file")
    args = parser.parse_args()
    try:
        result = globals()["cmd_" + args.command.replace("-", "_")](args)
    except PyMongoError as exc:
        print(json.dumps({"error": "%s: %s" % (type(exc).__name__, exc), "code": getattr(exc, "code", None)}))
        return 1
    print(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
