"""mongod-style structured log lines (JSON, one per line, since 4.4).

Lines go to systemLog.path (renamed aside at start unless logAppend) or to
stdout, and the last ones are kept in memory for the getLog command.
"""

import collections
import datetime
import json
import os
import sys
import threading

SEVERITIES = {"F", "E", "W", "I", "D1", "D2"}


def _now_string():
    now = datetime.datetime.now(datetime.timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + "%03d+00:00" % (now.microsecond // 1000)


def _json_default(value):
    # BSON types in attributes: render the way mongod's extended JSON does, roughly.
    name = type(value).__name__
    if name == "ObjectId":
        return {"$oid": str(value)}
    if name == "Timestamp":
        return {"$timestamp": {"t": value.time, "i": value.inc}}
    if name == "Int64":
        return int(value)
    if isinstance(value, datetime.datetime):
        return {"$date": value.isoformat()}
    if isinstance(value, bytes):
        return {"$binary": value.hex()}
    return str(value)


class Logger:
    def __init__(self):
        self._stream = sys.stdout
        self._path = None
        self._lock = threading.Lock()
        self.global_lines = collections.deque(maxlen=1024)
        self.startup_warnings = []
        self.total_lines = 0
        self.quiet = False

    def open(self, path, append):
        """Send log lines to ``path``. Without logAppend an existing file is
        renamed aside (mongod's default ``logRotate: rename``)."""
        if path:
            path = os.path.abspath(path)
            if not append and os.path.exists(path) and os.path.getsize(path) > 0:
                stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H-%M-%S")
                os.replace(path, "%s.%s" % (path, stamp))
            self._stream = open(path, "a", encoding="utf-8", buffering=1)
            self._path = path

    def reopen(self):
        if self._path:
            old = self._stream
            self._stream = open(self._path, "a", encoding="utf-8", buffering=1)
            old.close()

    def log(self, severity, component, log_id, msg, attr=None, ctx="conn"):
        entry = {"t": {"$date": _now_string()}, "s": severity, "c": component, "id": log_id, "ctx": ctx, "msg": msg}
        if attr:
            entry["attr"] = attr
        line = json.dumps(entry, default=_json_default, separators=(",", ":"))
        with self._lock:
            self.total_lines += 1
            self.global_lines.append(line)
            if severity == "W" and ctx == "initandlisten":
                self.startup_warnings.append(line)
            try:
                self._stream.write(line + "\n")
                self._stream.flush()
            except (OSError, ValueError):
                pass

    def info(self, component, log_id, msg, attr=None, ctx="conn"):
        self.log("I", component, log_id, msg, attr, ctx)

    def warning(self, component, log_id, msg, attr=None, ctx="conn"):
        self.log("W", component, log_id, msg, attr, ctx)

    def error(self, component, log_id, msg, attr=None, ctx="conn"):
        self.log("E", component, log_id, msg, attr, ctx)


LOG = Logger()
