"""The replication coordinator: member state, heartbeats, elections (protocol
version 1), config installation and propagation, pulling the oplog from a sync
source, the majority commit point and write concern.

Behaviour and messages follow SEMANTICS.md sections 2 to 8 and 11. Member-to-member
traffic uses MongoDB's internal command names where mongod has one (replSetHeartbeat,
replSetRequestVotes, replSetUpdatePosition, replSetGetRBID, _isSelf); the oplog fetch
and initial-sync clone are mongosim's own (``_mongosim*``), since mongod uses tailable
cursors and collection cloners for those.

One module per concern, as mongod splits its replication coordinator:

- coordinator.py  ReplCoordinator: shared state, start/stop, state transitions, hello and status
- states.py       member state numbers and names, MemberData (what we know of another member)
- isself.py       which config member is this process
- config.py       initiate, quorum check, config install, reconfig, newlyAdded removal
- heartbeat.py    sending and answering heartbeats; the primary's liveness check
- election.py     election timer, candidacy, voting, step-down, step-up, freeze
- commit.py       commit point, position reports, write concern
- sync.py         sync source, oplog fetch and apply, initial sync, rollback, serving those
- decisions.py    the pure decisions (votes, sync source, takeover, single-node election,
                  commit point, write concern), tested in tests/test_repl_decisions.py
"""

from bson.timestamp import Timestamp

from ..storage import key_ts, ts_key
from .coordinator import ReplCoordinator
from .states import STATE_NAMES

__all__ = ["ReplCoordinator", "STATE_NAMES", "ts_key", "key_ts", "Timestamp"]
