"""Unit tests for plugins/module_utils/replicaset_converge.py where mongosim cannot show the case.

setDefaultRWConcern takes a write concern; when a majority does not confirm it in time,
mongod answers ok: 1 with a writeConcernError (the default stays set on the primary).
mongosim answers without writeConcernError, so this is checked against a fake connector.
"""

import pytest

from ansible_collections.quorum.mongodb.plugins.module_utils.mongodb_common import MongoModuleError
from ansible_collections.quorum.mongodb.plugins.module_utils.replicaset_converge import Converger

PRIMARY = "db1:27017"
STEP = {"action": "set_default_write_concern", "write_concern": {"w": "majority"},
        "reasons": ["cluster-wide default write concern"]}


class FakeConnector:
    params = {"login_user": None}

    def __init__(self, reply):
        self.reply = reply
        self.sent = []

    def login_address(self):
        return "localhost:27017"

    def command(self, address, command, what, with_credentials=True, **kwargs):
        self.sent.append((address, command))
        return dict(self.reply)


def converger(reply):
    return Converger(FakeConnector(reply), "rs0", [], {}, wait_timeout=3,
                     default_write_concern={"w": "majority"})


def test_default_write_concern_confirmed_by_a_majority_is_a_committed_step():
    run = converger({"ok": 1.0, "defaultWriteConcern": {"w": "majority"}})
    run.set_default_write_concern(PRIMARY, STEP)
    assert run.steps == [STEP]
    command = run.connector.sent[0][1]
    assert command["writeConcern"] == {"w": "majority", "wtimeout": 3000}


def test_default_write_concern_a_majority_did_not_confirm_is_applied_not_committed():
    run = converger({"ok": 1.0, "writeConcernError": {"code": 64, "codeName": "WriteConcernTimeout",
                                                      "errmsg": "waiting for replication timed out"}})
    with pytest.raises(MongoModuleError) as raised:
        run.set_default_write_concern(PRIMARY, STEP)
    assert "a majority did not confirm it within wait_timeout (3s)" in raised.value.msg
    assert "waiting for replication timed out" in raised.value.msg
    assert raised.value.details["code"] == 64
    # The step happened (changed: true), and says it is not committed.
    assert run.steps == [dict(STEP, committed=False)]
