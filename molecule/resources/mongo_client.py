"""pymongo from the controller against a scenario's members, for verify steps.

The members are reached by their addresses on the scenario's podman network
(the addresses Ansible reaches them on over SSH), each with a direct
connection: the names the replica-set config uses resolve inside the
containers only. Every subcommand prints one JSON document; the playbooks
assert on it. The password comes from the environment (QUORUM_TEST_PASSWORD),
never from the command line.

  write  --host IP --tag T --count N            insert N documents with w: "majority" on the primary at IP
  count  --host IP --tag T                      documents tagged T that the member at IP holds
  probe  --host IP                              what the member accepts: no credentials, no TLS, the admin
  writer --hosts IP,IP,... --tag T --stop FILE --log FILE
                                                write w: "majority" to whichever member is primary until FILE
                                                exists; log every acknowledged write and every moment without
                                                a primary, then print the totals

TLS (all subcommands): --tls-ca-file FILE [--tls-certificate-key-file FILE].
Verified against mongosim, a MongoDB-compatible stand-in; nothing here needs
more than the wire protocol and the commands every mongod has.
"""

import argparse
import json
import os
import sys
import time

import pymongo
from pymongo.errors import ConnectionFailure, OperationFailure, PyMongoError
from pymongo.write_concern import WriteConcern

DB = "quorum_molecule"
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
    if credentials:
        options["username"] = args.user
        options["password"] = password or os.environ["QUORUM_TEST_PASSWORD"]
        options["authSource"] = "admin"
    return pymongo.MongoClient(host, args.port, **options)


def outcome(action):
    """{"ok": True, "value": ...} or {"ok": False, "error": ..., "code": ...}."""
    try:
        return {"ok": True, "value": action()}
    except OperationFailure as exc:
        return {"ok": False, "code": exc.code, "error": str(exc)}
    except PyMongoError as exc:
        return {"ok": False, "code": None, "error": "%s: %s" % (type(exc).__name__, exc)}


def cmd_write(args):
    with client(args, args.host) as c:
        hello = c.admin.command("hello")
        coll = c[DB].get_collection(COLLECTION, write_concern=WriteConcern(w="majority", wtimeout=60000))
        result = coll.insert_many([{"tag": args.tag, "n": n} for n in range(args.count)])
        return {"member": hello.get("me"), "primary": hello.get("isWritablePrimary", False),
                "inserted": len(result.inserted_ids)}


def cmd_count(args):
    with client(args, args.host) as c:
        hello = c.admin.command("hello")
        return {"member": hello.get("me"), "count": c[DB][COLLECTION].count_documents({"tag": args.tag})}


def cmd_probe(args):
    report = {}
    # No credentials: the connection itself is allowed, reading data is not.
    with client(args, args.host, credentials=False) as c:
        report["hello_without_credentials"] = outcome(lambda: bool(c.admin.command("hello").get("setName")))
        report["list_databases_without_credentials"] = outcome(c.list_database_names)
        report["read_without_credentials"] = outcome(c[DB][COLLECTION].find_one)
    # The admin with a wrong password.
    with client(args, args.host, password="not-the-admin-password") as c:
        report["wrong_password"] = outcome(c.list_database_names)
    # Plain TCP where TLS is required.
    if args.tls_ca_file:
        with client(args, args.host, credentials=True, tls=False) as c:
            report["admin_without_tls"] = outcome(c.list_database_names)
    # The admin, as configured.
    with client(args, args.host) as c:
        report["admin"] = outcome(lambda: sorted(c.list_database_names()))
    return report


def cmd_writer(args):
    """Write until the stop file appears; every write acknowledged by a majority is logged."""
    hosts = args.hosts.split(",")
    clients = {h: client(args, h) for h in hosts}
    acknowledged = failed = 0
    gaps = []            # periods (seconds) without a writable primary
    gap_started = None
    started = time.monotonic()
    n = 0
    primary = None
    primaries = []
    with open(args.log, "w", encoding="utf-8") as log:
        while not os.path.exists(args.stop):
            if primary is None:
                for h, c in clients.items():
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
            coll = clients[primary][DB].get_collection(
                COLLECTION, write_concern=WriteConcern(w="majority", wtimeout=20000))
            try:
                coll.insert_one({"tag": args.tag, "n": n})
            except (ConnectionFailure, OperationFailure) as exc:
                # Not acknowledged: it may or may not survive, and is not counted either way.
                failed += 1
                log.write(json.dumps({"unacknowledged": n, "member": primary, "error": str(exc)[:200]}) + "\n")
                primary = None
                gap_started = time.monotonic()
            else:
                acknowledged += 1
                log.write(json.dumps({"acknowledged": n, "member": primary}) + "\n")
            log.flush()
            n += 1
    if gap_started is not None:
        gaps.append(round(time.monotonic() - gap_started, 2))
    for c in clients.values():
        c.close()
    return {"acknowledged": acknowledged, "unacknowledged": failed, "attempts": n,
            "seconds": round(time.monotonic() - started, 1), "gaps_without_primary": gaps,
            "longest_gap": max(gaps or [0]), "primaries": primaries}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["write", "count", "probe", "writer"])
    parser.add_argument("--host")
    parser.add_argument("--hosts")
    parser.add_argument("--port", type=int, default=27017)
    parser.add_argument("--user", default="admin")
    parser.add_argument("--tag", default="verify")
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--stop")
    parser.add_argument("--log")
    parser.add_argument("--tls-ca-file")
    parser.add_argument("--tls-certificate-key-file")
    args = parser.parse_args()
    try:
        result = globals()["cmd_" + args.command](args)
    except PyMongoError as exc:
        print(json.dumps({"error": "%s: %s" % (type(exc).__name__, exc)}))
        return 1
    print(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
