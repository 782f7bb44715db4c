#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: quorum.mongodb contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: fcv
short_description: Set a MongoDB replica set's feature compatibility version, once every member's binary allows it
version_added: "0.1.0"
description:
  - Reads the set's feature compatibility version (FCV) from its primary (C(getParameter featureCompatibilityVersion))
    and the binary version of every member (C(buildInfo)), then, when O(feature_compatibility_version) differs from
    the live FCV, runs C(setFeatureCompatibilityVersion) on the primary, with C(confirm) on 7.0 and later and a
    majority write concern.
  - Refuses, before anything is sent, while a member runs a binary that does not support the declared FCV (its
    release or the release after it), naming those members and their versions. mongod itself does not refuse
    there; it cuts the older members, arbiters included, off the set. An arbiter's own FCV is never read as the
    set's (arbiters always report their binary's last LTS).
  - An FCV change that was interrupted (C(targetVersion) in C(getParameter), an C(upgrading) or C(downgrading)
    state) is reported and finished on the next run when O(feature_compatibility_version) is its target; an
    interrupted downgrade can also be reverted by declaring the version it came from. An interrupted upgrade can
    only be finished (mongod's rule).
  - Idempotent; a run that changes nothing sends C(hello), C(replSetGetConfig), C(replSetGetStatus) and
    C(getParameter) to the primary and C(buildInfo) to every member.
author:
  - quorum.mongodb contributors (!UNKNOWN)
extends_documentation_fragment:
  - quorum.mongodb.connection
options:
  feature_compatibility_version:
    description:
      - The FCV the set should have, a release series such as C("8.0").
      - Every data-bearing member must run that release or the one after it.
      - Raising it to the binaries' release enables that release's features that persist data and makes a binary
        downgrade impossible without MongoDB's support; MongoDB recommends a burn-in period on the new binaries
        first.
    type: str
    required: true
  wait_timeout:
    description: How long the primary may wait for a majority to confirm each write of the change, in seconds.
    type: int
    default: 600
attributes:
  check_mode:
    support: full
    description: The versions are read and the decision made; the command is reported (RV(command)), not sent.
  diff_mode:
    support: full
    description: The FCV before and after.
notes:
  - The login needs C(replSetGetConfig), C(replSetGetStatus), C(getParameter) and C(setFeatureCompatibilityVersion)
    (C(clusterManager) and C(clusterMonitor), or C(root)). C(buildInfo) needs none.
  - Verified against mongosim (the project's MongoDB-compatible test server), not against a real mongod.
seealso:
  - module: quorum.mongodb.replicaset
  - name: setFeatureCompatibilityVersion
    description: MongoDB's manual page of the command.
    link: https://www.mongodb.com/docs/manual/reference/command/setFeatureCompatibilityVersion/
"""

EXAMPLES = r"""
- name: Raise the FCV once every member runs 8.0
  quorum.mongodb.fcv:
    feature_compatibility_version: "8.0"
    login_user: admin
    login_password: "{{ vault_mongodb_admin_password }}"
  run_once: true
"""

RETURN = r"""
changed:
  description: Whether the FCV was (in check mode, would be) changed.
  returned: always
  type: bool
feature_compatibility_version:
  description: The FCV after the run, as C(getParameter) reports it (C(targetVersion) and C(previousVersion) only
    during an unfinished change). In check mode, the declared one.
  returned: success
  type: dict
  sample: {version: "8.0"}
before:
  description: The FCV before the run, as C(getParameter) reported it.
  returned: success
  type: dict
  sample: {version: "7.0"}
command:
  description: The C(setFeatureCompatibilityVersion) command sent (or that would be), without its write concern;
    null when nothing is to change.
  returned: success
  type: dict
  sample: {setFeatureCompatibilityVersion: "8.0", confirm: true}
reason:
  description: Why the command is needed, or why not.
  returned: success
  type: str
primary:
  description: The primary the command went to (host:port).
  returned: success
  type: str
members:
  description: Every member of the config with its state, binary version and whether it is an arbiter.
  returned: success
  type: list
  elements: dict
  sample: [{host: db1.example.com:27017, state: PRIMARY, version: 8.0.4, arbiter: false}]
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
from ansible_collections.quorum.mongodb.plugins.module_utils.mongodb_fcv import FCVRun


def main():
    argument_spec = connection_argument_spec()
    argument_spec.update(
        feature_compatibility_version=dict(type="str", required=True),
        wait_timeout=dict(type="int", default=600),
    )
    module = AnsibleModule(argument_spec=argument_spec, required_together=CONNECTION_REQUIRED_TOGETHER,
                           supports_check_mode=True)
    params = module.params
    ensure_pymongo(module)
    connector = Connector(params, app_name="quorum.mongodb.fcv")
    run = FCVRun(connector, params["feature_compatibility_version"], check_mode=module.check_mode,
                 wait_timeout=params["wait_timeout"])
    try:
        result = run.run()
    except MongoModuleError as exc:
        # Once the command was sent, the FCV may have moved (a transitional state stays).
        module.fail_json(msg=exc.msg, changed=run.sent, **json_safe(exc.details))
    finally:
        connector.close()
    if module._diff:
        result["diff"] = {"before": {"feature_compatibility_version": result["before"]},
                          "after": {"feature_compatibility_version": result["feature_compatibility_version"]}}
    module.exit_json(**json_safe(result))


if __name__ == "__main__":
    main()
