"""The MongoDB server version mongosim reports, and what follows from it.

The version is selectable per process (``MONGOSIM_VERSION`` in the environment,
e.g. ``7.0.14``); the default is the newest series we target.
"""

import os

DEFAULT_VERSION = "8.0.4"

# maxWireVersion per release series (SEMANTICS.md section 1).
_WIRE_VERSIONS = {(6, 0): 17, (7, 0): 21, (8, 0): 25}


def server_version():
    """Return the version string this process reports, e.g. ``"8.0.4"``."""
    value = os.environ.get("MONGOSIM_VERSION", DEFAULT_VERSION)
    parts = value.split(".")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise ValueError("MONGOSIM_VERSION must look like 8.0.4, got %r" % value)
    if (int(parts[0]), int(parts[1])) not in _WIRE_VERSIONS:
        raise ValueError("MONGOSIM_VERSION %s: supported series are %s" % (
            value, ", ".join("%d.%d" % k for k in sorted(_WIRE_VERSIONS))))
    return value


def version_array(version):
    return [int(p) for p in version.split(".")] + [0]


def series(version):
    major, minor = version.split(".")[:2]
    return "%s.%s" % (major, minor)


def max_wire_version(version):
    major, minor = (int(p) for p in version.split(".")[:2])
    return _WIRE_VERSIONS[(major, minor)]
