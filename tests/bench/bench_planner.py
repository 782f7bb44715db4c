"""Benchmark of the reconfiguration planner (pure code, no server; run with scripts/bench).

Prints each planning time next to a baseline measured in the same run: validating the same
declaration (replicaset_config.desired_members), the work every module run does anyway.
Never asserts on time.
"""

import pathlib
import statistics
import sys
import time
import tracemalloc

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "build" / "collections"))

from ansible_collections.quorum.mongodb.plugins.module_utils.replicaset_config import (  # noqa: E402
    desired_members,
)
from ansible_collections.quorum.mongodb.plugins.module_utils.replicaset_plan import plan  # noqa: E402

REPEATS = 20


def live(specs):
    return {"_id": "rs0", "version": 3, "members": [dict({"_id": i, "host": "h%d:27017" % i}, **spec)
                                                    for i, spec in enumerate(specs)]}


CASES = [
    ("3 -> 50 members, 7 voters", live([{}] * 3),
     [{"host": "h%d" % i, "votes": 1 if i < 7 else 0} for i in range(50)]),
    ("7 voters swapped for 7 others", live([{}] * 7),
     [{"host": "h%d" % i} for i in range(7, 14)]),
    ("arbiter and hidden voter out, a data member in", live([{}, {}, {}, {"hidden": True, "priority": 0},
                                                             {"arbiterOnly": True}]),
     [{"host": "h0"}, {"host": "h1"}, {"host": "h2"}, {"host": "h5"}]),
    ("50 members, no-op", live([{"votes": 1 if i < 7 else 0, "priority": 1 if i < 7 else 0} for i in range(50)]),
     [{"host": "h%d" % i, "votes": 1 if i < 7 else 0} for i in range(50)]),
]


def timed(function):
    timings = []
    for _round in range(REPEATS):
        started = time.perf_counter()
        result = function()
        timings.append(time.perf_counter() - started)
    return result, timings


def main():
    print("planner (pure Python, this machine; median of %d, min-max):" % REPEATS)
    for name, config, declared in CASES:
        wanted, baseline = timed(lambda declared=declared: desired_members(declared))
        steps, timings = timed(lambda config=config, wanted=wanted: plan(config, wanted, {}, "h0:27017"))
        tracemalloc.start()
        plan(config, wanted, {}, "h0:27017")
        _current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        reconfigs = len([s for s in steps if s["action"] == "reconfig"])
        print("  %-48s %6.2f ms (%.2f-%.2f), %4.1fx validating it (%.2f ms), %d reconfig(s), peak %d KiB"
              % (name, statistics.median(timings) * 1000, min(timings) * 1000, max(timings) * 1000,
                 statistics.median(timings) / statistics.median(baseline), statistics.median(baseline) * 1000,
                 reconfigs, peak // 1024))


def completeness():
    """The exhaustive comparison with the brute force over the larger universe (minutes, not in make test)."""
    sys.path.insert(0, str(ROOT / "tests" / "unit" / "plugins" / "module_utils"))
    import test_replicaset_plan_completeness as universe  # noqa: PLC0415 (needs the path above)

    started = time.perf_counter()
    pairs, mismatches = universe.check_universe("large")
    print("completeness, %d slots x %d kinds: %d pairs in %.0f s, %d differ from the brute force"
          % (universe.UNIVERSES["large"][0], len(universe.UNIVERSES["large"][1]), pairs,
             time.perf_counter() - started, len(mismatches)))
    for row in mismatches[:10]:
        print("  live %s (primary m%d, wc set %s) -> %s: planner %s, shortest %s" % row[:6])


if __name__ == "__main__":
    main()
    completeness()
