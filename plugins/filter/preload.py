# -*- coding: utf-8 -*-
# Copyright: quorum.mongodb contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""``preload``: returns its input unchanged, and loads this collection's filters where it is templated.

Ansible runs each task of each host in a process forked from its main one. A task whose condition or
arguments use one of the collection's filters imports every filter file of the collection in that worker,
again for every task and host, unless the main process has them already: about 0.1 s a task on three hosts,
seconds over a run of playbooks/site.yml (``make bench`` measures it). A play's ``hosts:`` is templated in the
main process, so ``hosts: "{{ 'localhost' | quorum.mongodb.preload }}"`` in a playbook's first play loads them
there once, and every worker inherits them.
"""

from __future__ import annotations


def preload(value):
    return value


class FilterModule:
    """The filter that makes Ansible's main process load this collection's filters."""

    def filters(self):
        return {
            "preload": preload,
        }
