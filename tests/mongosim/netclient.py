"""Member-to-member connections: OP_MSG commands over TCP, optionally TLS,
authenticated as the keyFile's internal user when the set uses a keyFile."""

import asyncio
import time

from . import wire
from .auth import INTERNAL_DB, INTERNAL_USER, ScramClient
from .errors import CommandError


class PeerError(Exception):
    """The peer could not be reached or did not answer in time."""


class PeerConnection:
    def __init__(self, host_port, client_ssl=None, keys=None, connect_timeout=10.0, client_meta=None,
                 accepts_wire_version=None, fall_back_without_auth=False):
        self.host_port = host_port
        host, _sep, port = host_port.rpartition(":")
        self.host = host.strip("[]")
        self.port = int(port)
        self.client_ssl = client_ssl
        self.keys = keys
        # security.transitionToAuth: a failed keyFile login is not fatal, the connection goes on without it
        # (SEMANTICS.md section 9.2b).
        self.fall_back_without_auth = fall_back_without_auth
        self.connect_timeout = connect_timeout
        self.client_meta = client_meta
        self.accepts_wire_version = accepts_wire_version
        self.server_max_wire = None
        self.reader = None
        self.writer = None
        self.lock = asyncio.Lock()
        self.authenticated = None
        self.last_used = 0.0

    @property
    def connected(self):
        return self.writer is not None and not self.writer.is_closing()

    async def _open(self, timeout):
        try:
            self.reader, self.writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port, ssl=self.client_ssl,
                                        server_hostname=self.host if self.client_ssl else None),
                timeout)
        except (OSError, asyncio.TimeoutError) as exc:
            self.close()
            raise PeerError("Error connecting to %s :: caused by :: %s" % (self.host_port, _describe(exc))) from exc
        hello = {"hello": 1, "$db": "admin"}
        if self.client_meta:
            hello["internalClient"] = self.client_meta
        reply = await self._roundtrip(hello, timeout)
        self.server_max_wire = reply.get("maxWireVersion")
        self._check_wire(reply)
        if self.keys:
            await self._authenticate(timeout)

    def _check_wire(self, reply):
        """mongod's wire-version handshake between members (SEMANTICS.md 11.1): the server's range must
        overlap ours, and ours starts at our own release once our FCV is past the last LTS."""
        if not self.client_meta:
            return
        mine = self.client_meta.get("maxWireVersion", 0)
        theirs_min = reply.get("minWireVersion", 0)
        theirs_max = reply.get("maxWireVersion", 0)
        problem = None
        if theirs_min > mine:
            problem = "Server min and max wire version (%d,%d) is incompatible with client min wire version (0,%d)" \
                % (theirs_min, theirs_max, mine)
        elif self.accepts_wire_version is not None and not self.accepts_wire_version(theirs_max):
            problem = "Server min and max wire version (%d,%d) is incompatible with client min wire version (%d,%d)" \
                % (theirs_min, theirs_max, mine, mine)
        if problem:
            self.close()
            raise PeerError("Error connecting to %s :: caused by :: IncompatibleServerVersion: %s"
                            % (self.host_port, problem))

    async def _authenticate(self, timeout):
        # mongod as a client of a peer (client/authenticate.cpp, authenticateInternalClient): the first key of
        # its keyFile, and only when the peer answers AuthenticationFailed (18), the second (SEMANTICS.md 9.1).
        last_error = None
        for key in self.keys:
            if last_error is not None and last_error.get("code") != 18:
                break
            client = ScramClient("SCRAM-SHA-256", INTERNAL_USER, key)
            reply = await self._roundtrip({"saslStart": 1, "mechanism": "SCRAM-SHA-256", "payload": client.first(),
                                           "autoAuthorize": 1, "options": {"skipEmptyExchange": True},
                                           "$db": INTERNAL_DB}, timeout)
            if not reply.get("ok"):
                last_error = reply
                continue
            final = client.final(reply["payload"])
            reply2 = await self._roundtrip({"saslContinue": 1, "conversationId": reply["conversationId"],
                                            "payload": final, "$db": INTERNAL_DB}, timeout)
            if not reply2.get("ok"):
                last_error = reply2
                continue
            client.verify(reply2["payload"])
            if not reply2.get("done"):
                await self._roundtrip({"saslContinue": 1, "conversationId": reply["conversationId"],
                                       "payload": b"", "$db": INTERNAL_DB}, timeout)
            self.authenticated = True
            return
        self.authenticated = False
        if self.fall_back_without_auth:
            return
        self.close()
        raise CommandError(18, "Authentication failed.", {"authFailure": True, "peerReply": last_error})

    async def _roundtrip(self, doc, timeout):
        message, request_id = wire.encode_op_msg(0, doc)
        try:
            self.writer.write(message)
            await asyncio.wait_for(self.writer.drain(), timeout)
            while True:
                message = await asyncio.wait_for(wire.read_message(self.reader), timeout)
                _reply_id, response_to, opcode, payload = message
                if response_to == request_id and opcode == wire.OP_MSG:
                    _flags, body = wire.parse_op_msg(payload)
                    return body
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, wire.ProtocolError) as exc:
            self.close()
            raise PeerError("Error on connection to %s :: caused by :: %s" % (self.host_port, _describe(exc))) from exc

    async def command(self, doc, timeout, db="admin"):
        """Send one command and return the reply document (ok may be 0)."""
        doc = dict(doc)
        doc["$db"] = db
        deadline = time.monotonic() + timeout
        async with self.lock:
            if self.connected and self.accepts_wire_version is not None and self.server_max_wire is not None \
                    and not self.accepts_wire_version(self.server_max_wire):
                self.close()
            try:
                if not self.connected:
                    await self._open(max(0.05, min(self.connect_timeout, deadline - time.monotonic())))
                self.last_used = time.monotonic()
                return await self._roundtrip(doc, max(0.05, deadline - time.monotonic()))
            except asyncio.CancelledError:
                # The caller gave up (a heartbeat loop restarted by a reconfig, say) half way: before the
                # handshake and keyFile login finished, or in the middle of a reply. Kept, the connection
                # would pass for an authenticated one or read the rest of that reply as the next; a peer
                # would then refuse every heartbeat on it as unauthorized, for good. Closed, the next
                # command opens a new one, as mongod's connection pool drops a connection it did not finish.
                self.close()
                raise

    def close(self):
        if self.writer is not None:
            try:
                self.writer.close()
            except Exception:  # noqa: BLE001 - closing a broken transport
                pass
        self.reader = self.writer = None


def _describe(exc):
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out"
    if isinstance(exc, asyncio.IncompleteReadError):
        return "connection closed"
    if isinstance(exc, ConnectionRefusedError):
        return "Connection refused"
    return str(exc) or type(exc).__name__


class PeerPool:
    """One connection per (peer, purpose): heartbeats, votes, sync and
    position reports do not queue behind each other."""

    def __init__(self, server):
        self.server = server
        self.conns = {}

    def get(self, host_port, purpose):
        key = (host_port, purpose)
        conn = self.conns.get(key)
        if conn is None:
            conn = self.conns[key] = PeerConnection(
                host_port, self.server.client_ssl_context(), self.server.internal_keys,
                client_meta={"minWireVersion": 0, "maxWireVersion": self.server.max_wire_version},
                accepts_wire_version=self.server.accepts_wire_version,
                fall_back_without_auth=bool(self.server.opts.get("security.transitionToAuth")))
        return conn

    async def command(self, host_port, purpose, doc, timeout, db="admin"):
        return await self.get(host_port, purpose).command(doc, timeout, db)

    def drop(self, host_port):
        for key in [k for k in self.conns if k[0] == host_port]:
            self.conns.pop(key).close()

    def close_all(self):
        for conn in self.conns.values():
            conn.close()
        self.conns.clear()
