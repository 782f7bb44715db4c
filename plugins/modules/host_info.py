#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: quorum.mongodb contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: host_info
short_description: Read the state of paths, users and groups on a host in one call
version_added: "0.1.0"
description:
  - Reports, for each path, whether it exists and its type, mode, owner, group, the SHA-256 of a regular file's
    content and a link's target (a link at the end of a path is not followed); for each user its primary group,
    home, shell and comment; for each group its id.
  - The roles of this collection read the files, directories, users and groups they manage with one call per host
    and skip the tasks whose target already matches (filters M(quorum.mongodb.host_info) feeds are
    C(quorum.mongodb.path_matches) and C(quorum.mongodb.user_matches)), so that a run that changes nothing costs
    one task per host instead of one per file.
  - Read-only; never changes anything.
author:
  - quorum.mongodb contributors (!UNKNOWN)
options:
  paths:
    description: Absolute paths to read.
    type: list
    elements: path
    default: []
  users:
    description: User names to look up.
    type: list
    elements: str
    default: []
  groups:
    description: Group names to look up.
    type: list
    elements: str
    default: []
  checksum:
    description: Whether to read regular files to give their SHA-256. Reading large files costs time.
    type: bool
    default: true
  secret_checksums:
    description:
      - Paths whose content is a secret (a keyFile), each with the SHA-256 its content should have. They are read
        like O(paths), but their digest is compared on the host and only the answer is returned
        (C(checksum_matches)), never the digest.
      - The expected digests are not logged.
    type: dict
    default: {}
  ctime_paths:
    description:
      - Paths whose change time to report (RV(ctimes)), a link at the end followed. The mongod role compares them
        with the start of the running mongod to find the files that changed since.
    type: list
    elements: path
    default: []
  read_paths:
    description:
      - Small text files (64 KiB at most) to return whole (RV(contents)), such as a record the role keeps. Never a
        file that is or holds a secret.
    type: list
    elements: path
    default: []
  python_packages:
    description:
      - Python virtual environments (their directory) to the names of distributions to look for there. For each,
        RV(python_packages) tells whether its C(bin/python) runs and the version of each distribution installed,
        read from the C(.dist-info) metadata pip writes, without starting that Python.
    type: dict
    default: {}
  certificate_paths:
    description:
      - PEM files (a CA file, a certificate with its private key) whose certificates to return (RV(certificates)).
        Only the C(CERTIFICATE) blocks are returned, never a private key; 4 MiB at most.
    type: list
    elements: path
    default: []
  differing_secrets:
    description:
      - Also return the content of each file of O(secret_checksums) whose digest is not the expected one (a keyFile
        the role is about to replace, since the key the members run with is needed to stage a rotation).
      - The result then holds secrets, so the task must have C(no_log).
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Read-only; the same in check mode.
  diff_mode:
    support: none
    description: Nothing changes, so there is no difference to show.
notes:
  - Do not list in O(paths) files whose content is a secret or holds one (a keyFile, a configuration with a
    password), since the digest of a short or guessable secret helps whoever reads the output guess it. Give a
    secret in O(secret_checksums) instead.
seealso:
  - module: ansible.builtin.stat
"""

EXAMPLES = r"""
- name: Read what the host has
  quorum.mongodb.host_info:
    paths: [/etc/mongod.conf, /var/lib/mongodb]
    users: [mongodb]
    groups: [mongodb]
  register: host

- name: Create the data directory where it is not as wanted
  ansible.builtin.file:
    path: /var/lib/mongodb
    state: directory
    owner: mongodb
    group: mongodb
    mode: "0750"
  when: not host.paths['/var/lib/mongodb'] | quorum.mongodb.path_matches('directory', 'mongodb', 'mongodb', '0750')
"""

RETURN = r"""
paths:
  description: Path to its state. C(exists) is always there; the other keys only for a path that exists. A path of
    O(secret_checksums) has C(checksum_matches) instead of C(checksum).
  returned: always
  type: dict
  sample:
    /etc/mongod.conf: {exists: true, type: file, mode: "0640", owner: root, group: mongodb, checksum: 5e88...}
    /usr/bin/mongod: {exists: true, type: link, mode: "0777", owner: root, group: root, src: /opt/mongodb/bin/mongod}
    /var/lib/none: {exists: false}
users:
  description: User name to C(exists), C(uid), C(group) (primary group's name), C(home), C(shell), C(comment).
  returned: always
  type: dict
  sample: {mongodb: {exists: true, uid: 999, group: mongodb, home: /nonexistent, shell: /usr/sbin/nologin,
                     comment: MongoDB server}}
secrets:
  description: Path to the content of each file of O(secret_checksums) that differs from its expected digest.
  returned: when O(differing_secrets) is true
  type: dict
  sample: {/etc/mongodb/keyfile: "<the key>"}
groups:
  description: Group name to C(exists) and C(gid).
  returned: always
  type: dict
  sample: {mongodb: {exists: true, gid: 999}}
ctimes:
  description: Path of O(ctime_paths) to its change time in whole seconds since the epoch, or null when it does not
    exist.
  returned: always
  type: dict
  sample: {/etc/mongod.conf: 1796150000, /etc/none: null}
python_packages:
  description:
    - Directory of each environment of O(python_packages) to C(python) (whether its C(bin/python) exists, links
      followed, and is executable) and C(versions) (each distribution asked for to its installed version, or null).
  returned: always
  type: dict
  sample: {/opt/quorum-mongodb/venv: {python: true, versions: {pymongo: 4.20.0}}}
certificates:
  description:
    - Path of O(certificate_paths) to the list of its PEM certificate blocks, in the file's order (the first is
      a member's own certificate), or null when it does not exist.
  returned: always
  type: dict
  sample: {/etc/mongodb/tls/ca.pem: ["-----BEGIN CERTIFICATE-----\nMIIB...\n-----END CERTIFICATE-----"]}
contents:
  description: Path of O(read_paths) to its content as text, or null when it does not exist.
  returned: always
  type: dict
  sample: {/var/lib/mongodb/.quorum-started.json: '{"conf": "5e88..."}'}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.quorum.mongodb.plugins.module_utils.host_state import read_host


def main():
    module = AnsibleModule(
        argument_spec=dict(
            paths=dict(type="list", elements="path", default=[]),
            users=dict(type="list", elements="str", default=[]),
            groups=dict(type="list", elements="str", default=[]),
            checksum=dict(type="bool", default=True),
            secret_checksums=dict(type="dict", default={}, no_log=True),
            ctime_paths=dict(type="list", elements="path", default=[]),
            read_paths=dict(type="list", elements="path", default=[]),
            differing_secrets=dict(type="bool", default=False),
            python_packages=dict(type="dict", default={}),
            certificate_paths=dict(type="list", elements="path", default=[]),
        ),
        supports_check_mode=True,
    )
    params = module.params
    try:
        result = read_host(params["paths"], params["users"], params["groups"], params["checksum"],
                           params["secret_checksums"], differing_secrets=params["differing_secrets"],
                           ctime_paths=params["ctime_paths"], read_paths=params["read_paths"],
                           python_packages=params["python_packages"],
                           certificate_paths=params["certificate_paths"])
    except OSError as exc:
        module.fail_json(msg="cannot read %s: %s" % (exc.filename, exc.strerror))
    except ValueError as exc:
        module.fail_json(msg="cannot read: %s" % exc)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
