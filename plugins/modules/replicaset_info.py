#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: quorum.mongodb contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: replicaset_info
short_description: Status of a MongoDB replica set, its members and its fault tolerance
version_added: "0.1.0"
description:
  - Asks one member (O(login_host)) for C(replSetGetStatus) and C(replSetGetConfig), one command each, and
    reports every member's state, health, replication lag, ping, voting options and sync source, the config
    version and term, the primary, and the fault tolerance the majority rule implies.
  - The fault tolerance is how many voting members can fail while the others still form a majority of the
    voters and can elect a primary. Arbiters vote, so they count. It is also given per tag value (for example per
    data centre) as the votes that remain when every member with that tag value is lost, and whether they still
    are a majority.
  - Read-only; never changes anything.
  - With O(binary_version), also whether the members' binaries may move to that version now (RV(upgrade)); every
    member is asked with C(buildInfo), and the set's feature compatibility version is read on the primary.
  - What the report says is what the member asked sees (a member cut off from the others sees them as down).
author:
  - quorum.mongodb contributors (!UNKNOWN)
extends_documentation_fragment:
  - quorum.mongodb.connection
options:
  binary_version:
    description:
      - A MongoDB version the binaries are to move to, a release (C("8.0")) or an exact version (C("8.0.4")).
        When given, RV(upgrade) reports the members' versions, the set's feature compatibility version, every
        reason the move is not allowed now (a member not PRIMARY, SECONDARY or ARBITER, a jump of more than one
        major release above the feature compatibility version, a downgrade the feature compatibility version does
        not allow or that O(allow_binary_downgrade) does not permit, an unfinished feature compatibility version
        change) and the order to replace them in (members that are not primary first, the primary last, members
        already on that version left out). The health and feature compatibility version rules are reasons only
        when a member that answers is to be replaced; members that did not answer, when no other member is to
        change, are reported in RV(upgrade.deferred) instead.
    type: str
  member_binary_versions:
    description:
      - With O(binary_version), the exact version some members are to run where it says more than
        O(binary_version), as a dict of member (C(host:port), as in the set's config) to version, for example the
        patch release of the archive each one installs (C(db1.example.net:27017) to C(8.0.4), say). A member in it
        counts as done only when it runs that version; the others as O(binary_version) says. Every version must
        be of O(binary_version)'s release series (RV(upgrade.problems) says which is not).
    type: dict
    default: {}
  allow_binary_downgrade:
    description:
      - With O(binary_version) lower than the members' release, whether a binary downgrade is wanted. MongoDB
        supports binary downgrades from 7.0 on only with its support.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: The module changes nothing, so it runs the same in check mode.
  diff_mode:
    support: none
    description: Nothing changes, so there is nothing to diff.
notes:
  - C(replSetGetConfig) needs an authenticated user with the C(clusterMonitor) role (or more) when authorization is
    enabled; the localhost exception does not grant it.
  - Verified against mongosim (the project's MongoDB-compatible test server), not against a real mongod.
"""

EXAMPLES = r"""
- name: Read the replica set's status
  quorum.mongodb.replicaset_info:
    login_user: admin
    login_password: "{{ mongodb_admin_password }}"
  register: rs_status

- name: Stop when losing data centre "east" would leave the set without a primary
  ansible.builtin.assert:
    that:
      - rs_status.fault_tolerance.per_tag.dc.east.majority_kept
    fail_msg: "losing dc=east would leave {{ rs_status.set_name }} without a primary"

- name: Print the member table
  ansible.builtin.debug:
    msg: "{{ rs_status | quorum.mongodb.replicaset_status_table }}"
"""

RETURN = r"""
changed:
  description: Always false.
  returned: always
  type: bool
member:
  description: The member that was asked (C(host:port)).
  returned: always
  type: str
  sample: "localhost:27017"
set_name:
  description: Name of the replica set.
  returned: success
  type: str
  sample: rs0
config_version:
  description: Version of the current config.
  returned: success
  type: int
  sample: 3
config_term:
  description: Term of the current config; null when it was installed by a force reconfig.
  returned: success
  type: int
  sample: 1
primary:
  description: The primary (C(host:port)) as the member asked sees it; null when there is none.
  returned: success
  type: str
  sample: "db1.example.net:27017"
healthy:
  description: Whether there is a primary and every member is PRIMARY, SECONDARY or ARBITER.
  returned: success
  type: bool
members:
  description: Every member of the config, in config order, with its status.
  returned: success
  type: list
  elements: dict
  contains:
    name:
      description: Address of the member (C(host:port)).
      type: str
      returned: success
    id:
      description: The member's C(_id) in the config.
      type: int
      returned: success
    state:
      description: The member's state (C(stateStr)), for example C(PRIMARY), C(SECONDARY), C(ARBITER) or
        C((not reachable/healthy)).
      type: str
      returned: success
    health:
      description: 1 when the member is up, 0 when the member asked cannot reach it.
      type: int
      returned: success
    uptime:
      description: Seconds the member has been up (for other members, since it was last seen up).
      type: int
      returned: success
    lag:
      description: Seconds the member's last applied operation is behind the primary's. 0 for the primary; null
        for arbiters, for members that are down and when there is no primary.
      type: int
      returned: success
    ping_ms:
      description: Heartbeat round trip in milliseconds; null for the member asked.
      type: int
      returned: success
    votes:
      description: Votes of the member (0 or 1).
      type: int
      returned: success
    priority:
      description: Priority of the member.
      type: float
      returned: success
    hidden:
      description: Whether the member is hidden.
      type: bool
      returned: success
    arbiter_only:
      description: Whether the member is an arbiter.
      type: bool
      returned: success
    secondary_delay_secs:
      description: Replication delay of the member in seconds.
      type: int
      returned: success
    tags:
      description: Tags of the member.
      type: dict
      returned: success
    sync_source:
      description: Member this one replicates from; null when none (the primary, arbiters).
      type: str
      returned: success
    last_heartbeat_message:
      description: Why the member asked could not reach this one, as its last heartbeat said (for example
        C(Couldn't get a connection within the time limit)); null when the heartbeats succeed and for the member
        asked.
      type: str
      returned: success
    self:
      description: Whether this is the member asked.
      type: bool
      returned: success
upgrade:
  description: With O(binary_version), whether and how the binaries may move to it.
  returned: when O(binary_version) is given
  type: dict
  contains:
    target:
      description: O(binary_version).
      type: str
      returned: success
    feature_compatibility_version:
      description: The set's feature compatibility version as the primary reports it (null without a primary).
      type: dict
      returned: success
    versions:
      description: Every member of the config with its C(buildInfo) version (null when it did not answer), state
        and whether it is an arbiter.
      type: list
      elements: dict
      returned: success
    problems:
      description: Every reason the move is not allowed now, each naming the member or the version; empty when it
        is.
      type: list
      elements: str
      returned: success
    order:
      description: The members to replace, in order (host:port); the primary last.
      type: list
      elements: str
      returned: success
    deferred:
      description: The members whose version is not known because they did not answer, when every member that
        answers runs its target already (host:port). Nothing is to be replaced now; they are checked when they
        answer again.
      type: list
      elements: str
      returned: success
fault_tolerance:
  description: What failures the set survives with a primary.
  returned: success
  type: dict
  contains:
    overall:
      description: How many voting members can fail while a majority of the voters remains (voters - majority).
      type: int
      returned: success
    voting_members:
      description: Number of voting members (arbiters included).
      type: int
      returned: success
    majority:
      description: Votes needed to elect a primary, floor(voters / 2) + 1.
      type: int
      returned: success
    reachable_voting_members:
      description: Voting members the member asked sees up.
      type: int
      returned: success
    majority_available:
      description: Whether the reachable voting members are a majority.
      type: bool
      returned: success
    current:
      description: How many more voting members can fail, given those already unreachable.
      type: int
      returned: success
    per_tag:
      description:
        - For each tag name, for each of its values, what remains if every member with that value is lost
          (C(remaining_votes)) and whether that is still a majority (C(majority_kept)).
      type: dict
      returned: success
      sample: {"dc": {"a": {"remaining_votes": 1, "majority_kept": false},
                      "b": {"remaining_votes": 2, "majority_kept": true}}}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.quorum.mongodb.plugins.module_utils.mongodb_common import (
    CONNECTION_REQUIRED_TOGETHER,
    Connector,
    ErrorCode,
    MongoModuleError,
    connection_argument_spec,
    ensure_pymongo,
)
from ansible_collections.quorum.mongodb.plugins.module_utils.mongodb_fcv import upgrade_report
from ansible_collections.quorum.mongodb.plugins.module_utils.replicaset_status import replicaset_summary


def read_status(connector, address, params):
    try:
        status = connector.command(address, {"replSetGetStatus": 1}, "replSetGetStatus")
        config = connector.command(address, {"replSetGetConfig": 1}, "replSetGetConfig")["config"]
    except MongoModuleError as exc:
        if exc.details.get("code") == ErrorCode.Unauthorized and not params.get("login_user"):
            raise MongoModuleError(exc.msg + " (set login_user and login_password: a user with the clusterMonitor "
                                   "role is enough)", **exc.details) from exc
        raise
    result = replicaset_summary(status, config)
    if params.get("binary_version"):
        result["upgrade"] = upgrade_report(connector, status, config, params["binary_version"],
                                           params["allow_binary_downgrade"],
                                           with_credentials=bool(params.get("login_user")),
                                           member_targets=params["member_binary_versions"])
    return result


def main():
    argument_spec = connection_argument_spec()
    argument_spec.update(
        binary_version=dict(type="str"),
        member_binary_versions=dict(type="dict", default={}),
        allow_binary_downgrade=dict(type="bool", default=False),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           required_together=CONNECTION_REQUIRED_TOGETHER)
    ensure_pymongo(module)
    connector = Connector(module.params, app_name="quorum.mongodb.replicaset_info")
    address = connector.login_address()
    try:
        result = read_status(connector, address, module.params)
    except MongoModuleError as exc:
        module.fail_json(msg=exc.msg, member=address, code=exc.details.get("code"))
    finally:
        connector.close()
    module.exit_json(changed=False, member=address, **result)


if __name__ == "__main__":
    main()
