# -*- coding: utf-8 -*-
# Copyright: quorum.mongodb contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What quorum.mongodb.member does: ask one member for its state (hello, no
credentials needed), decide how a client logs in there (mongodb_common's
decide_login), and step it down when asked to and it is primary.

Talks to the server only through a mongodb_common.Connector, so the unit tests
(tests/unit/plugins/module_utils/test_mongodb_member.py) drive it with a fake
server.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.quorum.mongodb.plugins.module_utils.mongodb_common import (
    LOGIN_CREDENTIALS,
    LOGIN_LOCALHOST_EXCEPTION,
    LOGIN_NO_AUTHORIZATION,
    ErrorCode,
    MongoModuleError,
    decide_login,
    login_hello_command,
    member_state,
)
from ansible_collections.quorum.mongodb.plugins.module_utils.tls_modes import TLS_MODE_RUNTIME_STEPS

# What a driver says when the TLS handshake fails on the certificate: the member answers, but not to
# this client, and waiting will not change that.
_TLS_FAILURES = ("CERTIFICATE_VERIFY_FAILED", "certificate verify failed", "hostname mismatch",
                 "ip address mismatch")
# The logins that may run replSetStepDown (it needs replSetStateChange, which the localhost exception
# does not grant: SEMANTICS.md section 9.3).
_STEP_DOWN_LOGINS = (LOGIN_CREDENTIALS, LOGIN_NO_AUTHORIZATION)


def tls_failure(error):
    """Whether a failed hello is a certificate problem (a configuration error) rather than a silent member."""
    text = (error or "").lower()
    return any(marker.lower() in text for marker in _TLS_FAILURES)


def report_from_hello(hello):
    """The member part of the module's result, from its hello reply (None: it did not answer)."""
    hello = hello or {}
    electable = list(hello.get("hosts") or [])
    return dict(
        state=member_state(hello if hello else None),
        set_name=hello.get("setName"),
        me=hello.get("me"),
        primary=hello.get("primary"),
        hosts=electable,
        passives=list(hello.get("passives") or []),
        arbiters=list(hello.get("arbiters") or []),
        config_version=hello.get("setVersion"),
    )


def step_down_blocker(report):
    """Why the member cannot be stepped down now (a sentence), or None when it can.

    Not primary: there is nothing to do. A primary steps down only when another member can be elected
    (hello's hosts lists the electable members: mongod refuses a step-down without force otherwise, and
    this module never forces), and only with a login that may run replSetStepDown.
    """
    if report["state"] != "PRIMARY":
        return "the member is %s, not PRIMARY" % report["state"]
    others = [host for host in report["hosts"] if host != report["me"]]
    if not others:
        return ("no other member can be elected (hello lists no other electable member), and mongod steps a "
                "primary down without force only for one")
    login = report.get("login")
    if login == LOGIN_LOCALHOST_EXCEPTION:
        return ("no user exists yet, and the localhost exception does not allow replSetStepDown; the primary "
                "steps down by itself as it shuts down")
    if login not in _STEP_DOWN_LOGINS:
        return "the login is refused: %s" % report.get("login_msg")
    return None


def ask(connector, address, params, check_login=True):
    """hello on ``address`` and, if asked and it answers, the login decision; the module's result."""
    reply, error = connector.try_command(address, login_hello_command(params), with_credentials=False)
    if reply is None and tls_failure(error):
        raise MongoModuleError(
            "hello on %s failed on the TLS certificate: %s. The connection goes to %s: the member's certificate "
            "must name it (or set tls_allow_invalid_hostnames), and tls_ca_file must hold the CA that signed it"
            % (address, error, address), member=address)
    report = report_from_hello(reply)
    report["member"] = address
    if reply is None:
        report["error"] = error
    report["login"] = None
    report["login_msg"] = None
    report["login_roles"] = None
    if reply is not None and check_login:
        decision = decide_login(connector, address, params, reply)
        report["login"] = decision["mode"]
        report["login_msg"] = decision["msg"]
        report["login_roles"] = decision["roles"]
    report["can_step_down"] = step_down_blocker(report) is None if report["login"] else None
    return report


def step_down(connector, address, params, report, step_down_secs, catch_up_secs, check_mode=False):
    """Step the member down if it is primary; (changed, report after).

    The member must be PRIMARY with another electable member and a login that may step it down
    (step_down_blocker); a member that is not primary is left alone (nothing to do). Never forced: when no
    electable secondary catches up within ``catch_up_secs`` mongod refuses (262 ExceededTimeLimit) and so
    does this.
    """
    if report["state"] != "PRIMARY":
        return False, report
    blocker = step_down_blocker(report)
    if blocker:
        raise MongoModuleError("cannot step %s down: %s" % (address, blocker), member=address)
    if check_mode:
        return True, report
    command = {"replSetStepDown": step_down_secs, "secondaryCatchUpPeriodSecs": catch_up_secs}
    try:
        connector.command(address, command, "replSetStepDown", with_credentials=report["login"] == LOGIN_CREDENTIALS)
    except MongoModuleError as exc:
        if exc.details.get("code") is not None:
            if exc.details.get("code") == 262:
                raise MongoModuleError(
                    "%s. No electable secondary caught up within catch_up_secs (%d s): check replication lag, "
                    "then try again; the primary is never forced down" % (exc.msg, catch_up_secs),
                    **exc.details) from exc
            raise
        # No server answer: a server may close connections as it steps down (all servers before 4.2).
        # Whether it did is what hello says now.
        after = _after_step_down(connector, address, params, report)
        if after["state"] == "PRIMARY":
            raise
        return True, after
    return True, _after_step_down(connector, address, params, report)


def _after_step_down(connector, address, params, report):
    """The report with the member's state as hello gives it now (the login is what it was)."""
    now = ask(connector, address, params, check_login=False)
    after = dict(report)
    for key in ("state", "primary", "hosts", "passives", "arbiters", "config_version"):
        after[key] = now[key]
    after["can_step_down"] = step_down_blocker(after) is None
    return after


def replication_lag(status):
    """(lag in seconds or None, why it is None) of the member that answered ``status`` (replSetGetStatus).

    The lag is the primary's optimeDate minus the member's own, as the member sees them (the primary's from
    its last heartbeat), never below 0: what rs.printSecondaryReplicationInfo() shows. A primary lags 0 s.
    None for an arbiter (it keeps no data) and when the member knows no primary.
    """
    members = (status or {}).get("members") or []
    me = [m for m in members if m.get("self")]
    if not me:
        return None, "replSetGetStatus lists no member as this one"
    me = me[0]
    if me.get("stateStr") == "ARBITER":
        return None, "an arbiter keeps no data"
    if me.get("stateStr") == "PRIMARY":
        return 0.0, None
    primary = [m for m in members if m.get("stateStr") == "PRIMARY"]
    if not primary:
        return None, "the member knows no primary"
    own, theirs = me.get("optimeDate"), primary[0].get("optimeDate")
    if own is None or theirs is None:
        missing = me.get("name") if own is None else primary[0].get("name")
        return None, "replSetGetStatus gives no optimeDate for %s" % missing
    return max(0.0, (theirs - own).total_seconds()), None


def caught_up(state, lag_secs, max_lag_secs):
    """Whether a member is back and caught up: PRIMARY, ARBITER, or SECONDARY lagging at most ``max_lag_secs``."""
    if state in ("PRIMARY", "ARBITER"):
        return True
    return state == "SECONDARY" and lag_secs is not None and lag_secs <= max_lag_secs


def read_lag(connector, address, report, with_credentials, max_lag_secs):
    """Add lag_secs, lag_msg and caught_up to ``report`` (replSetGetStatus on the member).

    A member that does not answer, or is not in a set yet, has no lag (None) and is not caught up; an arbiter
    is caught up and is not asked (hello said what it is). A login
    that may not run replSetGetStatus is an error naming the member: waiting would not change it.
    """
    report["lag_secs"] = None
    report["lag_msg"] = None
    if report["state"] in ("UNREACHABLE", "NO_CONFIG", "STANDALONE", "NOT_REPLICA_SET"):
        report["lag_msg"] = "the member is %s" % report["state"]
    elif report["state"] == "ARBITER":
        # Not asked: an arbiter keeps no data, and no users to log in with (only the localhost exception).
        report["lag_msg"] = "an arbiter keeps no data"
    else:
        try:
            reply = connector.command(address, {"replSetGetStatus": 1}, "replSetGetStatus",
                                      with_credentials=with_credentials)
        except MongoModuleError as exc:
            if exc.details.get("code") in (ErrorCode.Unauthorized, ErrorCode.AuthenticationFailed):
                raise MongoModuleError(
                    "cannot read the replication lag of %s: %s. Give login_user and login_password of a user with "
                    "clusterMonitor (or root)" % (address, exc.msg), **exc.details) from exc
            # No answer (it is going down or coming up), or not in a set yet: not caught up, asked again later.
            reply = None
            report["lag_msg"] = exc.msg
        if reply is not None:
            report["lag_secs"], report["lag_msg"] = replication_lag(reply)
    report["caught_up"] = caught_up(report["state"], report["lag_secs"], max_lag_secs)
    return report


# The oplog's size, as replSetResizeOplog takes it (tests/mongosim/SEMANTICS.md section 11.1): in MB,
# at least 990 and at most 1 PB; the minimum retention in hours, at least 0.
OPLOG_MIN_SIZE_MB = 990
OPLOG_MAX_SIZE_MB = 1073741824
_MB = 1024 * 1024
# The logins that may run replSetResizeOplog and read the oplog's stats (clusterManager and
# clusterMonitor, or root; the localhost exception allows neither).
_OPLOG_LOGINS = (LOGIN_CREDENTIALS, LOGIN_NO_AUTHORIZATION)
# Members that keep no oplog to resize yet: never initiated (the oplog is created, with
# replication.oplogSizeMB, when the set is), or arbiters (no data; the manual resizes data-bearing members).
_NO_OPLOG_STATES = ("NO_CONFIG", "ARBITER")


def oplog_option_problems(size_mb, min_retention_hours):
    """What is wrong with the requested oplog settings (sentences naming the option), before any command."""
    problems = []
    if size_mb is not None and not OPLOG_MIN_SIZE_MB <= size_mb <= OPLOG_MAX_SIZE_MB:
        problems.append("oplog_size_mb is %s: replSetResizeOplog takes %d to %d (MB); mongod refuses a smaller oplog"
                        % (size_mb, OPLOG_MIN_SIZE_MB, OPLOG_MAX_SIZE_MB))
    if min_retention_hours is not None and not min_retention_hours >= 0:
        problems.append("oplog_min_retention_hours is %s: it must be 0 (no minimum) or more" % min_retention_hours)
    return problems


def read_oplog(connector, address, with_credentials):
    """The oplog's live settings on ``address``: its size in MB (maxSize of local.oplog.rs, from
    $collStats) and the running minimum retention in hours (serverStatus oplogTruncation)."""
    reply = connector.command(address, {"aggregate": "oplog.rs", "pipeline": [{"$collStats": {"storageStats": {}}}],
                                        "cursor": {}},
                              "reading the oplog's size ($collStats of local.oplog.rs)",
                              with_credentials=with_credentials, database="local")
    batch = reply.get("cursor", {}).get("firstBatch") or [{}]
    max_size = (batch[0].get("storageStats") or {}).get("maxSize")
    if max_size is None:
        raise MongoModuleError("%s reports no maxSize for local.oplog.rs" % address, member=address)
    status = connector.command(address, {"serverStatus": 1}, "reading the oplog's retention (serverStatus)",
                               with_credentials=with_credentials)
    hours = (status.get("oplogTruncation") or {}).get("oplogMinRetentionHours", 0)
    return dict(size_mb=int(max_size) / float(_MB), min_retention_hours=float(hours or 0))


def oplog_command(live, size_mb, min_retention_hours):
    """The replSetResizeOplog fields that would change ``live`` to what is asked ({} when nothing would).

    The fields are sent as doubles: mongod parses them as IDL doubles and refuses an integer.
    """
    fields = {}
    if size_mb is not None and int(round(live["size_mb"] * _MB)) != int(size_mb) * _MB:
        fields["size"] = float(size_mb)
    if min_retention_hours is not None and live["min_retention_hours"] != float(min_retention_hours):
        fields["minRetentionHours"] = float(min_retention_hours)
    return fields


def resize_oplog(connector, address, report, size_mb, min_retention_hours, check_mode=False):
    """Bring the member's oplog to ``size_mb`` / ``min_retention_hours`` (None: leave it); (changed, before,
    after), where before and after are read_oplog results (None when the member has no oplog to resize).

    Only this member changes: replSetResizeOplog does not replicate, so a caller resizes every member,
    secondaries first. After a resize the live values are read again and must be the ones asked for.
    """
    problems = oplog_option_problems(size_mb, min_retention_hours)
    if problems:
        raise MongoModuleError("; ".join(problems), member=address)
    if report["state"] in _NO_OPLOG_STATES:
        return False, None, None
    _require_answer_and_login(report, address, "resize the oplog of",
                              "replSetResizeOplog needs a user with clusterManager and clusterMonitor (or root)")
    with_credentials = report["login"] == LOGIN_CREDENTIALS
    before = read_oplog(connector, address, with_credentials)
    fields = oplog_command(before, size_mb, min_retention_hours)
    if not fields:
        return False, before, before
    if check_mode:
        after = dict(before)
        after.update(size_mb=float(size_mb) if "size" in fields else before["size_mb"],
                     min_retention_hours=fields.get("minRetentionHours", before["min_retention_hours"]))
        return True, before, after
    command = {"replSetResizeOplog": 1}
    command.update(fields)
    connector.command(address, command, "replSetResizeOplog", with_credentials=with_credentials)
    after = read_oplog(connector, address, with_credentials)
    if oplog_command(after, size_mb, min_retention_hours):
        raise MongoModuleError("replSetResizeOplog on %s succeeded, but the oplog reads back as %s MB with %s hours "
                               "of minimum retention" % (address, after["size_mb"], after["min_retention_hours"]),
                               member=address)
    return True, before, after


def _require_answer_and_login(report, address, doing, needs):
    """Fail, naming the member, unless it answered and the login can run an administrative command there."""
    if report["state"] == "UNREACHABLE":
        raise MongoModuleError("cannot %s %s: it does not answer (%s)" % (doing, address, report.get("error")),
                               member=address)
    if report.get("login") not in _OPLOG_LOGINS:
        raise MongoModuleError("cannot %s %s: %s; %s" % (doing, address, report.get("login_msg"), needs),
                               member=address)


def rotate_certificates(connector, address, report, check_mode=False):
    """rotateCertificates on the member: it reads its certificate, CA and cluster files again for new
    connections (tests/mongosim/SEMANTICS.md section 9.5). True when sent (in check mode, would be).

    A file the member cannot use fails the command, and the member keeps the certificate it runs with; the
    error says so. The login must be credentials (hostManager or root) or no authorization.
    """
    _require_answer_and_login(report, address, "rotate the certificates of",
                              "rotateCertificates needs a user with hostManager (or root)")
    if check_mode:
        return True
    try:
        connector.command(address, {"rotateCertificates": 1, "message": "quorum.mongodb"}, "rotateCertificates",
                          with_credentials=report["login"] == LOGIN_CREDENTIALS)
    except MongoModuleError as exc:
        raise MongoModuleError("%s. %s keeps the certificate it runs with; fix the files named in its net.tls "
                               "settings and rotate again" % (exc.msg, address), **exc.details) from exc
    return True


# The stages of authentication turned on in a running set (tests/mongosim/SEMANTICS.md section 9.2b; the
# manual's "enforce keyfile access control in an existing replica set without downtime"): no keyFile and
# nothing enforced, then the keyFile with transitionToAuth (both authenticated and unauthenticated clients
# and peers), then the keyFile enforced.
AUTH_STAGE_NONE = "none"
AUTH_STAGE_TRANSITION = "transition"
AUTH_STAGE_ENFORCED = "enforced"
AUTH_STAGES = (AUTH_STAGE_NONE, AUTH_STAGE_TRANSITION, AUTH_STAGE_ENFORCED)


def auth_stage_of(parsed, login):
    """The stage a member runs, from its getCmdLineOpts ``parsed`` options (None when they could not be read)
    and the login decision there.

    mongod's order (section 9.2b): transitionToAuth enforces nothing; otherwise a keyFile or a cluster
    authentication mode enforces authentication, and so does authorization: enabled. Options that could not
    be read mean authentication is enforced: a member that enforces nothing answers getCmdLineOpts to anyone.
    """
    if parsed is None:
        return AUTH_STAGE_ENFORCED if login not in (None, LOGIN_NO_AUTHORIZATION) else None
    security = parsed.get("security") or {}
    if security.get("transitionToAuth") in (True, "true"):
        return AUTH_STAGE_TRANSITION
    if security.get("keyFile") or security.get("clusterAuthMode") or security.get("authorization") == "enabled":
        return AUTH_STAGE_ENFORCED
    return AUTH_STAGE_NONE


def read_auth_stage(connector, address, report):
    """The authentication stage the member runs now (auth_stage_of), None when it does not answer."""
    if report["state"] == "UNREACHABLE":
        return None
    parsed = None
    if report.get("login") in (LOGIN_CREDENTIALS, LOGIN_NO_AUTHORIZATION):
        reply = connector.command(address, {"getCmdLineOpts": 1}, "getCmdLineOpts",
                                  with_credentials=report["login"] == LOGIN_CREDENTIALS)
        parsed = reply.get("parsed") or {}
    return auth_stage_of(parsed, report.get("login"))


def read_tls_mode(connector, address, report):
    """The tlsMode the member runs now (getParameter: the live mode, not the one it started with), None when it
    does not answer or the login may not ask. The localhost exception may ask an arbiter only (it holds no users,
    and mongod lets localhost read its parameters: SEMANTICS.md section 9.3)."""
    arbiter_over_localhost = report["state"] == "ARBITER" and report.get("login") == LOGIN_LOCALHOST_EXCEPTION
    if report["state"] == "UNREACHABLE" or (report.get("login") not in _OPLOG_LOGINS and not arbiter_over_localhost):
        return None
    reply = connector.command(address, {"getParameter": 1, "tlsMode": 1}, "getParameter",
                              with_credentials=report["login"] == LOGIN_CREDENTIALS)
    return reply.get("tlsMode")


def raise_tls_mode(connector, address, report, mode, check_mode=False):
    """Set the member's tlsMode to ``mode`` at run time (setParameter): (changed, before). Nothing when it runs
    ``mode`` already; otherwise only mongod's two moves, one mode up from allowTLS or preferTLS, and the live
    mode is read back. A caller raises every member one mode before any member the next: a member in
    requireTLS refuses the plain connections of one still in allowTLS."""
    _require_answer_and_login(report, address, "set the tlsMode of",
                              "setParameter needs a user with hostManager (or root)")
    before = read_tls_mode(connector, address, report)
    if before == mode:
        return False, before
    if (before, mode) not in TLS_MODE_RUNTIME_STEPS:
        raise MongoModuleError(
            "cannot set the tlsMode of %s from %s to %s at run time: mongod moves a running member only from "
            "allowTLS to preferTLS and from preferTLS to requireTLS; from disabled, or down, it takes a restart "
            "with net.tls.mode in mongod.conf" % (address, before, mode), member=address)
    if check_mode:
        return True, before
    connector.command(address, {"setParameter": 1, "tlsMode": mode}, "setParameter",
                      with_credentials=report["login"] == LOGIN_CREDENTIALS)
    after = read_tls_mode(connector, address, report)
    if after != mode:
        raise MongoModuleError("setParameter tlsMode %s on %s succeeded, but the member reads back %s"
                               % (mode, address, after), member=address)
    return True, before
