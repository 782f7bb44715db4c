"""An independent model of how mongod takes replSetReconfig, for checking the planner.

Written from mongod's rules (tests/mongosim/SEMANTICS.md; repl_set_config_checks.cpp
validateOldAndNewConfigsCompatible and validateSingleNodeChange, replication_coordinator_impl.cpp
_doReplSetReconfig and _reconfigToRemoveNewlyAddedField), without the planner's code: it stores
a config the way the server does (new data-bearing voters as newlyAdded), refuses what the
server refuses, clears newlyAdded one member at a time through the same write-concern check,
and plays elections after a step-down.
"""

import copy

from ansible_collections.quorum.mongodb.plugins.module_utils.replicaset_plan import plan
from ansible_collections.quorum.mongodb.plugins.module_utils.replicaset_config import full_member


class Refused(AssertionError):
    pass


def _voting(members):
    return {m["_id"] for m in members if m["votes"] == 1 and not m.get("newlyAdded")}


def electable(m):
    return (m["priority"] > 0 and not m["arbiterOnly"] and m["votes"] == 1 and not m["hidden"]
            and not m["secondaryDelaySecs"] and m["buildIndexes"] and not m.get("newlyAdded"))


class ServerModel:
    """A replica set as mongod keeps it, for checking plans."""

    def __init__(self, members, primary, settings=None, default_wc_set=False):
        self.config = {"_id": "rs0", "version": 5, "term": 2, "protocolVersion": 1,
                       "members": [full_member(m) for m in members],
                       "settings": dict(settings or {"chainingAllowed": True})}
        self.primary = primary
        self.default_wc_set = default_wc_set

    def _check_member(self, m):
        if m["arbiterOnly"]:
            if m["votes"] != 1:
                raise Refused("arbiter must vote")
            if m["priority"] != 0:
                raise Refused("arbiter priority")
            if m["tags"]:
                raise Refused("tags on arbiter")
        if m["priority"] != 0 and (m["votes"] == 0 or m["hidden"] or m["secondaryDelaySecs"]
                                   or not m["buildIndexes"]):
            raise Refused("priority must be 0 for %s" % m["host"])

    def reconfig(self, document):
        old = self.config["members"]
        if document["version"] != self.config["version"] + 1:
            raise Refused("version %s after %s" % (document["version"], self.config["version"]))
        if any("newlyAdded" in m for m in document["members"]):
            raise Refused("user-supplied newlyAdded")
        old_by_id = {m["_id"]: m for m in old}
        old_by_host = {m["host"]: m for m in old}
        new = []
        for given_member in document["members"]:
            m = full_member(given_member)
            self._check_member(m)
            before = old_by_id.get(m["_id"])
            if m["host"] in old_by_host and old_by_host[m["host"]]["_id"] != m["_id"]:
                raise Refused("host %s with a different _id" % m["host"])
            if before is not None and before["host"] == m["host"]:
                for field in ("arbiterOnly", "buildIndexes"):
                    if before[field] != m[field]:
                        raise Refused("%s changed on %s" % (field, m["host"]))
                if before.get("newlyAdded"):
                    m["newlyAdded"] = True
            elif m["votes"] == 1 and not m["arbiterOnly"]:
                m["newlyAdded"] = True
            new.append(m)
        hosts = [m["host"] for m in new]
        ids = [m["_id"] for m in new]
        if len(set(hosts)) != len(hosts) or len(set(ids)) != len(ids):
            raise Refused("duplicate host or _id")
        if not 1 <= len(new) <= 50:
            raise Refused("member count")
        if not 1 <= len(_voting(new)) <= 7:
            raise Refused("%d voters" % len(_voting(new)))
        if len([m for m in new if m["arbiterOnly"]]) > 1:
            raise Refused("a second arbiter (mongod 5.3+ without allowMultipleArbiters)")
        if not any(m["priority"] > 0 and not m["arbiterOnly"] for m in new):
            raise Refused("no electable member")
        if len(_voting(old) ^ _voting(new)) > 1:
            raise Refused("more than one voting change: %s" % sorted(_voting(old) ^ _voting(new)))
        # PSA rule: the old config's voters counted by their configured votes (newlyAdded ones too), the new
        # config as sent: three members, two of them data-bearing, more than one with priority > 0.
        base_voters_old = len([m for m in old if m["votes"] == 1])
        writable_old = base_voters_old - len([m for m in old if m["arbiterOnly"]])
        psa = len(new) == 3 and len([m for m in new if not m["arbiterOnly"]]) == 2
        if writable_old < base_voters_old // 2 + 1 and psa and len([m for m in new if m["priority"] > 0]) > 1:
            raise Refused("PSA rule")
        if not self.default_wc_set and self._implicit_majority(old) != self._implicit_majority(new):
            raise Refused("implicit default write concern changes")
        primary = next((m for m in new if m["host"] == self.primary), None)
        if primary is None or not electable(primary):
            raise Refused("NodeNotElectable: primary %s" % self.primary)
        self.config = {"_id": "rs0", "version": document["version"], "term": 2, "protocolVersion": 1,
                       "members": new, "settings": dict(document.get("settings") or {})}

    @staticmethod
    def _implicit_majority(members):
        if not any(m["arbiterOnly"] for m in members):
            return True
        voting = _voting(members)
        writable = len([m for m in members if m["_id"] in voting and not m["arbiterOnly"]])
        return writable > len(voting) // 2 + 1

    def catch_up(self):
        """The primary clears each member's newlyAdded flag with a reconfig of its own, through the same
        checks (the voter cap, the implicit write-concern rule); a refused one stays newlyAdded."""
        for member in self.config["members"]:
            if not member.get("newlyAdded"):
                continue
            after = [dict(m) for m in self.config["members"]]
            for m in after:
                if m["_id"] == member["_id"]:
                    m.pop("newlyAdded")
            if len(_voting(after)) > 7:
                continue
            if not self.default_wc_set and self._implicit_majority(self.config["members"]) != \
                    self._implicit_majority(after):
                continue
            self.config["members"] = after
            self.config["version"] += 1

    def stuck(self):
        """Members that stay newlyAdded for good."""
        return [m["host"] for m in self.config["members"] if m.get("newlyAdded")]

    def step_down(self, member, choose):
        if member != self.primary:
            raise Refused("step-down of %s, which is not primary" % member)
        candidates = [m["host"] for m in self.config["members"] if electable(m) and m["host"] != member]
        if not candidates:
            raise Refused("no member could take over")
        self.primary = choose(candidates)


def converge(server, desired, settings=None, choose=lambda hosts: hosts[0]):
    """Drive the planner as the module does; return every step executed."""
    executed = []
    for _attempt in range(60):
        server.catch_up()
        steps = plan(copy.deepcopy(server.config), desired, settings or {}, server.primary,
                     default_wc_set=server.default_wc_set)
        if not steps:
            assert not server.stuck(), "members left newlyAdded for good: %s" % server.stuck()
            return executed
        step = steps[0]
        if step["action"] == "step_down":
            server.step_down(step["member"], choose)
        else:
            server.reconfig(step["config"])
        executed.append(step)
    raise AssertionError("no convergence after 60 steps")
