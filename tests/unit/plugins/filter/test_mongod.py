"""Unit tests for plugins/filter/mongod.py (mongod.conf and keyFile checks)."""

import pytest
from ansible.errors import AnsibleFilterError

# ---------------------------------------------------------------- mongod_conf


def test_unset_values_and_empty_sections_are_dropped(mongod_filters):
    settings = {
        "net": {"port": 27017, "bindIp": None, "tls": {"mode": None, "CAFile": None}},
        "security": {"keyFile": None},
        "setParameter": {},
        "storage": {"dbPath": "/var/lib/mongodb", "directoryPerDB": False},
    }
    assert mongod_filters.mongod_conf(settings) == {
        "net": {"port": 27017},
        "storage": {"dbPath": "/var/lib/mongodb", "directoryPerDB": False},
    }


def test_false_zero_and_empty_string_lists_are_kept(mongod_filters):
    conf = mongod_filters.mongod_conf({"a": {"b": 0, "c": False, "d": []}})
    assert conf == {"a": {"b": 0, "c": False, "d": []}}


def test_extra_merges_recursively_and_wins(mongod_filters):
    settings = {"net": {"port": 27017, "bindIp": "localhost"}, "storage": {"dbPath": "/d"}}
    extra = {"net": {"port": 27018, "maxIncomingConnections": 500},
             "operationProfiling": {"mode": "slowOp"}}
    assert mongod_filters.mongod_conf(settings, extra) == {
        "net": {"port": 27018, "bindIp": "localhost", "maxIncomingConnections": 500},
        "storage": {"dbPath": "/d"},
        "operationProfiling": {"mode": "slowOp"},
    }


def test_null_in_extra_removes_a_key(mongod_filters):
    settings = {"processManagement": {"timeZoneInfo": "/usr/share/zoneinfo"}, "net": {"port": 1}}
    assert mongod_filters.mongod_conf(settings, {"processManagement": {"timeZoneInfo": None}}) == {"net": {"port": 1}}


def test_extra_replaces_a_scalar_with_a_section(mongod_filters):
    conf = mongod_filters.mongod_conf({"a": 1}, {"a": {"b": 2}})
    assert conf == {"a": {"b": 2}}


def test_inputs_are_not_modified(mongod_filters):
    settings = {"net": {"port": 1, "x": None}}
    extra = {"net": {"y": 2}}
    mongod_filters.mongod_conf(settings, extra)
    assert settings == {"net": {"port": 1, "x": None}} and extra == {"net": {"y": 2}}


@pytest.mark.parametrize("bad", [[1], "net: {}", 3])
def test_extra_must_be_a_dict(mongod_filters, bad):
    with pytest.raises(AnsibleFilterError, match="mongod_config_extra must be a dictionary"):
        mongod_filters.mongod_conf({}, bad)


# ---------------------------------------------------------------- mongod_conf_problems


@pytest.mark.parametrize("conf,version,fragment", [
    ({"storage": {"journal": {"enabled": True}}}, "7.0", "storage.journal.enabled"),
    ({"storage": {"journal": {"enabled": True}}}, "8.0.4", "storage.journal.enabled"),
    ({"net": {"serviceExecutor": "adaptive"}}, "5.0", "net.serviceExecutor"),
    ({"storage": {"mmapv1": {"smallFiles": True}}}, "6.0", "storage.mmapv1"),
    ({"storage": {"indexBuildRetry": False}}, "4.4", "storage.indexBuildRetry"),
    ({"security": {"enableLocalhostAuthBypass": False}}, "4.0", "security.enableLocalhostAuthBypass"),
    ({"security": {"authSchemaVersion": 5}}, "8.0", "security.authSchemaVersion"),
    ({"replication": {"enableMajorityReadConcern": False}}, "5.0", "enableMajorityReadConcern"),
    ({"net": {"bindIp": "localhost", "bindIpAll": True}}, "8.0", "net.bindIp and net.bindIpAll"),
    ({"processManagement": {"fork": True}}, "8.0", "processManagement.fork"),
    ({"replication": {"oplogSizeMB": 0}}, "8.0", "oplogSizeMB"),
    ({"replication": {"oplogSizeMB": "big"}}, "8.0", "oplogSizeMB"),
])
def test_refused_options_are_reported(mongod_filters, conf, version, fragment):
    found = mongod_filters.mongod_conf_problems(conf, version)
    assert len(found) == 1 and fragment in found[0], found


@pytest.mark.parametrize("conf,version", [
    ({"storage": {"journal": {"enabled": True}}}, "6.0"),  # removed in 6.1 only
    ({"storage": {"journal": {"commitIntervalMs": 100}}}, "8.0"),
    ({"net": {"serviceExecutor": "adaptive"}}, "4.4"),
    ({"replication": {"enableMajorityReadConcern": True, "oplogSizeMB": 1024}}, "8.0"),
    ({"net": {"bindIpAll": True}}, "8.0"),
    ({"net": {"bindIp": "localhost", "bindIpAll": False}}, "8.0"),
    ({"processManagement": {"fork": False, "timeZoneInfo": "/usr/share/zoneinfo"}}, "8.0"),
    ({"setParameter": {"enableLocalhostAuthBypass": False}}, "8.0"),
])
def test_accepted_options_are_not_reported(mongod_filters, conf, version):
    assert mongod_filters.mongod_conf_problems(conf, version) == []


def test_problem_names_the_variable_to_fix(mongod_filters):
    found = mongod_filters.mongod_conf_problems({"storage": {"journal": {"enabled": True}}}, "8.0", variable="x_extra")
    assert "x_extra" in found[0]


@pytest.mark.parametrize("version", ["", "latest", None, "8"])
def test_unreadable_version_is_an_error(mongod_filters, version):
    with pytest.raises(AnsibleFilterError, match="release series"):
        mongod_filters.mongod_conf_problems({}, version)


# ---------------------------------------------------------------- keyfile


GOOD_KEY = "c2VjcmV0LWtleS1mb3ItdGVzdHM=" * 10


def test_good_keys_pass(mongod_filters):
    assert mongod_filters.mongod_keyfile_problems(GOOD_KEY) == []
    assert mongod_filters.mongod_keyfile_problems("abc\n def\t") == []  # whitespace is stripped: 6 chars
    assert mongod_filters.mongod_keyfile_problems([GOOD_KEY, "Zm9vYmFy"]) == []
    assert mongod_filters.mongod_keyfile_problems("A" * 1024) == []


@pytest.mark.parametrize("content,fragment", [
    ("", "is empty"),
    ("   \n", "is empty"),
    (None, "is empty"),
    ([], "empty list"),
    ("abc", "3 characters long"),
    ("A" * 1025, "1025 characters long"),
    ("not-base64-key!", "base64 alphabet"),
    ([GOOD_KEY, "x"], "[1] is 1 characters long"),
    ([GOOD_KEY, 12345678], "[1] must be a string"),
])
def test_bad_keys_are_reported_without_the_key(mongod_filters, content, fragment):
    found = mongod_filters.mongod_keyfile_problems(content)
    assert found and fragment in " ".join(found)
    if isinstance(content, str) and content.strip():
        assert all(content not in message for message in found)


def test_keyfile_problem_names_the_variable(mongod_filters):
    assert "vault_key" in mongod_filters.mongod_keyfile_problems("x", variable="vault_key")[0]


def test_more_than_two_keys_are_refused_as_mongod_does(mongod_filters):
    found = mongod_filters.mongod_keyfile_problems([GOOD_KEY, "Zm9vYmFy", "YmFyYmF6"])
    assert len(found) == 1 and "holds 3 keys" in found[0] and "more than two" in found[0]


# ---------------------------------------------------------------- keyFile rotation stages

OLD, NEW, OTHER = "b2xka2V5b2xka2V5", "bmV3a2V5bmV3a2V5", "b3RoZXJrZXlvdGhl"


def _file(*keys):
    return keys[0] if len(keys) == 1 else "".join("- %s\n" % key for key in keys)


@pytest.mark.parametrize("text, keys", [
    (OLD, [OLD]),
    (OLD + "\n", [OLD]),
    ("  b2xk\n  a2V5  \n", ["b2xka2V5"]),
    ("- %s\n- %s\n" % (OLD, NEW), [OLD, NEW]),
    ("['%s', \"%s\"]" % (OLD, NEW), [OLD, NEW]),
    (None, []),
    ("", []),
])
def test_keyfile_keys_as_mongod_reads_them(mongod_filters, text, keys):
    assert mongod_filters.mongod_keyfile_keys(text) == keys


def test_a_new_set_or_the_same_key_needs_no_stage(mongod_filters):
    assert mongod_filters.mongod_keyfile_stage({"a": None, "b": None}, NEW)["stage"] == "none"
    assert mongod_filters.mongod_keyfile_stage({"a": NEW, "b": NEW + "\n"}, NEW)["stage"] == "none"


def test_a_new_key_is_staged_with_the_old_one_first(mongod_filters):
    plan = mongod_filters.mongod_keyfile_stage({"a": OLD, "b": OLD, "c": OLD}, NEW)
    assert plan == {"stage": "both", "keys": [OLD, NEW], "problem": None}


def test_an_interrupted_first_stage_is_finished_then_the_second(mongod_filters):
    mixed = {"a": _file(OLD, NEW), "b": OLD, "c": OLD}
    assert mongod_filters.mongod_keyfile_stage(mixed, NEW)["keys"] == [OLD, NEW]
    done = {"a": _file(OLD, NEW), "b": _file(OLD, NEW), "c": _file(OLD, NEW)}
    assert mongod_filters.mongod_keyfile_stage(done, NEW) == {"stage": "final", "keys": None, "problem": None}
    second = {"a": NEW, "b": _file(OLD, NEW), "c": _file(OLD, NEW)}
    assert mongod_filters.mongod_keyfile_stage(second, NEW)["stage"] == "final"


def test_a_target_changed_mid_rotation_keeps_the_key_all_share(mongod_filters):
    plan = mongod_filters.mongod_keyfile_stage({"a": _file(OLD, NEW), "b": OLD}, OTHER)
    assert plan["keys"] == [OLD, OTHER]
    plan = mongod_filters.mongod_keyfile_stage({"a": _file(OLD, NEW), "b": NEW}, OTHER)
    assert plan["keys"] == [NEW, OTHER]


def test_a_two_key_target_sharing_a_running_key_is_one_roll(mongod_filters):
    assert mongod_filters.mongod_keyfile_stage({"a": OLD, "b": OLD}, [OLD, NEW])["stage"] == "final"


def test_members_that_share_no_key_are_refused_without_the_keys(mongod_filters):
    plan = mongod_filters.mongod_keyfile_stage({"a": OLD, "b": OTHER}, NEW)
    assert plan["stage"] == "none" and "share no key" in plan["problem"]
    assert all(key not in plan["problem"] for key in (OLD, OTHER, NEW))


def _authenticates(sender, receiver):
    """mongod's rule, modelled independently: the sender's first key, then (after a refusal) its second."""
    return any(key in receiver for key in sender[:2])


def _run(mongod_filters, running, target, order, stop_after=None):
    """Passes of the role over ``running`` (host -> keys), each member restarted in ``order``; every pair of
    members must authenticate each other both ways after every restart. Stops after ``stop_after`` restarts."""
    restarts = 0
    for _pass in range(3):
        plan = mongod_filters.mongod_keyfile_stage(dict((h, _file(*k)) for h, k in running.items()), target)
        assert plan["problem"] is None
        if plan["stage"] == "none":
            return running, restarts
        wanted = plan["keys"] or [target]
        for host in order:
            if running[host] == wanted:
                continue
            running = dict(running, **{host: wanted})
            restarts += 1
            for a in running:
                for b in running:
                    assert _authenticates(running[a], running[b]), (running, a, b)
            if stop_after is not None and restarts >= stop_after:
                return running, restarts
    raise AssertionError("not finished in two passes")


@pytest.mark.parametrize("stop_after", [None, 1, 2, 3, 4, 5])
def test_every_roll_and_every_resumed_roll_keeps_the_members_authenticated(mongod_filters, stop_after):
    start = {"a": [OLD], "b": [OLD], "c": [OLD]}
    running, restarts = _run(mongod_filters, start, NEW, ["b", "c", "a"], stop_after)
    if stop_after is None:
        assert running == {"a": [NEW], "b": [NEW], "c": [NEW]} and restarts == 6
    # The next run (another restart order: another primary) finishes from whatever the hosts run.
    finished, _more = _run(mongod_filters, running, NEW, ["a", "c", "b"])
    assert finished == {"a": [NEW], "b": [NEW], "c": [NEW]}
    assert mongod_filters.mongod_keyfile_stage(dict((h, NEW) for h in finished), NEW)["stage"] == "none"


# ---------------------------------------------------------------- outdated files


def test_unit_properties_are_parsed(mongod_filters):
    text = ("LoadState=loaded\nActiveState=active\nExecStart={ path=/usr/bin/mongod ; argv[]=/usr/bin/mongod "
            "--config /etc/mongod.conf ; }\nDropInPaths=\nnot a property\n")
    props = mongod_filters.mongod_unit_properties(text)
    assert props["LoadState"] == "loaded" and props["ActiveState"] == "active"
    assert props["ExecStart"].startswith("{ path=/usr/bin/mongod ; argv[]=")
    assert props["DropInPaths"] == ""
    assert "not a property" not in props


STARTED = "Tue 2026-11-24 08:00:00 UTC"
START_EPOCH = 1795507200  # 2026-11-24T08:00:00Z


def test_files_newer_than_the_process_are_reported(mongod_filters):
    ctimes = {"/etc/mongod.conf": START_EPOCH + 1, "/usr/bin/mongod": START_EPOCH - 3600,
              "/etc/mongodb/key file": START_EPOCH + 90}
    assert mongod_filters.mongod_files_changed_since(ctimes, STARTED) == ["/etc/mongod.conf", "/etc/mongodb/key file"]


def test_a_file_changed_in_the_start_second_is_not_reported(mongod_filters):
    assert mongod_filters.mongod_files_changed_since({"/etc/mongod.conf": START_EPOCH}, STARTED) == []


@pytest.mark.parametrize("started", ["", "n/a", "Tue 2026-11-24 08:00:00 CET", None])
def test_unreadable_start_time_reports_nothing(mongod_filters, started):
    assert mongod_filters.mongod_files_changed_since({"/etc/mongod.conf": START_EPOCH + 99}, started) == []


def test_timestamp_without_weekday_and_missing_paths(mongod_filters):
    ctimes = {"/missing": None, "/a": START_EPOCH + 5, "/flag": True}
    assert mongod_filters.mongod_files_changed_since(ctimes, "2026-11-24 08:00:00 UTC") == ["/a"]
    assert mongod_filters.mongod_files_changed_since(None, STARTED) == []
