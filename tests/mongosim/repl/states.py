"""Member states and what one member knows about another: the vocabulary every
part of the replication coordinator shares. Pure (no asyncio, no I/O).

State numbers are mongod's (SEMANTICS.md section 7; src db/repl/member_state.h).
"""

import datetime

from bson.objectid import ObjectId

from ..storage import OpTime

STARTUP, PRIMARY, SECONDARY, RECOVERING, STARTUP2, UNKNOWN, ARBITER, DOWN, ROLLBACK, REMOVED = \
    0, 1, 2, 3, 5, 6, 7, 8, 9, 10
STATE_NAMES = {0: "STARTUP", 1: "PRIMARY", 2: "SECONDARY", 3: "RECOVERING", 5: "STARTUP2", 6: "UNKNOWN",
               7: "ARBITER", 8: "DOWN", 9: "ROLLBACK", 10: "REMOVED"}
DATA_STATES = (PRIMARY, SECONDARY)


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def wall(dt=None):
    """A wall-clock time as BSON stores it (millisecond precision)."""
    dt = dt or utcnow()
    return dt.replace(microsecond=dt.microsecond // 1000 * 1000)


def election_id_for(term):
    return ObjectId(bytes.fromhex("7fffffff") + int(term).to_bytes(8, "big"))


class MemberData:
    """What this node knows about another member (from heartbeats and position reports)."""

    def __init__(self, member):
        self.id = member["_id"]
        self.host = member["host"]
        self.health = None          # None: not yet reached; 1.0 up; 0.0 down
        self.state = UNKNOWN
        self.up_since = None
        self.last_hb = None         # when we last got a heartbeat response (datetime)
        self.last_hb_mono = 0.0     # monotonic time of the last successful contact
        self.last_hb_recv = None    # when we last received a heartbeat from it
        self.ping_ms = 0
        self.pings = 0              # heartbeat responses received (mongod's PingStats count)
        self.applied = OpTime()
        self.durable = OpTime()
        self.applied_wall = None
        self.durable_wall = None
        self.config_version = -2
        self.config_term = -1
        self.sync_source = ""
        self.sync_source_id = -1
        self.election_time = None
        self.message = ""
        self.authenticated = True
        self.term = -1
