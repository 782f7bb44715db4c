# -*- coding: utf-8 -*-
# Copyright: quorum.mongodb contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""mongod's TLS modes, in one place for the member module and the planner filter (mongod_tls_stage).

Pure: no pymongo. The filter plugins are imported by every Ansible worker that uses one of the collection's
filters, so nothing heavy belongs here."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# net.tls.mode in the order a running set goes up, and the two moves a running mongod makes with setParameter
# (tests/mongosim/SEMANTICS.md section 9.4; mongod's util/net/ssl_parameters.cpp).
TLS_MODES = ("disabled", "allowTLS", "preferTLS", "requireTLS")
TLS_MODE_RUNTIME_STEPS = (("allowTLS", "preferTLS"), ("preferTLS", "requireTLS"))
