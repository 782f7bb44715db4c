"""Access control, the localhost exception, member authentication with the
keyFile, and TLS modes."""

import os
import ssl

import pytest
from pymongo import MongoClient
from mongosim import testing
from pymongo.errors import OperationFailure, ServerSelectionTimeoutError

from conftest import FAST, direct, error_of, free_ports, make_keyfile, run_mongosim, wait_for


@pytest.fixture
def keyfile(tmp_path):
    return make_keyfile(tmp_path / "keyfile")


@pytest.fixture
def secured(make_cluster, keyfile):
    cluster = make_cluster(3, keyfile=keyfile, auth=True)
    return cluster


def test_localhost_exception_initiate_then_first_user(secured):
    first = direct(secured.hosts[0])
    code, msg = error_of(lambda: first.admin.command("replSetGetConfig"))
    assert (code, msg) == (13, "Command replSetGetConfig requires authentication")
    code, _errmsg = error_of(lambda: first.admin.command("serverStatus"))
    assert code == 13
    first.admin.command("replSetInitiate", secured.initiate_config(**FAST))
    primary = wait_for(lambda: next((m["name"] for m in first.admin.command("replSetGetStatus")["members"]
                                     if m["stateStr"] == "PRIMARY"), None), what="a primary (status via exception)")
    secondary = next(h for h in secured.hosts if h != primary)
    code, _errmsg = error_of(lambda: direct(secondary).admin.command("createUser", "admin", pwd="pw", roles=["root"]))
    assert code == 10107
    direct(primary).admin.command("createUser", "admin", pwd="pw", roles=["root"])
    code, msg = error_of(lambda: direct(primary).admin.command("createUser", "x", pwd="pw", roles=["root"]))
    assert (code, msg) == (13, "Command createUser requires authentication")
    # The exception closes on every member once the user has replicated.
    for host in secured.hosts:
        wait_for(lambda h=host: _status_refused(h), what="the exception to close on %s" % host)
    admin = MongoClient(",".join(secured.hosts), replicaSet="rs0", username="admin", password="pw")
    assert admin.admin.command("replSetGetStatus")["ok"] == 1.0


def _status_refused(host):
    try:
        direct(host).admin.command("replSetGetStatus")
    except OperationFailure as exc:
        return exc.code == 13
    return False


def test_localhost_exception_does_not_apply_to_remote_connections(make_cluster, keyfile):
    import socket
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("198.51.100.1", 9))  # no packet is sent: this only picks the outbound interface
        address = probe.getsockname()[0]
    except OSError:
        address = None
    finally:
        probe.close()
    if address is None or address.startswith("127."):
        pytest.skip("this machine has no non-loopback address")
    cluster = make_cluster(1, keyfile=keyfile, auth=True, bind_ip="127.0.0.1,%s" % address)
    port = cluster.members[0].port
    code, msg = error_of(lambda: direct("%s:%d" % (address, port)).admin.command("replSetInitiate"))
    assert (code, msg) == (13, "Command replSetInitiate requires authentication")
    assert direct("127.0.0.1:%d" % port).admin.command("replSetInitiate")["ok"] == 1.0


def test_localhost_exception_can_be_turned_off(make_cluster, keyfile):
    cluster = make_cluster(1, keyfile=keyfile, auth=True, parameters={"enableLocalhostAuthBypass": False})
    code, _errmsg = error_of(lambda: direct(cluster.hosts[0]).admin.command("replSetInitiate"))
    assert code == 13


def test_roles(secured):
    direct(secured.hosts[0]).admin.command("replSetInitiate", secured.initiate_config(**FAST))
    primary = wait_for(lambda: next((m["name"] for m in direct(secured.hosts[0]).admin.command(
        "replSetGetStatus")["members"] if m["stateStr"] == "PRIMARY"), None), what="a primary")
    direct(primary).admin.command("createUser", "root", pwd="pw", roles=["root"])
    root = MongoClient(",".join(secured.hosts), replicaSet="rs0", username="root", password="pw")
    root.admin.command("createUser", "monitor", pwd="pw", roles=["clusterMonitor"])
    root.admin.command("createUser", "app", pwd="pw", roles=[{"role": "readWrite", "db": "app"}])
    root.admin.command("createUser", "reader", pwd="pw", roles=[{"role": "read", "db": "app"}])
    root.admin.command("createUser", "useradmin", pwd="pw", roles=["userAdminAnyDatabase"])
    code, msg = error_of(lambda: root.admin.command("createUser", "bad", pwd="pw", roles=["nosuchrole"]))
    assert (code, msg) == (31, "Could not find role: nosuchrole@admin")
    code, msg = error_of(lambda: root.admin.command("createUser", "app", pwd="pw", roles=[]))
    assert (code, msg) == (51003, 'User "app@admin" already exists')

    def client(user):
        return MongoClient(",".join(secured.hosts), replicaSet="rs0", username=user, password="pw")

    assert client("monitor").admin.command("replSetGetStatus")["ok"] == 1.0
    assert error_of(lambda: client("monitor").app.things.insert_one({}))[0] == 13
    client("app").app.things.insert_one({"x": 1})
    assert client("reader").app.things.count_documents({}) == 1
    code, msg = error_of(lambda: client("reader").app.things.insert_one({}))
    assert code == 13 and msg.startswith("not authorized on app to execute command { insert: \"things\"")
    assert error_of(lambda: client("app").admin.command("replSetGetConfig"))[0] == 13
    client("useradmin").admin.command("createUser", "later", pwd="pw", roles=["read"])
    assert error_of(client("useradmin").app.things.find_one)[0] == 13
    root.admin.command("updateUser", "reader", pwd="new")
    with pytest.raises(OperationFailure) as info:
        client("reader").admin.command("ping")
    assert info.value.code == 18
    root.admin.command("grantRolesToUser", "reader", roles=["clusterMonitor"])
    users = {u["user"]: u for u in root.admin.command("usersInfo")["users"]}
    assert {"role": "clusterMonitor", "db": "admin"} in users["reader"]["roles"]
    assert users["reader"]["mechanisms"] == ["SCRAM-SHA-1", "SCRAM-SHA-256"]
    root.admin.command("dropUser", "later")
    assert "later" not in {u["user"] for u in root.admin.command("usersInfo")["users"]}
    code, _errmsg = error_of(lambda: root.admin.command("dropUser", "later"))
    assert code == 11


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-1", "SCRAM-SHA-256"])
def test_scram_mechanisms(make_cluster, keyfile, mechanism):
    cluster = make_cluster(1, keyfile=keyfile, auth=True)
    host = cluster.hosts[0]
    direct(host).admin.command("replSetInitiate")
    wait_for(lambda: direct(host).admin.command("hello")["isWritablePrimary"], what="self-election")
    direct(host).admin.command("createUser", "u", pwd="p\u00e4ss word", roles=["root"])
    client = direct(host, username="u", password="p\u00e4ss word", authMechanism=mechanism)
    info = client.admin.command("connectionStatus")["authInfo"]
    assert info["authenticatedUsers"] == [{"user": "u", "db": "admin"}]
    assert info["authenticatedUserRoles"] == [{"role": "root", "db": "admin"}]
    anonymous = direct(host).admin.command("connectionStatus")["authInfo"]
    assert anonymous == {"authenticatedUsers": [], "authenticatedUserRoles": []}
    code, msg = error_of(lambda: direct(host, username="u", password="wrong",
                                        authMechanism=mechanism).admin.command("ping"))
    assert (code, msg) == (18, "Authentication failed.")


def test_member_with_a_different_keyfile_stays_unhealthy(make_cluster, tmp_path):
    good = make_keyfile(tmp_path / "good", "Z29vZGtleWdvb2RrZXk=")
    bad = make_keyfile(tmp_path / "bad", "YmFka2V5YmFka2V5YmFk")
    cluster = make_cluster(3, keyfile=good, auth=True)
    odd = cluster.members[2]
    odd.stop()
    cluster.keyfile = bad
    odd.start()
    cluster.keyfile = good
    direct(cluster.hosts[0]).admin.command("replSetInitiate", {
        "_id": "rs0", "members": [{"_id": 0, "host": cluster.hosts[0]}, {"_id": 1, "host": cluster.hosts[1]}],
        "settings": FAST})
    primary = wait_for(lambda: next((m["name"] for m in direct(cluster.hosts[0]).admin.command(
        "replSetGetStatus")["members"] if m["stateStr"] == "PRIMARY"), None), what="a primary")
    direct(primary).admin.command("createUser", "admin", pwd="pw", roles=["root"])
    admin = direct(primary, username="admin", password="pw")
    config = admin.admin.command("replSetGetConfig")["config"]
    config["version"] += 1
    config["members"].append({"_id": 2, "host": odd.host, "priority": 0, "votes": 0})
    admin.admin.command("replSetReconfig", config)
    entry = wait_for(lambda: next((m for m in admin.admin.command("replSetGetStatus")["members"]
                                   if m["name"] == odd.host and m.get("authenticated") is False), None),
                     what="the odd member to be reported unauthenticated")
    assert entry["health"] == 0.0


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A throwaway CA and a member certificate for 127.0.0.1/localhost."""
    paths = testing.make_test_pki(tmp_path_factory.mktemp("pki"), ["member"], ca_name="mongosim test CA")
    return {"ca": paths["ca"], "pem": paths["member"]}


def _tls_client(host, pki, cert=True, **kwargs):
    options = {"tls": True, "tlsCAFile": pki["ca"], "serverSelectionTimeoutMS": 3000}
    if cert:
        options["tlsCertificateKeyFile"] = pki["pem"]
    options.update(kwargs)
    return direct(host, **options)


def test_require_tls_between_members_and_for_clients(make_cluster, pki):
    cluster = make_cluster(3, tls={"mode": "requireTLS", "cert": pki["pem"], "ca": pki["ca"]})
    _tls_client(cluster.hosts[0], pki).admin.command("replSetInitiate", cluster.initiate_config(**FAST))
    client = MongoClient(",".join(cluster.hosts), replicaSet="rs0", tls=True, tlsCAFile=pki["ca"],
                         tlsCertificateKeyFile=pki["pem"], w=3)
    client.test.t.insert_one({"x": 1})  # w:3 proves the members replicate over TLS
    with pytest.raises(ServerSelectionTimeoutError):
        direct(cluster.hosts[0], serverSelectionTimeoutMS=1500).admin.command("ping")
    with pytest.raises(ServerSelectionTimeoutError):
        _tls_client(cluster.hosts[0], pki, cert=False, serverSelectionTimeoutMS=1500).admin.command("ping")
    assert direct(cluster.hosts[0], tls=True, tlsCAFile=pki["ca"], tlsCertificateKeyFile=pki["pem"]).admin.command(
        "getParameter", 1, tlsMode=1)["tlsMode"] == "requireTLS"


@pytest.mark.parametrize("mode", ["allowTLS", "preferTLS"])
def test_mixed_modes_accept_both(make_cluster, pki, mode):
    cluster = make_cluster(1, tls={"mode": mode, "cert": pki["pem"], "ca": pki["ca"],
                                   "allow_without_cert": True})
    host = cluster.hosts[0]
    assert direct(host).admin.command("ping")["ok"] == 1.0
    assert _tls_client(host, pki, cert=False).admin.command("ping")["ok"] == 1.0
    assert _tls_client(host, pki).admin.command("ping")["ok"] == 1.0


def test_tls_mode_upgrade_at_runtime(make_cluster, pki):
    cluster = make_cluster(1, tls={"mode": "allowTLS", "cert": pki["pem"], "ca": pki["ca"]})
    host = cluster.hosts[0]
    client = _tls_client(host, pki)
    assert client.admin.command("setParameter", 1, tlsMode="preferTLS")["was"] == "allowTLS"
    assert client.admin.command("setParameter", 1, tlsMode="requireTLS")["was"] == "preferTLS"
    with pytest.raises(ServerSelectionTimeoutError):
        direct(host, serverSelectionTimeoutMS=1500).admin.command("ping")
    code, _errmsg = error_of(lambda: client.admin.command("setParameter", 1, tlsMode="allowTLS"))
    assert code == 2
    assert client.admin.command("getCmdLineOpts")["parsed"]["net"]["tls"]["mode"] == "allowTLS"


@pytest.mark.parametrize("start,asked", [("allowTLS", "requireTLS"), ("allowTLS", "allowTLS"),
                                         ("preferTLS", "preferTLS"), ("disabled", "allowTLS"),
                                         ("requireTLS", "preferTLS")])
def test_tls_mode_moves_only_one_step_up_at_runtime(make_cluster, pki, start, asked):
    tls = None if start == "disabled" else {"mode": start, "cert": pki["pem"], "ca": pki["ca"]}
    cluster = make_cluster(1, tls=tls)
    host = cluster.hosts[0]
    client = direct(host) if start in ("disabled", "allowTLS") else _tls_client(host, pki)
    assert error_of(lambda: client.admin.command("setParameter", 1, tlsMode=asked)) == (
        2, "Illegal state transition for tlsMode, attempt to change from %s to %s" % (start, asked))
    assert client.admin.command("getParameter", 1, tlsMode=1)["tlsMode"] == start


def test_tls_needs_a_certificate(tmp_path):
    from conftest import run_mongosim
    result = run_mongosim(["--dbpath", str(tmp_path), "--tlsMode", "requireTLS"])
    assert result.returncode == 2
    assert "need tlsCertificateKeyFile or certificateSelector when TLS is enabled" in result.stderr


def test_ssl_module_is_what_clients_negotiate_with(make_cluster, pki):
    cluster = make_cluster(1, tls={"mode": "requireTLS", "cert": pki["pem"], "ca": pki["ca"]})
    ctx = ssl.create_default_context(cafile=pki["ca"])
    ctx.load_cert_chain(pki["pem"])
    import socket
    with socket.create_connection(("127.0.0.1", cluster.members[0].port)) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            assert tls.version() in ("TLSv1.2", "TLSv1.3")


def test_keyfile_rotation_with_two_keys_keeps_every_member_authenticated(make_cluster, tmp_path):
    """SEMANTICS.md section 9.1: a keyFile may hold a YAML list of keys and members authenticate when they
    share one. Rolled member by member from [old] to [old, new] to [new], the set never has a member that
    the others cannot authenticate (each member keeps the keys it read at its start)."""
    old, new = "b2xka2V5b2xka2V5b2xk", "bmV3a2V5bmV3a2V5bmV3"
    path = tmp_path / "keyfile"
    make_keyfile(path, old)
    cluster = make_cluster(3, keyfile=str(path), auth=True)
    direct(cluster.hosts[0]).admin.command("replSetInitiate", cluster.initiate_config(**FAST))
    primary = wait_for(lambda: next((m["name"] for m in direct(cluster.hosts[0]).admin.command(
        "replSetGetStatus")["members"] if m["stateStr"] == "PRIMARY"), None), what="a primary")
    direct(primary).admin.command("createUser", "admin", pwd="pw", roles=["root"])

    def whole(host):
        members = direct(host, username="admin", password="pw").admin.command("replSetGetStatus")["members"]
        return all(m["health"] == 1.0 and m["state"] in (1, 2) for m in members)

    def write_keys(text):
        os.chmod(path, 0o600)
        path.write_text(text)
        os.chmod(path, 0o400)

    for stage in ("- %s\n- %s\n" % (old, new), new + "\n"):
        write_keys(stage)
        for member in cluster.members:
            member.restart()
            for host in cluster.hosts:
                wait_for(lambda h=host: whole(h), what="every member healthy as %s sees it" % host)
    # Now the old key alone no longer gets a member in.
    odd = cluster.members[2]
    odd.stop()
    write_keys(old + "\n")
    odd.start()
    wait_for(lambda: any(m["name"] == odd.host and m["health"] == 0.0 for m in direct(
        cluster.hosts[0], username="admin", password="pw").admin.command("replSetGetStatus")["members"]),
        what="the member with the old key alone to be unhealthy")


def test_keyfile_with_more_than_two_keys_does_not_start(tmp_path):
    """SEMANTICS.md section 9.1: mongod keeps two keys at most (the internal user's credentials and its
    alternate ones); a file with a third one stops the start."""
    path = tmp_path / "keys"
    path.write_text("- c2VjcmV0a2V5Zm9ydGVzdHM=\n- bmV3a2V5Zm9ydGVzdHM=\n- dGhpcmRrZXlmb3J0ZXN0cw==\n")
    os.chmod(path, 0o400)
    port = free_ports(1)[0]
    result = run_mongosim(["--dbpath", str(tmp_path), "--port", str(port), "--replSet", "rs0", "--keyFile",
                           str(path)])
    assert result.returncode == 1
    assert ("Only two keys are supported in the security key file, 3 are specified in %s" % path
            in result.stderr + result.stdout)


def _internal_login_failures(member):
    with open(member.logpath, encoding="utf-8") as handle:
        return sum(1 for line in handle if '"Authentication failed"' in line and '"__system"' in line)


@pytest.mark.parametrize("client_keys, failures", [
    (["b2xka2V5b2xka2V5b2xk", "bmV3a2V5bmV3a2V5bmV3"], 0),
    (["bmV3a2V5bmV3a2V5bmV3", "b2xka2V5b2xka2V5b2xk"], 1),
    (["bmV3a2V5bmV3a2V5bmV3"], 1),
])
def test_a_member_sends_its_first_key_and_the_second_only_after_a_refusal(make_cluster, tmp_path, client_keys,
                                                                          failures):
    """SEMANTICS.md section 9.1: as a client of a peer, a member logs in with the first key of its keyFile and,
    when the peer refuses it (AuthenticationFailed), with the second; the peer accepts either of its own keys.
    Here the peer holds the old key alone: [old, new] gets in at once, [new, old] after one refused login, and
    [new] not at all."""
    import asyncio
    from mongosim.errors import CommandError
    from mongosim.netclient import PeerConnection
    path = tmp_path / "keyfile"
    make_keyfile(path, "b2xka2V5b2xka2V5b2xk")
    cluster = make_cluster(1, keyfile=str(path), auth=True)
    peer = cluster.members[0]
    before = _internal_login_failures(peer)

    async def login():
        conn = PeerConnection("127.0.0.1:%d" % peer.port, keys=client_keys)
        try:
            await conn.command({"ping": 1}, 10)
            return conn.authenticated
        except CommandError:
            return False
        finally:
            conn.close()

    assert asyncio.run(login()) is (client_keys != ["bmV3a2V5bmV3a2V5bmV3"])
    wait_for(lambda: _internal_login_failures(peer) - before >= failures, what="the refused logins in the log")
    assert _internal_login_failures(peer) - before == failures


def test_a_peer_connection_given_up_during_its_login_is_not_reused_unauthenticated(make_cluster, tmp_path):
    """A member's command to a peer that is cancelled half way (its heartbeat loop restarted by a reconfig while
    the connection was still logging in with the keyFile) must not leave that connection open as if it were
    ready: every later heartbeat on it would be refused as unauthorized, and the peer would stay "not
    reachable/healthy" for good (a molecule topology failure after a scale-out). The next command opens and
    logs in again."""
    import asyncio
    from mongosim.netclient import PeerConnection
    path = tmp_path / "keyfile"
    make_keyfile(path, "b2xka2V5b2xka2V5b2xk")
    cluster = make_cluster(1, keyfile=str(path), auth=True)
    peer = cluster.members[0]

    async def scenario():
        conn = PeerConnection("127.0.0.1:%d" % peer.port, keys=["b2xka2V5b2xka2V5b2xk"])
        login = conn._authenticate
        cancelled = []

        async def cancelled_login(timeout):
            # The caller is cancelled at the login's first await, once: the hello went through.
            if not cancelled:
                cancelled.append(True)
                raise asyncio.CancelledError()
            await login(timeout)

        conn._authenticate = cancelled_login
        try:
            with pytest.raises(asyncio.CancelledError):
                await conn.command({"replSetGetStatus": 1}, 10)
            assert not conn.connected
            reply = await conn.command({"replSetGetStatus": 1}, 10)
            return conn.authenticated, reply
        finally:
            conn.close()

    authenticated, reply = asyncio.run(scenario())
    assert authenticated is True
    # Not initiated, but asked by an authenticated internal user: not Unauthorized (13).
    assert reply.get("code") != 13, reply
