# -*- coding: utf-8 -*-
# Copyright: quorum.mongodb contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test-only callback: every task result, in order, as JSON in $QUORUM_RESULTS_FILE.

tests/integration/conftest.py enables it (ANSIBLE_CALLBACKS_ENABLED) next to
the default stdout callback, so a test reads the module's return values exactly
as a playbook registers them. Results are written after Ansible has applied
no_log censoring; nothing else is added to them.
"""

from __future__ import annotations

import json
import os

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
    name: quorum_results
    type: aggregate
    short_description: write task results as JSON to the file in QUORUM_RESULTS_FILE (integration tests)
    description:
      - Appends each task result (ok, failed, skipped, unreachable) with the task's name and host to a list and
        rewrites the file named by the environment variable C(QUORUM_RESULTS_FILE) after every result.
    requirements:
      - enabled in callbacks_enabled
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "quorum_results"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._results = []
        self._path = os.environ.get("QUORUM_RESULTS_FILE")

    def _record(self, result, status):
        data = getattr(result, "result", None)
        if data is None:
            data = result._result
        entry = {key: value for key, value in data.items() if not key.startswith("_ansible_")}
        entry.setdefault("changed", False)
        entry.setdefault("failed", status in ("failed", "unreachable"))
        entry["task"] = result.task.get_name()
        entry["host"] = result.host.get_name()
        entry["status"] = status
        self._results.append(entry)
        if self._path:
            with open(self._path + ".tmp", "w", encoding="utf-8") as handle:
                json.dump(self._results, handle, default=str, indent=1)
            os.replace(self._path + ".tmp", self._path)

    def v2_runner_on_ok(self, result):
        self._record(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, "failed")

    def v2_runner_on_skipped(self, result):
        self._record(result, "skipped")

    def v2_runner_on_unreachable(self, result):
        self._record(result, "unreachable")
