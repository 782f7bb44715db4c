#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: quorum.mongodb contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: replicaset
short_description: Converge a MongoDB replica set to the declared members, in steps the server accepts
version_added: "0.1.0"
description:
  - Initiates a new replica set, or reconfigures a running one, so that its members and their options match
    O(members) and its settings match O(settings).
  - Before connecting anywhere the declaration (O(members), O(settings), O(default_write_concern), O(wait_timeout),
    O(step_down_secs)) is checked against mongod's own rules (host syntax, at most 50 members and 7 voters, the
    priority/votes/hidden/delay/buildIndexes couplings, arbiters, duplicates, an electable member, localhost
    mixing, horizons, settings ranges, write-concern modes); a declaration mongod would reject fails with every
    problem at once, each naming the member or option and the rule. The role's preflight uses the same rules.
  - Every declared member is asked with C(hello). A set is initiated only when no declared member belongs to a
    set (a member removed from a set answers like a new one, so one member with a config is enough to refuse);
    every member must answer.
  - Two declared addresses that answer C(hello) as the same mongod process (the same C(me) or
    C(topologyVersion.processId)) are refused, naming both, before anything changes.
  - A running set is changed through its primary by a plan of C(replSetReconfig) steps, each of which the server
    accepts; at most one voting change per step, new voters entering as the server admits them (C(newlyAdded)),
    a member whose C(arbiterOnly) or C(buildIndexes) changes removed then added again, mongod's PSA rule (a new
    secondary of a primary-secondary-arbiter set gets its vote before its priority), the implicit default write
    concern kept as it is (also for the primary's own clearing of C(newlyAdded)), and the primary stepped down
    before it is removed or made unelectable. Each step is committed by a majority before the next is sent
    (mongod's safe reconfig), and the plan is made again from the live config after every step.
  - The plan is a search for the fewest reconfigs (then the fewest step-downs); when no sequence of accepted steps
    reaches the declaration, nothing is sent and the error names the rule that blocks and what would unblock it
    (O(default_write_concern), another electable member, or O(force) for a set that has lost its majority).
  - No reconfig while the members run different MongoDB releases (a rolling version upgrade half done). When the
    config is to change, every member (live and declared) is asked with C(buildInfo) first, and the run fails,
    check mode too, naming each member and its version. Patch levels of one release are not different releases.
  - Idempotency compares content, not versions; server defaults, C(term), C(newlyAdded) and automatic version
    bumps are not changes. A run that changes nothing sends one C(hello) per member and one C(replSetGetConfig).
author:
  - quorum.mongodb contributors (@quorum-mongodb)
extends_documentation_fragment:
  - quorum.mongodb.connection
options:
  name:
    description: Name of the replica set (C(replication.replSetName) of every member).
    type: str
    required: true
  members:
    description:
      - The members the set must have, in order. Members not listed are removed.
    type: list
    elements: dict
    required: true
    suboptions:
      host:
        description:
          - The member's address as the other members reach it, C(host) or C(host:port) (port 27017 when
            omitted, otherwise 1 to 65535). The host is a name (letters, digits, C(-) and C(_) in dot-separated
            labels), an IPv4 address or an IPv6 address in brackets (C([fd00::1]:27017)); spaces are refused.
            Host names are compared case-insensitively.
        type: str
        required: true
      priority:
        description:
          - Election priority, 0 to 1000; 0 never becomes primary.
          - Defaults to 1, or 0 for members that cannot be primary (arbiter, hidden, delayed, without indexes or
            without a vote).
        type: float
      votes:
        description: 1 to vote in elections, 0 not to. 1 to 7 members vote; an arbiter votes. Defaults to C(1).
        type: int
      hidden:
        description: Hidden from clients (needs priority 0). Defaults to C(false).
        type: bool
      arbiter_only:
        description: An arbiter votes but holds no data. Defaults to C(false).
        type: bool
      build_indexes:
        description:
          - Build indexes on this member (false needs priority 0; changing it means removing and re-adding the
            member). Defaults to C(true).
        type: bool
      secondary_delay_secs:
        description:
          - Apply operations this many seconds late (a delayed member; needs priority 0), 0 to 31622400 (366 days).
            Defaults to C(0).
        type: int
      tags:
        description: Tags (string values) for read preferences and write-concern modes. Not on arbiters.
        type: dict
      horizons:
        description:
          - Split-horizon names and addresses (C(name) to C(host:port), a host name, not an IP address). Managed
            only when given.
          - mongod requires every member, arbiters included, to declare the same horizon names, and no host:port
            to appear twice across the members and their horizons.
        type: dict
  settings:
    description:
      - Replica-set settings. Only the keys given are managed; others keep their current value.
    type: dict
    suboptions:
      chaining_allowed:
        description: C(settings.chainingAllowed).
        type: bool
      heartbeat_interval_millis:
        description: C(settings.heartbeatIntervalMillis), at least 1.
        type: int
      heartbeat_timeout_secs:
        description: C(settings.heartbeatTimeoutSecs), at least 1.
        type: int
      election_timeout_millis:
        description: C(settings.electionTimeoutMillis), at least 1.
        type: int
      catch_up_timeout_millis:
        description: C(settings.catchUpTimeoutMillis) (-1 for no limit).
        type: int
      catch_up_takeover_delay_millis:
        description: C(settings.catchUpTakeoverDelayMillis) (-1 to disable).
        type: int
      get_last_error_modes:
        description:
          - "C(settings.getLastErrorModes), custom write-concern modes by tag, C(mode) to C({tag: count}); each
            count at least 1, each tag one that a member has in its O(members[].tags)."
        type: dict
  force:
    description:
      - Only for a set that has lost its majority. When no primary exists and fewer than a majority of the
        voting members answer, reconfigure from a reachable member to O(members) with a forced
        C(replSetReconfig). Writes acknowledged only by the lost members may be rolled back.
      - Never used when a primary exists (the safe path is taken and a warning says so).
    type: bool
    default: false
  default_write_concern:
    description:
      - The cluster-wide default write concern to set with C(setDefaultRWConcern), for example
        C(w) set to C(majority). Unset (or empty) leaves it alone.
      - "Keys: C(w) (required: a whole number of at least 1, since mongod refuses an unacknowledged default,
        C(majority), or a mode of O(settings.get_last_error_modes) declared in the same task), C(wtimeout) (a whole
        number of milliseconds, 0 or more) and C(j) (a bool). Other keys are refused."
      - mongod refuses a reconfig that changes the implicit default write concern (adding an arbiter to a
        primary-secondary set, removing data-bearing members from a set with an arbiter) until one is set; when
        given, it is set before any reconfig step. Once set it can be changed but never unset.
    type: dict
  allow_multiple_arbiters:
    description:
      - Declare more than one arbiter. mongod 5.3+ refuses that unless every member runs with
        C(setParameter allowMultipleArbiters=true); set this only when they do.
    type: bool
    default: false
  wait:
    description: Wait until there is a primary and every member is PRIMARY, SECONDARY or ARBITER.
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait for each of the waits (a primary, new members' initial sync, health), 1 to 2147483 (it
        is sent as C(maxTimeMS), a 32-bit count of milliseconds).
    type: int
    default: 600
  step_down_secs:
    description:
      - How long, in seconds (at least 1), a primary that has to step down stays ineligible (C(replSetStepDown)).
        The catch-up period sent with it is the smaller of 10 and this, as mongod requires it to be no longer.
    type: int
    default: 60
attributes:
  check_mode:
    support: full
    description: Returns the planned steps; nothing is sent but C(hello), C(replSetGetConfig) and, when arbiters
      are involved, C(getDefaultRWConcern).
  diff_mode:
    support: full
    description: Before and after configs, normalised (server defaults filled in, no C(term)).
notes:
  - Run it on one host for the whole set (C(run_once)), usually delegated to a member so that O(login_host) is
    C(localhost).
  - A set without users accepts C(replSetInitiate) over localhost, but not C(replSetGetConfig); once it is
    initiated, create the first user (M(quorum.mongodb.user)) before reconfiguring it.
  - Tested against mongosim, the project's MongoDB-compatible test server, not against a real mongod.
seealso:
  - module: quorum.mongodb.replicaset_info
  - module: quorum.mongodb.user
"""

EXAMPLES = r"""
- name: A three-member set
  quorum.mongodb.replicaset:
    name: rs0
    members:
      - host: db1.example.com
      - host: db2.example.com
      - host: db3.example.com
  run_once: true
  delegate_to: db1.example.com

- name: Five members, a hidden delayed one and an arbiter, in one run
  quorum.mongodb.replicaset:
    name: rs0
    members:
      - {host: db1.example.com, priority: 2, tags: {dc: east}}
      - {host: db2.example.com, tags: {dc: east}}
      - {host: db3.example.com, tags: {dc: west}}
      - {host: db4.example.com, hidden: true, secondary_delay_secs: 3600}
      - {host: arb.example.com, arbiter_only: true}
    settings:
      election_timeout_millis: 10000
    login_user: admin
    login_password: "{{ vault_mongodb_admin_password }}"
  run_once: true

- name: After losing a data centre, keep the survivors (never done implicitly)
  quorum.mongodb.replicaset:
    name: rs0
    members: [{host: db1.example.com}, {host: db2.example.com}]
    force: true
    login_user: admin
    login_password: "{{ vault_mongodb_admin_password }}"
  run_once: true
"""

RETURN = r"""
changed:
  description:
    - Whether the set was (or in check mode would be) initiated or reconfigured.
    - When the run fails, whether it had changed the set before the failure (for example a reconfig applied and
      committed, then a wait that timed out); C(steps) then lists what was applied. Always false when check mode
      fails, as nothing is sent then.
  returned: always
  type: bool
config:
  description: The set's config after the run (in check mode, the planned one), normalised.
  returned: success
  type: dict
steps:
  description:
    - What was done (or would be), in order. C(action) is C(initiate), C(reconfig), C(step_down),
      C(force_reconfig) or C(set_default_write_concern); C(config) is the document sent; C(reasons) says what the
      step changes.
    - When the run fails, the steps applied before the failure (in check mode, the steps planned so far).
      C(committed) is false on a reconfig or C(set_default_write_concern) step that the primary applied but that a
      majority had not confirmed when the run failed (mongod keeps it applied).
  returned: always
  type: list
  elements: dict
  sample:
    - action: reconfig
      reasons: [add db4.example.com:27017]
      config: {_id: rs0, version: 4, members: []}
primary:
  description: The primary at the end (host:port), or null in check mode on a new set.
  returned: success
  type: str
members:
  description: Each declared member and its state (PRIMARY, SECONDARY, ARBITER, ...).
  returned: success
  type: list
  elements: dict
  sample: [{host: db1.example.com:27017, state: PRIMARY}]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.quorum.mongodb.plugins.module_utils.mongodb_common import (
    CONNECTION_REQUIRED_TOGETHER,
    Connector,
    MongoModuleError,
    connection_argument_spec,
    ensure_pymongo,
    json_safe,
)
from ansible_collections.quorum.mongodb.plugins.module_utils.replicaset_config import (
    ConfigError,
    desired_declaration,
)
from ansible_collections.quorum.mongodb.plugins.module_utils.replicaset_converge import Converger
from ansible_collections.quorum.mongodb.plugins.module_utils.replicaset_schema import (
    MEMBER_SCHEMA,
    SETTINGS_SCHEMA,
)
from ansible_collections.quorum.mongodb.plugins.module_utils.replicaset_schema import argument_spec as schema_spec
from ansible_collections.quorum.mongodb.plugins.module_utils.replicaset_plan import PlanError


def argument_spec():
    spec = connection_argument_spec()
    spec.update(
        name=dict(type="str", required=True),
        # Member options and settings come from the one table (replicaset_schema); the rule book
        # (replicaset_config.check_declaration) checks ranges and the rules between options.
        members=dict(type="list", elements="dict", required=True, options=schema_spec(MEMBER_SCHEMA)),
        settings=dict(type="dict", options=schema_spec(SETTINGS_SCHEMA)),
        force=dict(type="bool", default=False),
        default_write_concern=dict(type="dict"),
        allow_multiple_arbiters=dict(type="bool", default=False),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=600),
        step_down_secs=dict(type="int", default=60),
    )
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), required_together=CONNECTION_REQUIRED_TOGETHER,
                           supports_check_mode=True)
    params = module.params
    # The declaration is checked before anything is sent to any server.
    try:
        desired, settings = desired_declaration(params)
    except ConfigError as exc:
        module.fail_json(msg="members/settings: %s" % exc, steps=[])
    ensure_pymongo(module)
    connector = Connector(params, app_name="quorum.mongodb.replicaset")
    converger = Converger(connector, params["name"], desired, settings, check_mode=module.check_mode,
                          force=params["force"], wait=params["wait"], wait_timeout=params["wait_timeout"],
                          step_down_secs=params["step_down_secs"], warn=module.warn,
                          default_write_concern=params["default_write_concern"],
                          allow_multiple_arbiters=params["allow_multiple_arbiters"])
    try:
        result = converger.run()
    except (MongoModuleError, PlanError) as exc:
        details = dict(getattr(exc, "details", {}) or {})
        # A run can fail after it changed the set (a wait times out, a member or the primary
        # goes away): converger.steps holds what was applied (in check mode, what was planned).
        module.fail_json(msg=str(exc), changed=bool(converger.steps) and not module.check_mode,
                         steps=json_safe(converger.steps), **json_safe(details))
    finally:
        connector.close()
    if not module._diff:
        result.pop("diff", None)
    module.exit_json(**json_safe(result))


if __name__ == "__main__":
    main()
