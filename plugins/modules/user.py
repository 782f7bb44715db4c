#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: quorum.mongodb contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: user
short_description: Manage a MongoDB user and its roles, including the first admin through the localhost exception
version_added: "0.1.0"
description:
  - Creates, updates or drops one user on a replica set's primary (or a standalone mongod), idempotently.
  - Roles are compared as a set of (role, database) pairs; when they differ the user's roles are replaced by the
    declared ones.
  - The first user of a set with authorization enabled can be created through the localhost exception. Connect
    over localhost without credentials, or with the credentials of the user being created (they fail to
    authenticate while the user does not exist, and the module then falls back to the exception). The exception
    allows exactly one user to be created, in the C(admin) database; give it a role that can manage users
    (C(root) or C(userAdminAnyDatabase)).
  - The task must run against the primary. The module asks the member with C(hello) first and fails, naming the
    member and the primary it knows of, when it is not the primary.
  - User commands are sent with write concern C(majority) (60 seconds timeout), so a change the module reports
    survives a failover.
author:
  - quorum.mongodb contributors (!UNKNOWN)
options:
  name:
    description: Name of the user.
    type: str
    required: true
  password:
    description:
      - Password of the user. Needed to create it. Never logged, never shown in a diff.
      - How it is applied to an existing user is set by O(update_password).
    type: str
  database:
    description: Database the user is defined in (its authentication database).
    type: str
    default: admin
  roles:
    description:
      - Roles of the user. Each is either a role name (a role on O(database)) or a dictionary with C(role) and
        C(db) (C(db) defaults to O(database)).
      - When given, the user ends up with exactly these roles (an empty list removes them all).
      - When not given, an existing user keeps its roles and a new user is created without roles.
    type: list
    elements: raw
  update_password:
    description:
      - C(on_create) sets the password only when the user is created.
      - C(always) also makes an existing user's password the declared one. The module first checks the declared
        password by authenticating with it (SCRAM) and changes it, reporting a change, only when that fails.
    type: str
    choices: [always, on_create]
    default: on_create
  state:
    description: Whether the user exists (C(present)) or not (C(absent)).
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - quorum.mongodb.connection
attributes:
  check_mode:
    support: full
    description: Reports what would change (and checks passwords by authenticating), changes nothing.
  diff_mode:
    support: full
    description: Before and after of the user's existence and roles, and whether a password is set; never a password.
notes:
  - The localhost exception closes as soon as the first user exists. If that user cannot manage users, only
    that user can be used from then on, so give the first user C(root) or C(userAdminAnyDatabase).
  - Verified against mongosim (the project's MongoDB-compatible test server), not against a real mongod.
seealso:
  - name: Localhost exception
    description: MongoDB's description of the localhost exception.
    link: https://www.mongodb.com/docs/manual/core/localhost-exception/
"""

EXAMPLES = r"""
- name: Create the first admin through the localhost exception (and keep it as it is later)
  quorum.mongodb.user:
    name: admin
    password: "{{ mongodb_admin_password }}"
    database: admin
    roles: [root]
    login_user: admin
    login_password: "{{ mongodb_admin_password }}"
  no_log: true

- name: An application user with roles on two databases, password enforced on every run
  quorum.mongodb.user:
    name: shop
    password: "{{ shop_password }}"
    database: shop
    roles:
      - readWrite
      - role: read
        db: reporting
    update_password: always
    login_user: admin
    login_password: "{{ mongodb_admin_password }}"
  no_log: true

- name: Remove a user
  quorum.mongodb.user:
    name: legacy
    database: shop
    state: absent
    login_user: admin
    login_password: "{{ mongodb_admin_password }}"
  no_log: true
"""

RETURN = r"""
changed:
  description: Whether the user was (or, in check mode, would be) created, updated or dropped.
  returned: always
  type: bool
msg:
  description: What was done (or would be done in check mode), naming the user and its roles.
  returned: always
  type: str
  sample: "created user admin@admin with root@admin"
user:
  description: The user as it is after the task (as it would be in check mode).
  returned: success
  type: dict
  contains:
    name:
      description: Name of the user.
      type: str
      returned: success
    db:
      description: Database the user is defined in.
      type: str
      returned: success
    exists:
      description: Whether the user exists after the task.
      type: bool
      returned: success
    roles:
      description: Roles of the user, sorted by database and role; empty when it does not exist.
      type: list
      elements: dict
      returned: success
      sample: [{"role": "root", "db": "admin"}]
password_changed:
  description: Whether the password was (or would be) set, on creation or by O(update_password=always).
  returned: success
  type: bool
localhost_exception:
  description: Whether the module worked through the localhost exception (no user existed yet).
  returned: success
  type: bool
member:
  description: The member the module talked to (C(host:port)).
  returned: always
  type: str
  sample: "localhost:27017"
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.quorum.mongodb.plugins.module_utils.mongodb_common import (
    CONNECTION_REQUIRED_TOGETHER,
    Connector,
    MongoModuleError,
    connection_argument_spec,
    ensure_pymongo,
)
from ansible_collections.quorum.mongodb.plugins.module_utils.mongodb_user import manage_user
from ansible_collections.quorum.mongodb.plugins.module_utils.user_plan import UserPlanError, normalize_roles


def main():
    argument_spec = connection_argument_spec()
    argument_spec.update(
        name=dict(type="str", required=True),
        password=dict(type="str", no_log=True),
        database=dict(type="str", default="admin"),
        roles=dict(type="list", elements="raw"),
        update_password=dict(type="str", default="on_create", choices=["always", "on_create"], no_log=False),
        state=dict(type="str", default="present", choices=["present", "absent"]),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           required_together=CONNECTION_REQUIRED_TOGETHER)
    ensure_pymongo(module)
    connector = Connector(module.params, app_name="quorum.mongodb.user")
    address = connector.login_address()
    try:
        roles = normalize_roles(module.params["roles"], module.params["database"])
        result = manage_user(connector, address, module.params, roles, module.check_mode, module._diff)
    except UserPlanError as exc:
        module.fail_json(msg=str(exc), member=address)
    except MongoModuleError as exc:
        module.fail_json(msg=exc.msg, member=address, code=exc.details.get("code"))
    finally:
        connector.close()
    module.exit_json(**result)


if __name__ == "__main__":
    main()
