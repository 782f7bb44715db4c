"""A test's stand-in for a run killed at the worst moment: once the task named by QUORUM_KILL_AFTER_TASK has
succeeded on the host named by QUORUM_KILL_AFTER_HOST, ansible-playbook is killed with SIGKILL, as a lost
controller or an operator's kill -9 would end it. Nothing else of the run happens: no handler, no rescue.

Enabled by the upgrade scenario for one nested run only:
  ANSIBLE_CALLBACK_PLUGINS=molecule/resources/callback_plugins ANSIBLE_CALLBACKS_ENABLED=quorum_kill_after
"""

import os
import signal

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: quorum_kill_after
type: aggregate
short_description: kill ansible-playbook after a given task on a given host (molecule tests only)
description:
  - Reads E(QUORUM_KILL_AFTER_TASK) (the start of the task's name) and E(QUORUM_KILL_AFTER_HOST).
requirements:
  - enabled in callbacks_enabled
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "quorum_kill_after"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self._task = os.environ.get("QUORUM_KILL_AFTER_TASK", "")
        self._host = os.environ.get("QUORUM_KILL_AFTER_HOST", "")

    def v2_runner_on_ok(self, result):
        if not self._task or result.task_name is None:
            return
        if result.task_name.startswith(self._task) and result._host.get_name() == self._host:
            self._display.display("quorum_kill_after: killing ansible-playbook after %r on %s"
                                  % (result.task_name, self._host))
            os.kill(os.getpid(), signal.SIGKILL)
