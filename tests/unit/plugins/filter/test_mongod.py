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
