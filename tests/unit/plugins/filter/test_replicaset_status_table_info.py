"""replicaset_status_table renders quorum.mongodb.replicaset_info's result as the module returns it."""


def test_status_table_of_a_replicaset_info_result(replicaset_filters):
    status = {
        "changed": False,
        "set_name": "rs0",
        "primary": "db1:27017",
        "healthy": False,
        "members": [
            {"name": "db1:27017", "id": 0, "state": "PRIMARY", "health": 1, "lag": 0, "votes": 1, "priority": 2,
             "self": True, "ping_ms": None, "tags": {"dc": "a"}},
            {"name": "db2:27017", "id": 1, "state": "(not reachable/healthy)", "health": 0, "lag": None,
             "votes": 1, "priority": 1, "self": False, "ping_ms": 3, "tags": {"dc": "a"}},
            {"name": "db3:27017", "id": 2, "state": "ARBITER", "health": 1, "lag": None, "votes": 1,
             "priority": 0, "self": False, "ping_ms": 1, "tags": {}},
        ],
        "fault_tolerance": {
            "overall": 1, "voting_members": 3, "majority": 2, "reachable_voting_members": 2,
            "majority_available": True, "current": 0,
            "per_tag": {"dc": {"a": {"remaining_votes": 1, "majority_kept": False}}},
        },
    }
    lines = replicaset_filters.replicaset_status_table(status)
    assert lines[1].split() == ["db1:27017", "PRIMARY", "up", "0", "1", "2"]
    assert lines[2].split() == ["db2:27017", "(not", "reachable/healthy)", "down", "-", "1", "1"]
    assert lines[3].split() == ["db3:27017", "ARBITER", "up", "-", "1", "0"]
    assert lines[4:] == [
        "primary: db1:27017",
        "fault tolerance: 1 voting member(s) can fail with a primary still elected",
        "fault tolerance now: 0 more voting member(s) can fail (2 of 3 voting members reachable)",
        "fault tolerance by dc: a=1 votes remain (majority lost)",
    ]


def test_each_tag_lists_its_values_sorted(replicaset_filters):
    per_tag = {"rack": {"r2": {"remaining_votes": 1, "majority_kept": False}},
               "dc": {"c": {"remaining_votes": 2, "majority_kept": True},
                      "b": {"remaining_votes": 3, "majority_kept": True}}}
    lines = replicaset_filters.replicaset_status_table({"members": [], "fault_tolerance": {"overall": 2,
                                                                                           "per_tag": per_tag}})
    assert lines[-2:] == ["fault tolerance by dc: b=3 votes remain (majority kept), c=2 votes remain (majority kept)",
                          "fault tolerance by rack: r2=1 votes remain (majority lost)"]


def test_keys_replicaset_info_does_not_return_are_not_read(replicaset_filters):
    # rs.status()'s own spelling (stateStr) is not replicaset_info's: the table reads only the module's keys.
    lines = replicaset_filters.replicaset_status_table({"members": [{"name": "db1:27017", "stateStr": "PRIMARY"}]})
    assert lines[1].split() == ["db1:27017", "-", "-", "-", "-", "-"]
