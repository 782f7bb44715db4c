# -*- coding: utf-8 -*-
# Copyright: quorum.mongodb contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure computations behind quorum.mongodb.replicaset_info.

Everything here takes the documents ``replSetGetStatus`` and
``replSetGetConfig`` return (as pymongo decodes them) and computes what the
module reports: each member's state joined with its config, replication lag
behind the primary, and the fault tolerance the majority rule implies. No
connection, no I/O: unit-tested in
tests/unit/plugins/module_utils/test_replicaset_status.py.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import calendar
import datetime

PRIMARY, SECONDARY, ARBITER = 1, 2, 7
STATE_NAMES = {
    0: "STARTUP", 1: "PRIMARY", 2: "SECONDARY", 3: "RECOVERING", 5: "STARTUP2", 6: "UNKNOWN",
    7: "ARBITER", 8: "DOWN", 9: "ROLLBACK", 10: "REMOVED",
}
HEALTHY_STATES = ("PRIMARY", "SECONDARY", "ARBITER")


def majority_of(voters):
    """Votes needed to elect a primary: floor(voters / 2) + 1."""
    return voters // 2 + 1


def _to_seconds(value):
    """Seconds since the epoch of an optime, a bson Timestamp or a datetime; None if unknown."""
    if value is None:
        return None
    if isinstance(value, dict):
        # protocol version 1: {ts: Timestamp, t: term}
        return _to_seconds(value.get("ts"))
    if isinstance(value, datetime.datetime):
        # pymongo decodes BSON dates as naive UTC datetimes (or aware ones with tz_aware=True).
        seconds = calendar.timegm(value.utctimetuple()) + value.microsecond / 1e6
    elif hasattr(value, "time"):
        # bson.timestamp.Timestamp: seconds in .time, an ordinal within the second in .inc
        seconds = value.time
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = value
    else:
        return None
    # A member the primary has never heard from reports the null optime (epoch 0).
    return seconds if seconds > 0 else None


def optime_seconds(member):
    """When the member's last applied operation happened, in seconds since the epoch (None if unknown)."""
    seconds = _to_seconds(member.get("optime"))
    if seconds is None:
        seconds = _to_seconds(member.get("optimeDate"))
    return seconds


def _number(value):
    """An int when the value is whole (BSON doubles such as health 1.0), else the float."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, int):
        return int(value)
    return value


def state_name(member):
    name = member.get("stateStr")
    if name:
        return name
    return STATE_NAMES.get(member.get("state"), "UNKNOWN")


def member_lag(member, primary, arbiter=False):
    """Seconds ``member`` is behind ``primary``'s optime.

    None when there is no primary, the member is an arbiter (it holds no data)
    or is down, or either optime is unknown. Never negative: a secondary that
    has seen a write the primary reported a moment earlier is not ahead.
    """
    if primary is None or arbiter or member.get("state") == ARBITER:
        return None
    if member is primary or member.get("_id") == primary.get("_id"):
        return 0
    if _number(member.get("health", 1)) != 1:
        return None
    behind, ahead = optime_seconds(primary), optime_seconds(member)
    if behind is None or ahead is None:
        return None
    return _number(max(behind - ahead, 0))


def fault_tolerance(config_members, status_members=None):
    """The fault tolerance the majority rule implies for a set configured with ``config_members``.

    ``overall``: how many voting members can fail while the rest still form a
    majority of the voters and can elect a primary (voters - majority; arbiters
    vote, so they count). ``per_tag``: for every tag name and value, the votes
    that remain if every member carrying that value is lost and whether those
    are still a majority. With ``status_members`` (replSetGetStatus members),
    ``current`` says how many more voters can fail given the ones already
    unreachable (0 when the majority is already lost; see ``majority_available``).
    """
    votes = {}
    for member in config_members:
        votes[member.get("_id")] = 1 if _number(member.get("votes", 1)) else 0
    voters = sum(votes.values())
    majority = majority_of(voters)
    result = {
        "overall": max(voters - majority, 0),
        "voting_members": voters,
        "majority": majority,
        "per_tag": {},
    }
    per_tag = result["per_tag"]
    for member in config_members:
        for tag, value in sorted((member.get("tags") or {}).items()):
            per_tag.setdefault(tag, {}).setdefault(value, 0)
            per_tag[tag][value] += votes[member.get("_id")]
    for values in per_tag.values():
        for value, lost in list(values.items()):
            remaining = voters - lost
            values[value] = {"remaining_votes": remaining, "majority_kept": remaining >= majority}
    if status_members is not None:
        health = dict((member.get("_id"), _number(member.get("health", 0)) == 1) for member in status_members)
        reachable = sum(count for member_id, count in votes.items() if health.get(member_id))
        result["reachable_voting_members"] = reachable
        result["majority_available"] = reachable >= majority
        result["current"] = max(reachable - majority, 0)
    return result


def _optional(value):
    return value if value not in (None, "") else None


def replicaset_summary(status, config):
    """The result of quorum.mongodb.replicaset_info from replSetGetStatus and replSetGetConfig replies.

    ``status`` is the replSetGetStatus reply, ``config`` the ``config`` document
    of replSetGetConfig. Members are listed in config order and joined by ``_id``.
    """
    status_members = list(status.get("members") or [])
    by_id = dict((member.get("_id"), member) for member in status_members)
    primary = next((member for member in status_members if member.get("state") == PRIMARY), None)
    config_members = list(config.get("members") or [])
    members = []
    for cfg in config_members:
        live = by_id.get(cfg.get("_id"), {})
        arbiter = bool(cfg.get("arbiterOnly", False))
        delay = cfg.get("secondaryDelaySecs", cfg.get("slaveDelay", 0))
        members.append({
            "name": live.get("name", cfg.get("host")),
            "id": cfg.get("_id"),
            "state": state_name(live) if live else None,
            "health": _number(live.get("health")) if live else None,
            "uptime": _number(live.get("uptime")),
            "lag": member_lag(live, primary, arbiter=arbiter) if live else None,
            "ping_ms": _number(live.get("pingMs")),
            "votes": _number(cfg.get("votes", 1)),
            "priority": _number(cfg.get("priority", 1)),
            "hidden": bool(cfg.get("hidden", False)),
            "arbiter_only": arbiter,
            "secondary_delay_secs": _number(delay),
            "tags": dict(cfg.get("tags") or {}),
            "sync_source": _optional(live.get("syncSourceHost")),
            "last_heartbeat_message": _optional(live.get("lastHeartbeatMessage")),
            "self": bool(live.get("self", False)),
        })
    healthy = primary is not None and all(member["state"] in HEALTHY_STATES for member in members)
    return {
        "set_name": config.get("_id", status.get("set")),
        "config_version": _number(config.get("version")),
        "config_term": _number(config.get("term")),
        "primary": primary.get("name") if primary else None,
        "members": members,
        "fault_tolerance": fault_tolerance(config_members, status_members),
        "healthy": healthy,
    }
