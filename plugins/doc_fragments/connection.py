# -*- coding: utf-8 -*-
# Copyright: quorum.mongodb contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment:
    # The connection options every quorum.mongodb module shares
    # (plugins/module_utils/mongodb_common.py connection_argument_spec).
    DOCUMENTATION = r"""
options:
  login_host:
    description:
      - The mongod the module connects to first, directly (not through replica-set discovery).
      - Usually C(localhost) on the member the task is delegated to, so that the localhost exception applies
        while the set has no user yet.
    type: str
    default: localhost
  login_port:
    description: Port of O(login_host).
    type: int
    default: 27017
  login_user:
    description:
      - User to authenticate as. Leave unset to connect without authentication (a set without
        authorization, or the localhost exception before the first user exists).
    type: str
  login_password:
    description: Password of O(login_user). Never logged.
    type: str
  login_database:
    description: Authentication database of O(login_user).
    type: str
    default: admin
  tls:
    description: Connect with TLS (needed when members run with C(net.tls.mode=requireTLS)).
    type: bool
    default: false
  tls_ca_file:
    description: CA certificates file to verify the members' certificates with.
    type: path
  tls_certificate_key_file:
    description: Client certificate and key (PEM), when members ask for one.
    type: path
  tls_certificate_key_file_password:
    description: Password of an encrypted O(tls_certificate_key_file). Never logged.
    type: str
  tls_allow_invalid_certificates:
    description: Skip certificate verification. For tests only; it defeats the purpose of TLS.
    type: bool
    default: false
  tls_allow_invalid_hostnames:
    description: Accept certificates whose names do not match the address connected to (for example C(localhost)).
    type: bool
    default: false
  connect_timeout_ms:
    description:
      - How long to wait for a member to answer before counting it as unreachable, in milliseconds.
    type: int
    default: 5000
requirements:
  - pymongo >= 4.0 on the host the module runs on
notes:
  - The modules connect to each member directly; they never follow a driver's replica-set discovery,
    so what they report is what each member said.
"""
