#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: quorum.mongodb contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: member
short_description: One MongoDB member's state, how to log in; step-down, oplog resize, TLS mode and certificates
version_added: "0.1.0"
description:
  - Asks one mongod (O(login_host), usually C(localhost) on the member the task runs on) with C(hello), which needs
    no credentials, and reports its replica-set state (RV(state)), the primary it knows of and the electable members.
  - A member that does not answer is not an error; it is reported as C(UNREACHABLE), so that a task can poll until
    it answers (C(until)). With O(service_name), systemd's state of the service is reported too, so that a wait
    can stop when the service has failed. A certificate the client cannot verify is an error, since waiting does
    not cure it.
  - With O(check_login), decides how a client with the given connection options gets in (RV(login)), the decision
    the collection's other modules make too - C(credentials), C(no_authorization), C(localhost_exception) or
    C(refused).
  - With O(step_down), a primary is asked to step down (C(replSetStepDown) with a catch-up period), never forced;
    a member that is not primary is left alone.
  - With O(oplog_size_mb) or O(oplog_min_retention_hours), the member's oplog is resized at run time with
    C(replSetResizeOplog), no restart. The live values are read first (C(maxSize) of C(local.oplog.rs) from
    C($collStats), C(oplogTruncation) of C(serverStatus)) and the command is sent only when they differ, so a
    second run changes nothing. The command does not replicate - it changes only the member asked; resize every
    member, secondaries first and the primary last.
  - With O(rotate_certificates), the member reads its TLS certificate, CA and cluster files again
    (C(rotateCertificates), 5.0+), for new connections, without a restart.
  - With O(tls_mode), the member's TLS mode is raised at run time (C(setParameter tlsMode)), one mode up from
    C(allowTLS) or C(preferTLS), without a restart; O(read_tls_mode) only reports it.
author:
  - quorum.mongodb contributors (!UNKNOWN)
extends_documentation_fragment:
  - quorum.mongodb.connection
options:
  step_down:
    description:
      - Step the member down if it is primary. It must have another electable member, and a login that may run
        C(replSetStepDown) (C(credentials) of a user with C(clusterManager) or C(root), or C(no_authorization));
        otherwise the module fails and says why. A member that is not primary is not changed.
    type: bool
    default: false
  step_down_secs:
    description: How long the member may not be elected again (C(replSetStepDown) period), in seconds.
    type: int
    default: 60
  catch_up_secs:
    description:
      - C(secondaryCatchUpPeriodSecs) of the step-down, in seconds. If no electable secondary catches up in time,
        mongod keeps the primary and the module fails.
    type: int
    default: 10
  check_login:
    description:
      - Decide how a client with these connection options logs in (RV(login)). false sends C(hello) only and never
        authenticates, for polling. O(step_down) always decides it.
    type: bool
    default: true
  oplog_size_mb:
    description:
      - The size the member's oplog must have, in MB (990 to 1073741824, mongod's range for
        C(replSetResizeOplog); a smaller value fails before anything is sent). Shrinking drops the oldest
        entries at once, so a lagging secondary may go stale.
      - mongod reads C(replication.oplogSizeMB) only when it creates the oplog; keep it in C(mongod.conf) too,
        so that a new member starts with this size.
      - A member without an oplog to resize - never initiated (its oplog is created with C(oplogSizeMB)) or an
        arbiter - is left alone and RV(oplog) is null. The login must be C(credentials) of a user with
        C(clusterManager) and C(clusterMonitor) (or C(root)), or C(no_authorization).
    type: int
  oplog_min_retention_hours:
    description:
      - The minimum time the member keeps oplog entries, in hours (0 or more; 0 is no minimum), however large the
        oplog grows meanwhile. Sent with C(replSetResizeOplog), it lasts until the member restarts; keep
        C(storage.oplogMinRetentionHours) in C(mongod.conf) the same.
    type: float
  rotate_certificates:
    description:
      - Send C(rotateCertificates) - the member reads the files its C(net.tls) settings name again, at the same
        paths, and uses them for new connections; open connections keep theirs. Overwrite the files first.
      - Always reported as changed when sent; the caller decides when the files changed (the mongod role does so
        from their contents). A file the member cannot use (not a certificate and key, an unreadable CA, an
        expired certificate) fails the task, and the member keeps the certificate it runs with.
      - The login must be C(credentials) of a user with C(hostManager) (or C(root)), or C(no_authorization).
    type: bool
    default: false
  auth_stage:
    description:
      - Report the authentication stage the member runs (RV(auth_stage)), read from C(getCmdLineOpts) - the
        stages of authentication turned on in a running set. Decides the login first.
    type: bool
    default: false
  tls_fallback:
    description:
      - When the member does not answer with the given O(tls) (and not because of its certificate), ask again the
        other way - over TLS when O(tls) is false, plain when it is true - and report which one worked
        (RV(tls)). For a set whose TLS mode is changing, where the caller cannot tell which connections a member
        accepts; costs one connection timeout when the first way fails. A TLS file the connection names that is
        not there (TLS being turned on) means plain only.
    type: bool
    default: false
  read_tls_mode:
    description:
      - Report the TLS mode the member runs now (RV(tls_mode), from C(getParameter), so a mode set at run time
        counts). Decides the login first; a login that may not ask (the localhost exception) reports null.
    type: bool
    default: false
  tls_mode:
    description:
      - Set the member's C(tlsMode) at run time with C(setParameter), when it runs another mode. mongod makes two
        moves only - C(allowTLS) to C(preferTLS), C(preferTLS) to C(requireTLS) - and anything else fails the task,
        naming the member. Raise every member one mode before any member the next one (a member in C(requireTLS)
        refuses a member in C(allowTLS)); the mongod role does.
      - Connect the way the member accepts before the change (plain connections are refused only in
        C(requireTLS)). The login must be C(credentials) of a user with C(hostManager) (or C(root)), or
        C(no_authorization). The new mode lasts until mongod restarts; write it to C(mongod.conf) too.
    type: str
    choices: [disabled, allowTLS, preferTLS, requireTLS]
  max_lag_secs:
    description:
      - Also read the member's replication lag (C(replSetGetStatus)) and report whether it is caught up
        (RV(caught_up)) - C(PRIMARY), C(ARBITER), or C(SECONDARY) lagging at most this many seconds behind the
        primary. For a wait after a restart (C(until)).
      - C(replSetGetStatus) is sent with O(login_user) and O(login_password) when given (a user with
        C(clusterMonitor) or C(root)); a login that may not run it fails the task. An arbiter is not asked (it keeps
        no data and has no users) and counts as caught up.
    type: float
  service_name:
    description:
      - The systemd service of this mongod. Its C(MainPID) is reported as RV(service_main_pid), and when the member
        does not answer, its C(ActiveState) as RV(service_state).
    type: str
attributes:
  check_mode:
    support: full
    description: >-
      In check mode the state is read and the login decided; a step-down, an oplog resize or a certificate
      rotation is reported, not sent.
  diff_mode:
    support: full
    description: >-
      A step-down shows the member's state before and after; an oplog resize its size and retention; a TLS mode
      change the mode before and after.
notes:
  - C(hello) needs no authentication; the login decision sends C(connectionStatus) (with the credentials, when
    given), then C(usersInfo) and C(replSetGetStatus) without them.
  - Verified against mongosim (the project's MongoDB-compatible test server), not against a real mongod.
seealso:
  - module: quorum.mongodb.replicaset_info
"""

EXAMPLES = r"""
- name: Wait until the member on this host is back in its set
  quorum.mongodb.member:
    check_login: false
    service_name: mongod
  register: member
  until: member.state in ['PRIMARY', 'SECONDARY', 'ARBITER'] or member.service_state | default('') == 'failed'
  retries: 300
  delay: 2

- name: Wait until the member on this host is back and at most 10 s behind the primary
  quorum.mongodb.member:
    check_login: false
    max_lag_secs: 10
    login_user: admin
    login_password: "{{ vault_mongodb_admin_password }}"
  register: member
  until: member.caught_up
  retries: 300
  delay: 2

- name: Step the primary down before maintenance
  quorum.mongodb.member:
    step_down: true
    step_down_secs: 120
    login_user: admin
    login_password: "{{ vault_mongodb_admin_password }}"

- name: Resize this member's oplog to 16 GB (run it on the secondaries first, the primary last)
  quorum.mongodb.member:
    oplog_size_mb: 16384
    oplog_min_retention_hours: 24
    login_user: admin
    login_password: "{{ vault_mongodb_admin_password }}"

- name: Raise this member's TLS mode to preferTLS at run time (every member, before any goes on to requireTLS)
  quorum.mongodb.member:
    tls_mode: preferTLS
    login_user: admin
    login_password: "{{ vault_mongodb_admin_password }}"

- name: Find out how to log in over localhost (a set with no user yet answers localhost_exception)
  quorum.mongodb.member:
    login_user: admin
    login_password: "{{ vault_mongodb_admin_password }}"
  register: member
"""

RETURN = r"""
member:
  description: The mongod asked (C(host:port)).
  returned: always
  type: str
  sample: "localhost:27017"
state:
  description:
    - The member's state from C(hello) - C(PRIMARY), C(SECONDARY), C(ARBITER), C(OTHER) (in a set but none of
      these, such as RECOVERING or a primary stepping down), C(NO_CONFIG) (never initiated, or removed),
      C(STANDALONE), C(NOT_REPLICA_SET), or C(UNREACHABLE) (no answer).
    - After a step-down, the state then.
  returned: always
  type: str
  sample: SECONDARY
error:
  description: Why the member did not answer.
  returned: when RV(state) is C(UNREACHABLE)
  type: str
service_state:
  description: systemd's C(ActiveState) of O(service_name) (C(active), C(activating), C(failed), C(inactive), ...).
  returned: when RV(state) is C(UNREACHABLE) and O(service_name) is set
  type: str
  sample: failed
service_main_pid:
  description:
    - systemd's C(MainPID) of O(service_name) when the member was asked (0 when it does not run, or systemd cannot
      tell), so that a later task can tell whether the same mongod process still runs.
  returned: when O(service_name) is set
  type: int
  sample: 4242
set_name:
  description: The replica set's name, or null when the member has no config.
  returned: always
  type: str
  sample: rs0
me:
  description: The member's own address in the config.
  returned: always
  type: str
  sample: db1.example.com:27017
primary:
  description: The primary the member knows of, or null.
  returned: always
  type: str
  sample: db2.example.com:27017
hosts:
  description: The electable members (C(hello)'s C(hosts)).
  returned: always
  type: list
  elements: str
passives:
  description: Members that hold data but cannot be elected (priority 0, not voting).
  returned: always
  type: list
  elements: str
arbiters:
  description: The arbiters.
  returned: always
  type: list
  elements: str
config_version:
  description: The config version (C(setVersion)).
  returned: always
  type: int
login:
  description:
    - How a client with the given connection options gets in - C(credentials) (O(login_user) authenticates),
      C(no_authorization) (nothing asks for credentials), C(localhost_exception) (no user exists yet; over
      localhost the first one may be created, and the set initiated or reconfigured, nothing else), C(refused)
      (users exist, and the credentials are missing or do not authenticate).
    - null when not decided (O(check_login) false, or the member does not answer).
  returned: always
  type: str
  sample: credentials
login_msg:
  description: The login decision in a sentence, naming the member and the user (never the password).
  returned: always
  type: str
login_roles:
  description:
    - When RV(login) is C(credentials), the roles granted to O(login_user), as the member's C(connectionStatus)
      reports them (C(authInfo.authenticatedUserRoles)), sorted by database, then role. null otherwise.
    - The replicaset role compares them with the admin's declared roles to leave the admin alone on a re-run.
  returned: always
  type: list
  elements: dict
  sample: [{role: root, db: admin}]
lag_secs:
  description:
    - The primary's C(optimeDate) minus the member's own, in seconds, as the member sees them (never below 0; 0 on
      the primary). null for an arbiter, a member that knows no primary or does not answer (RV(lag_msg) says why).
  returned: when O(max_lag_secs) is set
  type: float
  sample: 0.4
lag_msg:
  description: Why RV(lag_secs) is null, or null.
  returned: when O(max_lag_secs) is set
  type: str
caught_up:
  description: Whether the member is C(PRIMARY), C(ARBITER), or C(SECONDARY) with RV(lag_secs) at most O(max_lag_secs).
  returned: when O(max_lag_secs) is set
  type: bool
can_step_down:
  description:
    - Whether O(step_down) would step the member down now - primary, another electable member, and a login that
      may. null when the login was not decided.
  returned: always
  type: bool
stepped_down:
  description: Whether the member was stepped down (in check mode, would be).
  returned: always
  type: bool
oplog:
  description:
    - The oplog's live settings after the task (in check mode, what they would be) - C(size_mb) and
      C(min_retention_hours). null when the member has no oplog to resize.
  returned: when O(oplog_size_mb) or O(oplog_min_retention_hours) is set
  type: dict
  sample: {size_mb: 16384.0, min_retention_hours: 24.0}
oplog_resized:
  description: Whether C(replSetResizeOplog) was sent (in check mode, would be).
  returned: always
  type: bool
certificates_rotated:
  description: Whether C(rotateCertificates) was sent (in check mode, would be).
  returned: always
  type: bool
tls:
  description: Whether the connection that got an answer used TLS (O(tls), or the other way after O(tls_fallback)).
  returned: when O(tls_fallback) is true
  type: bool
tls_mode:
  description: The TLS mode the member runs after the task (in check mode, would run); null when it was not read.
  returned: when O(read_tls_mode) or O(tls_mode) is set
  type: str
  sample: preferTLS
tls_mode_changed:
  description: Whether C(setParameter tlsMode) was sent (in check mode, would be).
  returned: always
  type: bool
auth_stage:
  description:
    - C(none) (no keyFile, nothing enforced), C(transition) (keyFile and C(security.transitionToAuth), authenticated
      and unauthenticated clients both accepted) or C(enforced) (keyFile or C(security.authorization) on; also when
      C(getCmdLineOpts) is refused to the login). null when the member does not answer.
  returned: when O(auth_stage) is true
  type: str
  sample: transition
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.quorum.mongodb.plugins.module_utils.mongodb_common import (
    CONNECTION_REQUIRED_TOGETHER,
    Connector,
    MongoModuleError,
    connection_argument_spec,
    ensure_pymongo,
    json_safe,
)
from ansible_collections.quorum.mongodb.plugins.module_utils.mongodb_member import (
    ask,
    oplog_option_problems,
    raise_tls_mode,
    read_auth_stage,
    read_lag,
    read_tls_mode,
    resize_oplog,
    rotate_certificates,
    step_down,
)
from ansible_collections.quorum.mongodb.plugins.module_utils.tls_modes import TLS_MODES


def tls_files_missing(params):
    """Whether a TLS file the connection names is not there (O(tls_fallback) then asks plain only)."""
    return any(params.get(name) and not os.path.exists(params[name])
               for name in ("tls_ca_file", "tls_certificate_key_file"))


def service_properties(module, name):
    """systemd's ActiveState and MainPID of the service ({} when systemctl cannot tell)."""
    rc, out, _err = module.run_command(["systemctl", "show", "--property=ActiveState,MainPID", name],
                                       environ_update={"LC_ALL": "C"})
    if rc != 0:
        return {}
    return dict(line.strip().split("=", 1) for line in out.splitlines() if "=" in line)


def main():
    argument_spec = connection_argument_spec()
    argument_spec.update(
        step_down=dict(type="bool", default=False),
        step_down_secs=dict(type="int", default=60),
        catch_up_secs=dict(type="int", default=10),
        check_login=dict(type="bool", default=True),
        service_name=dict(type="str"),
        max_lag_secs=dict(type="float"),
        oplog_size_mb=dict(type="int"),
        oplog_min_retention_hours=dict(type="float"),
        rotate_certificates=dict(type="bool", default=False),
        auth_stage=dict(type="bool", default=False),
        tls_fallback=dict(type="bool", default=False),
        read_tls_mode=dict(type="bool", default=False),
        tls_mode=dict(type="str", choices=list(TLS_MODES)),
    )
    module = AnsibleModule(argument_spec=argument_spec, required_together=CONNECTION_REQUIRED_TOGETHER,
                           mutually_exclusive=[["step_down", "oplog_size_mb"],
                                               ["step_down", "oplog_min_retention_hours"],
                                               ["step_down", "rotate_certificates"],
                                               ["step_down", "tls_mode"]],
                           supports_check_mode=True)
    params = module.params
    ensure_pymongo(module)
    connector = Connector(params, app_name="quorum.mongodb.member")
    address = connector.login_address()
    oplog_asked = params["oplog_size_mb"] is not None or params["oplog_min_retention_hours"] is not None
    problems = oplog_option_problems(params["oplog_size_mb"], params["oplog_min_retention_hours"])
    if params["max_lag_secs"] is not None and not params["max_lag_secs"] >= 0:
        problems.append("max_lag_secs is %s: it must be 0 or more" % params["max_lag_secs"])
    if problems:
        module.fail_json(msg="%s: %s" % (address, "; ".join(problems)), member=address)
    stepped = resized = rotated = tls_raised = False
    tls_asked = params["read_tls_mode"] or params["tls_mode"] is not None
    tls_before = None
    oplog_before = oplog_after = None
    check_login = (params["check_login"] or params["step_down"] or oplog_asked or params["rotate_certificates"]
                   or params["auth_stage"] or tls_asked)
    if params["tls_fallback"] and params["tls"] and tls_files_missing(params):
        # Not installed yet (TLS is being turned on): only a plain connection can get an answer.
        params = dict(params, tls=False)
        connector = Connector(params, app_name="quorum.mongodb.member")
    try:
        report = ask(connector, address, params, check_login=check_login)
        # Over TLS the other way only with the TLS files there.
        other_way = params["tls"] or not tls_files_missing(params)
        if report["state"] == "UNREACHABLE" and params["tls_fallback"] and other_way:
            connector.close()
            params = dict(params, tls=not params["tls"])
            connector = Connector(params, app_name="quorum.mongodb.member")
            report = ask(connector, address, params, check_login=check_login)
            if report["state"] == "UNREACHABLE":
                params = module.params
        if params["tls_fallback"]:
            report["tls"] = bool(params["tls"])
        before = report
        if params["auth_stage"]:
            report["auth_stage"] = read_auth_stage(connector, address, report)
        if params["step_down"]:
            stepped, report = step_down(connector, address, params, report, params["step_down_secs"],
                                        params["catch_up_secs"], check_mode=module.check_mode)
        if oplog_asked:
            resized, oplog_before, oplog_after = resize_oplog(
                connector, address, report, params["oplog_size_mb"], params["oplog_min_retention_hours"],
                check_mode=module.check_mode)
        if params["tls_mode"] is not None:
            tls_raised, tls_before = raise_tls_mode(connector, address, report, params["tls_mode"],
                                                    check_mode=module.check_mode)
            report["tls_mode"] = params["tls_mode"]
        elif params["read_tls_mode"]:
            report["tls_mode"] = read_tls_mode(connector, address, report)
        if params["rotate_certificates"]:
            rotated = rotate_certificates(connector, address, report, check_mode=module.check_mode)
        if params["max_lag_secs"] is not None:
            read_lag(connector, address, report, True, params["max_lag_secs"])
    except MongoModuleError as exc:
        module.fail_json(msg=exc.msg, member=address, code=exc.details.get("code"))
    finally:
        connector.close()
    if params["service_name"]:
        service = service_properties(module, params["service_name"])
        main_pid = service.get("MainPID", "")
        report["service_main_pid"] = int(main_pid) if main_pid.isdigit() else 0
        if report["state"] == "UNREACHABLE":
            report["service_state"] = service.get("ActiveState") or "unknown"
    result = dict(json_safe(report), changed=stepped or resized or rotated or tls_raised, stepped_down=stepped,
                  oplog_resized=resized, certificates_rotated=rotated, tls_mode_changed=tls_raised)
    if oplog_asked:
        result["oplog"] = oplog_after
    if module._diff and stepped:
        result["diff"] = dict(before="state: %s\n" % before["state"],
                              after="state: %s\n" % ("SECONDARY" if module.check_mode else report["state"]))
    if module._diff and tls_raised:
        result["diff"] = dict(before="tls_mode: %s\n" % tls_before, after="tls_mode: %s\n" % params["tls_mode"])
    if module._diff and resized:
        result["diff"] = dict(before=_oplog_lines(oplog_before), after=_oplog_lines(oplog_after))
    module.exit_json(**result)


def _oplog_lines(oplog):
    return "oplog_size_mb: %s\noplog_min_retention_hours: %s\n" % (oplog["size_mb"], oplog["min_retention_hours"])


if __name__ == "__main__":
    main()
