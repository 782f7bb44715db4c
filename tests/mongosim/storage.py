"""What a member keeps in its dbPath, and how it survives a SIGKILL.

Layout (all ours; real mongod uses WiredTiger files instead):

* ``mongod.lock``            holds the process id; an exclusive ``flock`` on it
                             keeps a second process off the same dbPath.
* ``mongosim-oplog.bson``    append-only oplog (BSON documents back to back).
                             Every write reaches this file before it is
                             acknowledged; fsync happens by group commit (the
                             "journal"), and ``j``/``w: majority`` waits for it.
* ``mongosim-data.bson``     the last checkpoint of all collections, written to a
                             temporary file, fsynced and renamed into place.
* ``mongosim-local.bson``    the replica-set config, term and vote, rollback id,
                             feature compatibility version (the ``local`` db).

Start-up recovery loads the checkpoint and replays the oplog after it, so a
process killed at any instant comes back with every write that reached the
oplog file. The oplog is capped by ``replication.oplogSizeMB``: the oldest
entries are dropped once a checkpoint covers them.
"""

import bisect
import fcntl
import os
import time
import uuid

import bson
from bson.binary import Binary
from bson.int64 import Int64
from bson.raw_bson import RawBSONDocument
from bson.timestamp import Timestamp

from .bsonutil import id_key
from .errors import CommandError, StartupError

FORMAT = 1
OPLOG_FILE = "mongosim-oplog.bson"
DATA_FILE = "mongosim-data.bson"
LOCAL_FILE = "mongosim-local.bson"
LOCK_FILE = "mongod.lock"

DEFAULT_INDEX = {"v": 2, "key": {"_id": 1}, "name": "_id_"}


def ts_key(ts):
    return (ts.time << 32) | ts.inc


def key_ts(key):
    return Timestamp(key >> 32, key & 0xFFFFFFFF)


class OpTime:
    """(timestamp, term) of an oplog entry, ordered by timestamp then term."""

    __slots__ = ("key", "term")

    def __init__(self, key=0, term=-1):
        self.key = key
        self.term = term

    @classmethod
    def from_doc(cls, doc):
        if not doc:
            return cls()
        return cls(ts_key(doc["ts"]), int(doc["t"]))

    def to_doc(self):
        return {"ts": key_ts(self.key), "t": bson.int64.Int64(self.term)}

    @property
    def ts(self):
        return key_ts(self.key)

    @property
    def seconds(self):
        return self.key >> 32

    def is_null(self):
        return self.key == 0

    def __lt__(self, other):
        return (self.key, self.term) < (other.key, other.term)

    def __le__(self, other):
        return (self.key, self.term) <= (other.key, other.term)

    def __gt__(self, other):
        return (self.key, self.term) > (other.key, other.term)

    def __ge__(self, other):
        return (self.key, self.term) >= (other.key, other.term)

    def __eq__(self, other):
        return isinstance(other, OpTime) and (self.key, self.term) == (other.key, other.term)

    def __hash__(self):
        return hash((self.key, self.term))

    def __repr__(self):
        return "OpTime(%s, %d)" % (self.ts, self.term)


class Collection:
    __slots__ = ("name", "docs", "indexes", "options", "uuid")

    def __init__(self, name, options=None, indexes=None, coll_uuid=None):
        self.name = name
        self.docs = {}
        self.indexes = indexes or [dict(DEFAULT_INDEX)]
        self.options = options or {}
        self.uuid = coll_uuid or Binary(uuid.uuid4().bytes, 4)

    def unique_violation(self, doc, ignore_key=None):
        """Return (index, key) of a unique index ``doc`` would violate."""
        from .bsonutil import MISSING, get_path
        for index in self.indexes:
            if index["name"] == "_id_" or not index.get("unique"):
                continue
            fields = list(index["key"])
            wanted = tuple(id_key(None if get_path(doc, f) is MISSING else get_path(doc, f)) for f in fields)
            for k, other in self.docs.items():
                if k == ignore_key:
                    continue
                have = tuple(id_key(None if get_path(other, f) is MISSING else get_path(other, f)) for f in fields)
                if have == wanted:
                    return index, {f: (None if get_path(doc, f) is MISSING else get_path(doc, f)) for f in fields}
        return None


class Storage:
    def __init__(self, path, oplog_size_mb, log, min_retention_hours=0.0):
        self.path = os.path.abspath(path)
        # replication.oplogSizeMB counts only until the oplog exists; from then on its size is the one
        # recorded with it (local["oplogMaxSizeBytes"], written when the first entry arrives and by
        # replSetResizeOplog), whatever the configuration says (SEMANTICS.md section 11.1).
        self.cap_bytes = int(oplog_size_mb) * 1024 * 1024 if oplog_size_mb else None
        # storage.oplogMinRetentionHours: not persisted, the configured value at every start.
        self.min_retention_hours = float(min_retention_hours or 0.0)
        self.log = log
        self.dbs = {}
        self.local = {}
        self.txns = {}
        self._keys = []        # oplog timestamps (int keys), ascending
        self._terms = []       # terms, parallel to _keys
        self._raw = []         # encoded oplog entries, parallel to _keys
        self.oplog_bytes = 0
        self.checkpoint_key = 0
        self.durable = OpTime()
        self._fd = None
        self._lock_fd = None
        self._file_bytes = 0
        self.has_data_files = False

    # ------------------------------------------------------------------ files
    def _file(self, name):
        return os.path.join(self.path, name)

    def open(self):
        if not os.path.isdir(self.path):
            raise StartupError(
                "NonExistentPath: Data directory %s not found. Create the missing directory or specify another "
                "path using (1) the --dbpath command line option, or (2) by adding the 'storage.dbPath' option in "
                "the configuration file." % self.path, exit_code=100)
        lock_path = self._file(LOCK_FILE)
        try:
            self._lock_fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StartupError("DBPathInUse: Unable to create/open the lock file: %s (%s). Ensure the user "
                               "executing mongod is the owner of the lock file and has the appropriate "
                               "permissions. Also make sure that another mongod instance is not already running "
                               "on the %s directory" % (lock_path, exc.strerror, self.path), exit_code=100) from exc
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            raise StartupError("DBPathInUse: Unable to lock the lock file: %s (Resource temporarily unavailable). "
                               "Another mongod instance is already running on the %s directory"
                               % (lock_path, self.path), exit_code=100) from exc
        os.ftruncate(self._lock_fd, 0)
        os.write(self._lock_fd, ("%d\n" % os.getpid()).encode())
        self.has_data_files = os.path.exists(self._file(OPLOG_FILE)) or os.path.exists(self._file(DATA_FILE))
        self._load_local()
        if self.local.get("oplogMaxSizeBytes"):
            self.cap_bytes = int(self.local["oplogMaxSizeBytes"])
        self._load_checkpoint()
        self._load_oplog()

    def close(self):
        if self._fd is not None:
            self.checkpoint()
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None
        if self._lock_fd is not None:
            os.ftruncate(self._lock_fd, 0)
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    def _write_atomically(self, name, chunks):
        tmp = self._file(name + ".tmp")
        with open(tmp, "wb") as handle:
            for chunk in chunks:
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self._file(name))
        dir_fd = os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    @staticmethod
    def _read_docs(path):
        """Yield (offset, raw bytes) of BSON documents in a file; stops at a torn tail."""
        with open(path, "rb") as handle:
            data = handle.read()
        pos = 0
        while pos + 4 <= len(data):
            size = int.from_bytes(data[pos:pos + 4], "little")
            if size < 5 or pos + size > len(data) or data[pos + size - 1] != 0:
                break
            yield pos, data[pos:pos + size]
            pos += size
        yield pos, None

    # ------------------------------------------------------------------ local state
    def _load_local(self):
        path = self._file(LOCAL_FILE)
        if os.path.exists(path):
            with open(path, "rb") as handle:
                self.local = bson.decode(handle.read())
        self.local.setdefault("rbid", 1)

    def save_local(self):
        self._write_atomically(LOCAL_FILE, [bson.encode(self.local)])

    # ------------------------------------------------------------------ checkpoint
    def _load_checkpoint(self):
        path = self._file(DATA_FILE)
        if not os.path.exists(path):
            return
        current = None
        for _pos, raw in self._read_docs(path):
            if raw is None:
                break
            doc = bson.decode(raw)
            if "__header" in doc:
                self.checkpoint_key = doc["appliedThrough"]
                for txn in doc.get("txns", []):
                    self.txns[id_key(txn["lsid"])] = {
                        "lsid": txn["lsid"], "txnNumber": txn["txnNumber"], "stmtIds": set(txn["stmtIds"])}
            elif "__collection" in doc:
                db, _sep, name = doc["__collection"].partition(".")
                current = Collection(name, doc.get("options"), doc.get("indexes"), doc.get("uuid"))
                self.dbs.setdefault(db, {})[name] = current
            else:
                current.docs[id_key(doc["_id"])] = doc

    def checkpoint(self):
        """Write all collections to disk (atomically) and trim the oplog file."""
        if self._fd is None:
            return
        applied_key = self._keys[-1] if self._keys else 0

        def chunks():
            txns = [{"lsid": t["lsid"], "txnNumber": t["txnNumber"], "stmtIds": sorted(t["stmtIds"])}
                    for t in self.txns.values()]
            yield bson.encode({"__header": True, "format": FORMAT, "appliedThrough": bson.int64.Int64(applied_key),
                               "txns": txns})
            for db, colls in self.dbs.items():
                for name, coll in colls.items():
                    yield bson.encode({"__collection": "%s.%s" % (db, name), "options": coll.options,
                                       "indexes": coll.indexes, "uuid": coll.uuid})
                    for doc in coll.docs.values():
                        yield bson.encode(doc)

        os.fsync(self._fd)
        self._write_atomically(DATA_FILE, chunks())
        self.checkpoint_key = applied_key
        self._trim_oplog()

    # ------------------------------------------------------------------ oplog
    def _load_oplog(self):
        path = self._file(OPLOG_FILE)
        good_end = 0
        if os.path.exists(path):
            for offset, raw in self._read_docs(path):
                if raw is None:
                    good_end = offset
                    break
                entry = bson.decode(raw)
                key = ts_key(entry["ts"])
                self._index(key, int(entry["t"]), raw)
                if key > self.checkpoint_key:
                    self.apply(entry)
            if good_end < os.path.getsize(path):
                self.log.warning("STORAGE", 22430, "Truncating a torn write at the end of the oplog",
                                 {"offset": good_end}, ctx="initandlisten")
                with open(path, "r+b") as handle:
                    handle.truncate(good_end)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._file_bytes = good_end
        self.durable = self.last_optime()

    def _index(self, key, term, raw):
        self._keys.append(key)
        self._terms.append(term)
        self._raw.append(raw)
        self.oplog_bytes += len(raw)

    def last_optime(self):
        if not self._keys:
            return OpTime()
        return OpTime(self._keys[-1], self._terms[-1])

    def first_optime(self):
        if not self._keys:
            return OpTime()
        return OpTime(self._keys[0], self._terms[0])

    def oplog_count(self):
        return len(self._keys)

    def _record_oplog_created(self):
        """The oplog now exists: its size from here on is the one it was created with."""
        if "oplogMaxSizeBytes" not in self.local and self.cap_bytes:
            self.local["oplogMaxSizeBytes"] = Int64(self.cap_bytes)
            self.save_local()

    def append(self, entries):
        """Append oplog entries (dicts), apply them, and write them to the oplog file."""
        self._record_oplog_created()
        buf = []
        for entry in entries:
            raw = bson.encode(entry)
            key = ts_key(entry["ts"])
            if self._keys and key <= self._keys[-1]:
                raise CommandError(1, "oplog entries out of order: %s after %s"
                                   % (entry["ts"], key_ts(self._keys[-1])))
            self.apply(entry)
            self._index(key, int(entry["t"]), raw)
            buf.append(raw)
        data = b"".join(buf)
        os.write(self._fd, data)
        self._file_bytes += len(data)
        self.enforce_cap()

    def sync(self):
        """fsync the oplog; returns the OpTime now durable. May run in a thread."""
        target = self.last_optime()
        fd = self._fd
        if fd is not None:
            os.fsync(fd)
        return target

    def _retained(self, index):
        """Whether entry ``index`` is inside the minimum retention window (oplogMinRetentionHours)."""
        if self.min_retention_hours <= 0:
            return False
        return (self._keys[index] >> 32) >= time.time() - self.min_retention_hours * 3600

    def enforce_cap(self):
        if self.cap_bytes is None or self.oplog_bytes <= self.cap_bytes:
            return
        drop = 0
        size = self.oplog_bytes
        while drop < len(self._keys) - 1 and size > self.cap_bytes and not self._retained(drop):
            size -= len(self._raw[drop])
            drop += 1
        if drop and self._keys[drop - 1] > self.checkpoint_key:
            self.checkpoint()  # the entries being dropped must be covered by a checkpoint
            return
        self._drop_front(drop)

    def _drop_front(self, count):
        if count <= 0:
            return
        self.oplog_bytes -= sum(len(r) for r in self._raw[:count])
        del self._keys[:count]
        del self._terms[:count]
        del self._raw[:count]

    def _trim_oplog(self):
        """After a checkpoint: drop capped entries and rewrite the file if it grew."""
        if self.cap_bytes is not None and self.oplog_bytes > self.cap_bytes:
            drop = 0
            size = self.oplog_bytes
            while (drop < len(self._keys) - 1 and size > self.cap_bytes and self._keys[drop] <= self.checkpoint_key
                   and not self._retained(drop)):
                size -= len(self._raw[drop])
                drop += 1
            self._drop_front(drop)
        if self._file_bytes > self.oplog_bytes + 1024 * 1024:
            self._rewrite_oplog_file()

    def _rewrite_oplog_file(self):
        os.close(self._fd)
        self._write_atomically(OPLOG_FILE, list(self._raw))
        self._fd = os.open(self._file(OPLOG_FILE), os.O_WRONLY | os.O_APPEND)
        self._file_bytes = self.oplog_bytes

    def resize(self, size_mb):
        """replSetResizeOplog's size: recorded with the oplog (it outlives restarts), applied at once."""
        self.cap_bytes = int(size_mb * 1024 * 1024)
        self.local["oplogMaxSizeBytes"] = Int64(self.cap_bytes)
        self.save_local()
        self.enforce_cap()

    def find(self, optime):
        """Index of the entry with this OpTime, or None."""
        i = bisect.bisect_left(self._keys, optime.key)
        if i < len(self._keys) and self._keys[i] == optime.key and self._terms[i] == optime.term:
            return i
        return None

    def entries_after(self, optime, limit, max_bytes=8 * 1024 * 1024):
        """Raw entries strictly after ``optime`` (by timestamp)."""
        i = bisect.bisect_right(self._keys, optime.key)
        out = []
        size = 0
        while i < len(self._keys) and len(out) < limit and size < max_bytes:
            out.append(RawBSONDocument(self._raw[i]))
            size += len(self._raw[i])
            i += 1
        return out

    def entries_between(self, after, upto):
        i = bisect.bisect_right(self._keys, after.key)
        j = bisect.bisect_right(self._keys, upto.key)
        return [bson.decode(r) for r in self._raw[i:j]]

    def optimes_after(self, optime):
        i = bisect.bisect_right(self._keys, optime.key)
        return [OpTime(self._keys[j], self._terms[j]) for j in range(i, len(self._keys))]

    def recent_optimes(self, count):
        start = max(0, len(self._keys) - count)
        return [OpTime(self._keys[j], self._terms[j]) for j in range(start, len(self._keys))]

    def oplog_docs(self):
        for raw in self._raw:
            yield bson.decode(raw)

    def truncate_after(self, optime):
        """Drop oplog entries after ``optime`` (rollback); the caller restores data."""
        i = bisect.bisect_right(self._keys, optime.key)
        removed = [bson.decode(r) for r in self._raw[i:]]
        self.oplog_bytes -= sum(len(r) for r in self._raw[i:])
        del self._keys[i:]
        del self._terms[i:]
        del self._raw[i:]
        self._rewrite_oplog_file()
        return removed

    def reset(self, dump, oplog_entries):
        """Replace all data and the oplog (initial sync, rollback via refetch).

        The local database is not replicated, so it stays (local.startup_log
        among it), as in mongod's initial sync, which clones and drops only
        the replicated databases."""
        self._record_oplog_created()
        local = self.dbs.get("local")
        self.dbs = {"local": local} if local else {}
        self.txns = {}
        for coll_doc in dump:
            db, _sep, name = coll_doc["ns"].partition(".")
            coll = Collection(name, coll_doc.get("options"), coll_doc.get("indexes"), coll_doc.get("uuid"))
            for doc in coll_doc["docs"]:
                coll.docs[id_key(doc["_id"])] = doc
            self.dbs.setdefault(db, {})[name] = coll
        self._keys, self._terms, self._raw = [], [], []
        self.oplog_bytes = 0
        for entry in oplog_entries:
            raw = bson.encode(entry)
            self._index(ts_key(entry["ts"]), int(entry["t"]), raw)
        self._rewrite_oplog_file()
        self.checkpoint_key = 0
        self.checkpoint()
        self.durable = self.last_optime()

    def dump(self):
        """All non-local collections, for a member doing an initial sync from us."""
        out = []
        for db, colls in self.dbs.items():
            if db == "local":
                continue
            for name, coll in colls.items():
                out.append({"ns": "%s.%s" % (db, name), "options": coll.options, "indexes": coll.indexes,
                            "uuid": coll.uuid, "docs": list(coll.docs.values())})
        return out

    def is_empty(self):
        """True if there is no user data (an initial sync may replace everything)."""
        for db, colls in self.dbs.items():
            if db in ("local", "config"):
                continue
            for coll in colls.values():
                if coll.docs or db != "admin":
                    return False
        return True

    # ------------------------------------------------------------------ data
    def collection(self, db, name, create=False):
        colls = self.dbs.get(db)
        if colls is None:
            if not create:
                return None
            colls = self.dbs[db] = {}
        coll = colls.get(name)
        if coll is None and create:
            coll = colls[name] = Collection(name)
        return coll

    def executed(self, lsid, txn_number, stmt_id):
        entry = self.txns.get(id_key(lsid))
        return bool(entry) and entry["txnNumber"] == txn_number and stmt_id in entry["stmtIds"]

    def apply(self, entry):
        """Apply one oplog entry to the data (primary, secondary and recovery alike)."""
        op = entry["op"]
        if "lsid" in entry and "txnNumber" in entry:
            k = id_key(entry["lsid"])
            txn = self.txns.get(k)
            if txn is None or txn["txnNumber"] != entry["txnNumber"]:
                txn = self.txns[k] = {"lsid": entry["lsid"], "txnNumber": entry["txnNumber"], "stmtIds": set()}
            txn["stmtIds"].add(entry.get("stmtId", 0))
        if op == "n":
            return
        db, _sep, name = entry["ns"].partition(".")
        if op == "i":
            coll = self.collection(db, name, create=True)
            doc = entry["o"]
            coll.docs[id_key(doc["_id"])] = doc
        elif op == "u":
            coll = self.collection(db, name, create=True)
            doc = entry["o"]
            coll.docs[id_key(entry["o2"]["_id"])] = doc
        elif op == "d":
            coll = self.collection(db, name)
            if coll is not None:
                coll.docs.pop(id_key(entry["o"]["_id"]), None)
        elif op == "c":
            self._apply_command(db, entry["o"])

    def _apply_command(self, db, o):
        name = next(iter(o))
        if name == "create":
            coll = self.collection(db, o["create"], create=True)
            coll.options = {k: v for k, v in o.items() if k != "create"}
        elif name == "collMod":
            coll = self.collection(db, o["collMod"])
            if coll is not None:
                options = dict(coll.options)
                for key in ("validator", "validationLevel", "validationAction"):
                    if key in o:
                        if key == "validator" and not o[key]:
                            options.pop(key, None)
                        else:
                            options[key] = o[key]
                coll.options = options
        elif name == "drop":
            self.dbs.get(db, {}).pop(o["drop"], None)
        elif name == "dropDatabase":
            self.dbs.pop(db, None)
        elif name == "createIndexes":
            coll = self.collection(db, o["createIndexes"], create=True)
            spec = {k: v for k, v in o.items() if k != "createIndexes"}
            if not any(ix["name"] == spec["name"] for ix in coll.indexes):
                coll.indexes.append(spec)
        elif name == "dropIndexes":
            coll = self.collection(db, o["dropIndexes"])
            if coll is not None:
                coll.indexes = [ix for ix in coll.indexes if ix["name"] != o["index"] or ix["name"] == "_id_"]
        elif name == "renameCollection":
            pass
