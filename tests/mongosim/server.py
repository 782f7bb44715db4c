"""The mongosim process: listeners, client connections, start-up checks,
journal flushing, clean shutdown. One asyncio event loop runs everything, so
no locks are needed between connections and replication."""

import asyncio
import datetime
import os
import signal
import socket
import sys
import time

from bson.int64 import Int64
from bson.objectid import ObjectId
from bson.timestamp import Timestamp

from . import auth as authmod
from . import commands, rolecmds, tlsutil, wire
from . import fcv as fcvmod
from .bsonutil import id_key
from .errors import StartupError
from .log import LOG
from .netclient import PeerPool
from .options import load, print_startup_error
from .storage import OpTime, Storage, key_ts
from .version import max_wire_version, series, server_version

# The modules whose @command functions commands.dispatch runs (rolecmds registers its own when loaded).
COMMAND_MODULES = (commands, rolecmds)

LOOPBACK_PREFIXES = ("127.", "::1", "::ffff:127.")


class Connection:
    __slots__ = ("id", "peer", "is_local", "tls", "principals", "sasl", "hello_ok", "client", "writer",
                 "internal", "created", "peer_max_wire")

    def __init__(self, conn_id, peer, tls, writer):
        self.id = conn_id
        self.peer = peer
        host = peer[0] if peer else ""
        self.is_local = host.startswith(LOOPBACK_PREFIXES) or host == "localhost"
        self.tls = tls
        self.principals = {}
        self.sasl = {}
        self.hello_ok = False
        self.client = None
        self.writer = writer
        self.internal = False
        self.created = time.time()
        self.peer_max_wire = None

    @property
    def remote(self):
        if not self.peer:
            return "unknown"
        host = self.peer[0]
        return ("[%s]:%d" if ":" in host else "%s:%d") % (host, self.peer[1])


class Server:
    def __init__(self, opts):
        self.opts = opts
        self.version = server_version()
        self.version_series = series(self.version)
        self.max_wire_version = max_wire_version(self.version)
        self.process_id = ObjectId()
        self.instance_id = ObjectId()
        self.start_time = time.time()
        self.storage = Storage(opts.db_path, opts.get("replication.oplogSizeMB", 990), LOG,
                               opts.get("storage.oplogMinRetentionHours", 0.0))
        self.repl = None
        self.peers = PeerPool(self)
        self.connections = {}
        self.total_connections = 0
        self._conn_ids = 0
        self.cursors = {}
        self.command_metrics = {}
        self.opcounters = {"insert": 0, "query": 0, "update": 0, "delete": 0, "getmore": 0, "command": 0}
        self.network = {"bytesIn": 0, "bytesOut": 0, "numRequests": 0}
        self.internal_keys = None
        self.listening_addresses = []
        self._listeners = []
        self._server_ssl = None
        self._client_ssl = None
        self._last_ts = Timestamp(0, 0)
        self._journal_event = None
        self._journal_waiters = []
        self._durable_event = None
        self.shutting_down = False
        self.quiesce_until = None
        self._shutdown_done = None
        self.topology_counter = 0
        self.topology_event = None
        self.exit_code = 0
        self.fail_points = set()

    # ---------------------------------------------------------------- start
    def check_startup(self):
        """Synchronous checks mongod performs before it listens."""
        if self.opts.get("security.keyFile"):
            self.internal_keys = authmod.load_keyfile(self.opts.get("security.keyFile"))
        self._server_ssl = tlsutil.server_context(self.opts)
        self._client_ssl = tlsutil.client_context(self.opts)
        self.storage.open()
        problem = fcvmod.startup_problem(self.fcv_document(), self.version_series)
        if problem:
            # mongod logs "Wrong mongod version" (id 20573) and exits with ExitCode::needDowngrade.
            LOG.log("F", "CONTROL", 20573, "Wrong mongod version", {"error": problem}, ctx="initandlisten")
            raise StartupError(problem, exit_code=fcvmod.EXIT_NEED_DOWNGRADE)

    def fcv_document(self):
        """The FCV document of admin.system.version, or None (SEMANTICS.md 11.1)."""
        coll = self.storage.collection(*fcvmod.NAMESPACE)
        if coll is None:
            return None
        return coll.docs.get(id_key(fcvmod.DOC_ID))

    def accepts_wire_version(self, max_wire):
        """Whether an internal peer whose maxWireVersion is ``max_wire`` may talk to us: once our FCV
        is past the last LTS (upgraded or in a transition), mongod raises the minimum wire version it
        accepts from internal clients to its own."""
        if fcvmod.accepts_older_binaries(self.fcv_document(), self.version_series):
            return True
        return max_wire >= self.max_wire_version

    def client_ssl_context(self):
        return self._client_ssl

    @property
    def auth_enabled(self):
        return self.opts.auth_enabled

    async def start(self):
        loop = asyncio.get_running_loop()
        self._journal_event = asyncio.Event()
        self._durable_event = asyncio.Event()
        self.topology_event = asyncio.Event()
        self._bind(loop)
        self._log_startup()
        self._write_startup_log()
        if self.opts.repl_set:
            from .repl import ReplCoordinator
            self.repl = ReplCoordinator(self)
            await self.repl.start()
        asyncio.ensure_future(self._journal_loop())
        asyncio.ensure_future(self._checkpoint_loop())
        for addr in self.listening_addresses:
            LOG.info("NETWORK", 23015, "Listening on", {"address": addr}, ctx="listener")
        LOG.info("NETWORK", 23016, "Waiting for connections",
                 {"port": self.opts.port, "ssl": "on" if self._server_ssl else "off"}, ctx="listener")

    def _bind(self, loop):
        addresses = []
        for ip in self.opts.bind_ips:
            if ip == "localhost":
                addresses.append("127.0.0.1")
            else:
                try:
                    infos = socket.getaddrinfo(ip, self.opts.port, type=socket.SOCK_STREAM)
                    addresses.append(infos[0][4][0])
                except OSError as exc:
                    raise StartupError("getaddrinfo(\"%s\") failed: %s" % (ip, exc), exit_code=48) from exc
        for address in dict.fromkeys(addresses):
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind((address, self.opts.port))
            except OSError as exc:
                sock.close()
                LOG.error("NETWORK", 23024, "Error setting up listener",
                          {"error": {"code": 9001, "codeName": "SocketException", "errmsg": exc.strerror}},
                          ctx="initandlisten")
                raise StartupError("Error setting up listener: %s" % exc.strerror, exit_code=48) from exc
            sock.listen(128)
            sock.setblocking(False)
            loop.add_reader(sock.fileno(), self._on_accept, sock)
            self._listeners.append(sock)
            self.listening_addresses.append(address)

    def _log_startup(self):
        LOG.info("CONTROL", 4615611, "MongoDB starting",
                 {"pid": os.getpid(), "port": self.opts.port, "dbPath": self.storage.path,
                  "architecture": "64-bit", "host": socket.gethostname()}, ctx="initandlisten")
        LOG.info("CONTROL", 9990001, "This is mongosim, a stand-in for mongod written for quorum.mongodb's tests. "
                 "It is not MongoDB and must not hold real data.",
                 {"mongosimVersion": "0.1", "reportsServerVersion": self.version}, ctx="initandlisten")
        LOG.info("CONTROL", 23403, "Build Info",
                 {"buildInfo": {"version": self.version, "gitVersion": "mongosim", "modules": [],
                                "allocator": "system"}},
                 ctx="initandlisten")
        LOG.info("CONTROL", 21951, "Options set by command line", {"options": self.opts.parsed},
                 ctx="initandlisten")
        if not self.auth_enabled:
            LOG.warning("CONTROL", 22120, "Access control is not enabled for the database. Read and write access to "
                        "data and configuration is unrestricted", ctx="initandlisten")
        if all(ip in ("127.0.0.1", "localhost", "::1") for ip in self.opts.bind_ips):
            LOG.warning("CONTROL", 22140, "This server is bound to localhost. Remote systems will be unable to "
                        "connect to this server. Start the server with --bind_ip <address> to specify which IP "
                        "addresses it should serve responses from, or with --bind_ip_all to bind to all "
                        "interfaces.", ctx="initandlisten")

    def _write_startup_log(self):
        """One document in local.startup_log per start, as mongod's logStartup()
        writes it [src: db/mongod_main.cpp logStartup; docs: reference/local-database,
        "local.startup_log"]: _id "<hostname>-<epoch milliseconds>", hostname,
        startTime, startTimeLocal (ctime-style text), cmdLine (the parsed options, as
        getCmdLineOpts' "parsed"), pid and buildinfo (the buildInfo reply). The
        collection is capped at 10 MB; local is never replicated, so no oplog entry."""
        now = datetime.datetime.now(datetime.timezone.utc)
        millis = int(now.timestamp() * 1000)
        host = socket.gethostname()
        coll = self.storage.collection("local", "startup_log", create=True)
        if not coll.options:
            coll.options = {"capped": True, "size": Int64(10 * 1024 * 1024)}
        local = now.astimezone()
        doc = {"_id": "%s-%d" % (host, millis), "hostname": host,
               "startTime": now.replace(microsecond=now.microsecond // 1000 * 1000, tzinfo=None),
               "startTimeLocal": local.strftime("%a %b %e %H:%M:%S.") + "%03d" % (now.microsecond // 1000),
               "cmdLine": self.opts.parsed, "pid": Int64(os.getpid()), "buildinfo": commands.build_info(self)}
        coll.docs[id_key(doc["_id"])] = doc

    def default_member_host(self):
        """Host for the default initiate config (SEMANTICS.md section 4, step 2)."""
        port = self.opts.port
        ips = self.opts.bind_ips
        for ip in ips:
            if ip not in ("127.0.0.1", "localhost", "::1", "0.0.0.0", "::") and not ip.startswith("127."):
                return "%s:%d" % (ip, port)
        if self.opts.get("net.bindIpAll") or "0.0.0.0" in ips:
            return "%s:%d" % (socket.gethostname(), port)
        return "%s:%d" % (ips[0] if ips else "localhost", port)

    # ---------------------------------------------------------------- connections
    def _on_accept(self, lsock):
        try:
            sock, peer = lsock.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            return
        if self.shutting_down:
            sock.close()
            return
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        asyncio.ensure_future(self._start_connection(sock, peer))

    async def _start_connection(self, sock, peer):
        loop = asyncio.get_running_loop()
        use_tls = False
        mode = self.opts.tls_mode
        if mode == "requireTLS":
            use_tls = True
        elif mode in ("allowTLS", "preferTLS"):
            first = await self._peek(loop, sock)
            if first is None:
                sock.close()
                return
            use_tls = first == 0x16
        reader = asyncio.StreamReader(limit=wire.MAX_MESSAGE_SIZE, loop=loop)
        protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
        try:
            transport, _protocol = await loop.connect_accepted_socket(
                lambda: protocol, sock, ssl=self._server_ssl if use_tls else None,
                ssl_handshake_timeout=10.0 if use_tls else None)
        except (OSError, ConnectionError, asyncio.TimeoutError) as exc:
            LOG.info("NETWORK", 22988, "Error receiving request from client. Ending connection from remote",
                     {"error": {"code": 141, "codeName": "SSLHandshakeFailed", "errmsg": str(exc)},
                      "remote": "%s:%s" % peer[:2]})
            sock.close()
            return
        writer = asyncio.StreamWriter(transport, protocol, reader, loop)
        self._conn_ids += 1
        self.total_connections += 1
        conn = Connection(self._conn_ids, peer[:2] if peer else None, use_tls, writer)
        self.connections[conn.id] = conn
        LOG.info("NETWORK", 22943, "Connection accepted",
                 {"remote": conn.remote, "connectionId": conn.id, "connectionCount": len(self.connections)},
                 ctx="listener")
        try:
            await self._serve(conn, reader, writer)
        finally:
            self.connections.pop(conn.id, None)
            LOG.info("NETWORK", 22944, "Connection ended",
                     {"remote": conn.remote, "connectionId": conn.id, "connectionCount": len(self.connections)},
                     ctx="conn%d" % conn.id)
            try:
                writer.close()
            except Exception:  # noqa: BLE001 - transport already gone
                pass

    async def _peek(self, loop, sock):
        future = loop.create_future()

        def readable():
            if future.done():
                return
            try:
                data = sock.recv(1, socket.MSG_PEEK)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                data = b""
            future.set_result(data[0] if data else None)

        loop.add_reader(sock.fileno(), readable)
        try:
            return await asyncio.wait_for(future, 30.0)
        except asyncio.TimeoutError:
            return None
        finally:
            loop.remove_reader(sock.fileno())

    async def _serve(self, conn, reader, writer):
        while True:
            try:
                request_id, _response_to, opcode, payload = await wire.read_message(reader)
            except (asyncio.IncompleteReadError, ConnectionError, OSError, wire.ProtocolError):
                return
            self.network["bytesIn"] += 16 + len(payload)
            self.network["numRequests"] += 1
            if opcode == wire.OP_MSG:
                try:
                    flags, body = wire.parse_op_msg(payload)
                except Exception:  # noqa: BLE001 - malformed message: drop the connection like mongod
                    return
                reply = await commands.dispatch(self, conn, body)
                if reply is commands.CLOSE_CONNECTION:
                    return
                if flags & wire.MORE_TO_COME:
                    continue
                if flags & wire.EXHAUST_ALLOWED and commands.is_exhaust_hello(body, reply):
                    if not await self._exhaust_hello(conn, writer, body, reply, request_id):
                        return
                    continue
                data, _request_id = wire.encode_op_msg(request_id, reply)
            elif opcode == wire.OP_QUERY:
                try:
                    _flags, collection, _skip, _nreturn, query = wire.parse_op_query(payload)
                except Exception:  # noqa: BLE001
                    return
                if not collection.endswith(".$cmd"):
                    return
                if "$query" in query:
                    query = query["$query"]
                body = dict(query)
                body["$db"] = collection[:-5]
                reply = await commands.dispatch(self, conn, body, legacy_op_query=True)
                if reply is commands.CLOSE_CONNECTION:
                    return
                data = wire.encode_op_reply(request_id, [reply])
            else:
                return
            self.network["bytesOut"] += len(data)
            try:
                writer.write(data)
                await writer.drain()
            except (ConnectionError, OSError):
                return

    async def _exhaust_hello(self, conn, writer, body, reply, request_id):
        """Streaming hello: keep answering with moreToCome as the topology changes."""
        response_to = request_id
        while True:
            data, sent_id = wire.encode_op_msg(response_to, reply, flags=wire.MORE_TO_COME)
            try:
                writer.write(data)
                await writer.drain()
            except (ConnectionError, OSError):
                return False
            response_to = sent_id
            if not reply.get("ok") or self.shutting_down and self.quiesce_until is None:
                return True
            follow = dict(body)
            follow["topologyVersion"] = reply.get("topologyVersion", follow.get("topologyVersion"))
            reply = await commands.dispatch(self, conn, follow)
            if reply is commands.CLOSE_CONNECTION:
                return False

    # ---------------------------------------------------------------- topology version (standalone)
    def topology_version(self):
        if self.repl is not None:
            return self.repl.topology_version()
        from bson.int64 import Int64
        return {"processId": self.process_id, "counter": Int64(self.topology_counter)}

    def current_topology_event(self):
        return self.repl.topology_event if self.repl is not None else self.topology_event

    def bump_topology(self):
        if self.repl is not None:
            self.repl.topology_changed()
            return
        self.topology_counter += 1
        event = self.topology_event
        self.topology_event = asyncio.Event()
        event.set()

    # ---------------------------------------------------------------- oplog time and durability
    def next_timestamp(self):
        now = int(time.time())
        last = self.storage.last_optime().ts
        if (last.time, last.inc) > (self._last_ts.time, self._last_ts.inc):
            self._last_ts = last
        if now > self._last_ts.time:
            ts = Timestamp(now, 1)
        else:
            ts = Timestamp(self._last_ts.time, self._last_ts.inc + 1)
        self._last_ts = ts
        return ts

    def current_term(self):
        return self.repl.term if self.repl is not None else -1

    def request_journal_flush(self):
        if self._journal_event is not None:
            self._journal_event.set()

    async def _journal_loop(self):
        """Group commit: fsync the oplog whenever something new was written."""
        loop = asyncio.get_running_loop()
        interval = self.opts.get("storage.journal.commitIntervalMs", 100) / 1000.0
        while not self.shutting_down:
            try:
                await asyncio.wait_for(self._journal_event.wait(), interval)
            except asyncio.TimeoutError:
                pass
            self._journal_event.clear()
            if self.storage.durable >= self.storage.last_optime():
                continue
            durable = await loop.run_in_executor(None, self.storage.sync)
            if durable > self.storage.durable:
                self.storage.durable = durable
                event = self._durable_event
                self._durable_event = asyncio.Event()
                event.set()
                if self.repl is not None:
                    self.repl.on_local_durable()

    async def wait_durable(self, optime, deadline):
        self.request_journal_flush()
        while self.storage.durable < optime:
            event = self._durable_event
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                await asyncio.wait_for(event.wait(), timeout)
            except asyncio.TimeoutError:
                return False
        return True

    async def _checkpoint_loop(self):
        period = float(self.opts.get("storage.syncPeriodSecs", 60) or 60)
        while True:
            await asyncio.sleep(period)
            self.storage.checkpoint()

    # ---------------------------------------------------------------- replication hooks
    def on_step_down(self):
        """A primary became a secondary: user operations waiting on it fail."""

    def save_rollback_files(self, entries):
        """Write the documents a rollback undoes to dbPath/rollback/<ns>/removed.<time>.bson."""
        if not entries:
            return
        import bson
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H-%M-%S.%f")
        by_ns = {}
        for entry in entries:
            if entry["op"] in ("i", "u"):
                db, _sep, name = entry["ns"].partition(".")
                coll = self.storage.collection(db, name)
                key_doc = entry["o2"] if entry["op"] == "u" else entry["o"]
                from .bsonutil import id_key
                doc = coll.docs.get(id_key(key_doc["_id"])) if coll is not None else None
                if doc is not None:
                    by_ns.setdefault(entry["ns"], []).append(doc)
        for ns, docs in by_ns.items():
            folder = os.path.join(self.storage.path, "rollback", ns)
            os.makedirs(folder, exist_ok=True)
            with open(os.path.join(folder, "removed.%s.bson" % stamp), "wb") as handle:
                for doc in docs:
                    handle.write(bson.encode(doc))

    def apply_refetch(self, touched, docs):
        from .bsonutil import id_key
        fetched = {}
        for item in docs:
            fetched.setdefault(item["ns"], {})[id_key(item["doc"]["_id"])] = item["doc"]
        for ns, ids in touched.items():
            db, _sep, name = ns.partition(".")
            coll = self.storage.collection(db, name, create=True)
            for _id in ids:
                k = id_key(_id)
                if k in fetched.get(ns, {}):
                    coll.docs[k] = fetched[ns][k]
                else:
                    coll.docs.pop(k, None)

    # ---------------------------------------------------------------- shutdown
    async def shutdown(self, force=False, timeout_secs=15.0, signaled=False):
        """Clean shutdown: a primary steps down first; a secondary then spends
        the quiesce period answering hello with ShutdownInProgress."""
        if self.shutting_down:
            return
        repl = self.repl
        if repl is not None and repl.config is not None and repl.state == 1 and len(repl.config["members"]) > 1:
            try:
                await repl._step_down_with_catch_up(60, timeout_secs, force or signaled, "shutdown")
            except Exception as exc:  # noqa: BLE001 - reported to the client unless forced
                if not (force or signaled):
                    raise
                LOG.info("REPL", 4695100, "Error stepping down during shutdown", {"error": str(exc)})
        self.shutting_down = True
        if repl is not None:
            repl.begin_shutdown()
        LOG.info("CONTROL", 23377 if signaled else 4784900, "Received signal" if signaled else
                 "Shutdown started", {"signal": 15} if signaled else None, ctx="SignalHandler")
        if repl is not None and repl.state == 2 and len(repl.config["members"]) > 1 and timeout_secs > 0:
            self.quiesce_until = time.monotonic() + timeout_secs
            self.bump_topology()
            LOG.info("REPL", 4794602, "Entering quiesce mode for shutdown", {"quiesceTimeMillis":
                                                                             int(timeout_secs * 1000)})
            await asyncio.sleep(timeout_secs)
        LOG.info("CONTROL", 4784901, "Shutting down the MirrorMaestro", ctx="SignalHandler")
        for sock in self._listeners:
            try:
                asyncio.get_running_loop().remove_reader(sock.fileno())
            except Exception:  # noqa: BLE001
                pass
            sock.close()
        if repl is not None:
            await repl.stop()
        for conn in list(self.connections.values()):
            try:
                conn.writer.close()
            except Exception:  # noqa: BLE001
                pass
        self.peers.close_all()
        self.storage.close()
        pid_file = self.opts.get("processManagement.pidFilePath")
        if pid_file:
            try:
                os.unlink(pid_file)
            except OSError:
                pass
        LOG.info("CONTROL", 20565, "Now exiting", ctx="SignalHandler")
        LOG.info("CONTROL", 23138, "Shutting down", {"exitCode": 0}, ctx="SignalHandler")
        self._shutdown_done.set()


def _daemonize(log_path):
    """processManagement.fork: the parent waits for the child to be ready."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid > 0:
        os.close(write_fd)
        sys.stdout.write("about to fork child process, waiting until server is ready for connections.\n")
        sys.stdout.write("forked process: %d\n" % pid)
        sys.stdout.flush()
        status = os.read(read_fd, 1)
        if status == b"0":
            sys.stdout.write("child process started successfully, parent exiting\n")
            sys.stdout.flush()
            os._exit(0)
        sys.stderr.write("ERROR: child process failed, exited with 1\nTo see additional information in this "
                         "output, start without the \"--fork\" option.\n")
        os._exit(1)
    os.close(read_fd)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    return write_fd


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    try:
        opts = load(argv)
    except StartupError as exc:
        print_startup_error(exc)
        return exc.exit_code
    if opts.wants_version:
        _print_version()
        return 0
    if opts.wants_help:
        sys.stdout.write("Usage: mongod [options]  (mongosim: accepts mongod's options; see tests/README.md)\n")
        return 0
    ready_fd = None
    if opts.get("processManagement.fork"):
        ready_fd = _daemonize(opts.get("systemLog.path"))
    LOG.quiet = bool(opts.get("systemLog.quiet"))
    try:
        LOG.open(opts.get("systemLog.path"), bool(opts.get("systemLog.logAppend")))
    except OSError as exc:
        sys.stderr.write("Failed to open log file %s: %s\n" % (opts.get("systemLog.path"), exc.strerror))
        _signal_ready(ready_fd, b"1")
        return 1
    server = Server(opts)
    try:
        server.check_startup()
    except StartupError as exc:
        LOG.error("CONTROL", 20574, "Error during global initialization", {"error": exc.message},
                  ctx="initandlisten")
        print_startup_error(exc)
        _signal_ready(ready_fd, b"1")
        return exc.exit_code
    pid_file = opts.get("processManagement.pidFilePath")
    if pid_file:
        try:
            with open(pid_file, "w", encoding="ascii") as handle:
                handle.write("%d\n" % os.getpid())
        except OSError as exc:
            sys.stderr.write("Can't write pid file %s: %s\n" % (pid_file, exc.strerror))
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    code = loop.run_until_complete(_run(server, ready_fd))
    # Storage is closed and fsynced by now; leave without waiting for stray
    # tasks (a cancelled connection handler must not keep the process alive).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


async def _run(server, ready_fd):
    loop = asyncio.get_running_loop()
    server._shutdown_done = asyncio.Event()
    try:
        await server.start()
    except StartupError as exc:
        print_startup_error(exc)
        _signal_ready(ready_fd, b"1")
        server.storage.close()
        return exc.exit_code
    _signal_ready(ready_fd, b"0")
    timeout = server.opts.parameters.get("shutdownTimeoutMillisForSignaledShutdown", 15000) / 1000.0

    def on_signal(signum):
        asyncio.ensure_future(server.shutdown(signaled=True, timeout_secs=timeout))

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)
    loop.add_signal_handler(signal.SIGUSR1, LOG.reopen)
    await server._shutdown_done.wait()
    return server.exit_code


def _signal_ready(fd, status):
    if fd is not None:
        try:
            os.write(fd, status)
            os.close(fd)
        except OSError:
            pass


def _print_version():
    version = server_version()
    sys.stdout.write("db version v%s\n" % version)
    sys.stdout.write("Build Info: {\n")
    sys.stdout.write('    "version": "%s",\n' % version)
    sys.stdout.write('    "gitVersion": "mongosim",\n')
    sys.stdout.write('    "mongosim": "a stand-in for mongod used by quorum.mongodb tests; not MongoDB",\n')
    sys.stdout.write('    "modules": [],\n')
    sys.stdout.write('    "allocator": "system",\n')
    sys.stdout.write('    "environment": {\n        "distarch": "x86_64",\n        "target_arch": "x86_64"\n    }\n')
    sys.stdout.write("}\n")


def oplog_time(optime):
    return OpTime(optime.key, optime.term) if optime else OpTime()


__all__ = ["main", "Server", "key_ts"]
