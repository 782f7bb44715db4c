"""When the mongod service on this host last stopped and last started, and when the binary it runs now
was put in place, all in seconds of CLOCK_MONOTONIC (one clock for every container of a scenario: they
share the host's kernel). Prints one JSON document; run as root by the upgrade scenario's verify step.

  python3 service_times.py SERVICE
"""

import json
import os
import re
import subprocess
import sys
import time


def main():
    service = sys.argv[1]
    out = subprocess.run(["systemctl", "show", service, "--property=MainPID,InactiveEnterTimestampMonotonic,"
                          "ActiveEnterTimestampMonotonic,ExecStart"], check=True, capture_output=True, text=True,
                         env={"LC_ALL": "C", "PATH": os.environ.get("PATH", "/usr/bin:/bin")}).stdout
    props = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    pid = int(props["MainPID"])
    # The binary the unit starts ("{ path=/opt/.../bin/mongod ; argv[]=... }"): /proc/PID/exe of another
    # user's process needs CAP_SYS_PTRACE, which the scenario's containers do not have.
    binary = os.path.realpath(re.search(r"path=(\S+)", props["ExecStart"]).group(1))
    # The binary's ctime is when it was unpacked (or installed) here; as monotonic seconds.
    offset = time.time() - time.monotonic()
    print(json.dumps({
        "pid": pid,
        "binary": binary,
        "stopped": int(props["InactiveEnterTimestampMonotonic"]) / 1e6,
        "started": int(props["ActiveEnterTimestampMonotonic"]) / 1e6,
        "installed": os.stat(binary).st_ctime - offset,
    }))


if __name__ == "__main__":
    main()
