"""Bad module parameters against a live set: refused before anything is sent, the set's config unchanged.

The rule book's full corpus is unit-tested (tests/unit/plugins/module_utils/test_replicaset_rules.py); these
entries run through ansible-playbook as users run the module, against a live mongosim set, and check that
the set's config (version and members) is the same afterwards. Verified against mongosim, not a real mongod.
"""

from test_replicaset import live_config, task

# (what, module options that break a rule, words of the message, option the message must name)
BAD = [
    ("a space before the port", {"members": "SPACE"}, "contains a space", "host"),
    ("a negative heartbeat timeout and a zero election timeout",
     {"settings": {"heartbeat_timeout_secs": -1, "election_timeout_millis": 0}},
     "settings.heartbeat_timeout_secs must be at least 1", "settings.election_timeout_millis"),
    ("an unacknowledged default write concern", {"default_write_concern": {"w": 0, "wtimeout": -1}},
     "default_write_concern.w must be at least 1", "default_write_concern.wtimeout"),
    ("wait_timeout zero", {"wait_timeout": 0}, "wait_timeout must be from 1 to 2147483", "wait_timeout"),
    ("step_down_secs zero", {"step_down_secs": 0}, "step_down_secs must be at least 1", "step_down_secs"),
]


def test_bad_parameters_change_nothing_on_a_live_set(mongosim_cluster, run_playbook):
    cluster = mongosim_cluster(3, initiate=True)
    before = live_config(cluster)
    members = [{"host": h} for h in cluster.hosts]
    for what, given, words, option in BAD:
        options = dict(given)
        declared = members
        if options.pop("members", None) == "SPACE":
            host, port = cluster.hosts[2].rsplit(":", 1)
            declared = members[:2] + [{"host": "%s :%s" % (host, port)}]
        bad = task(cluster, declared)
        bad["quorum.mongodb.replicaset"].update(options)
        failed = run_playbook([bad], expect_failure=True).results[0]
        assert words in failed["msg"], "%s: %s" % (what, failed["msg"])
        assert option in failed["msg"], "%s: %s" % (what, failed["msg"])
        assert failed["steps"] == [], what
        after = live_config(cluster)
        assert after["version"] == before["version"], "%s: the config changed" % what
        assert [m["host"] for m in after["members"]] == [m["host"] for m in before["members"]], what
