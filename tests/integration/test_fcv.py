"""quorum.mongodb.fcv, and the replicaset module's refusal of a reconfig while releases are mixed,
through ansible-playbook against mongosim sets whose members change binaries (a restart with another
MONGOSIM_VERSION on the same dbPath). Verified against mongosim."""

from conftest import wait_for

ADMIN = "admin"
ADMIN_PASSWORD = "Adm1n-fcv-secret"


def fcv_task(cluster, version, name="FCV", **options):
    args = cluster.login_args(cluster.hosts[0], login_user=ADMIN, login_password=ADMIN_PASSWORD,
                              feature_compatibility_version=version, wait_timeout=60)
    args.update(options)
    return {"name": name, "quorum.mongodb.fcv": args}


def live_fcv(cluster, host):
    return cluster.command(host, "getParameter", 1, featureCompatibilityVersion=1, username=ADMIN,
                           password=ADMIN_PASSWORD)["featureCompatibilityVersion"]


def replace_binary(cluster, member, version):
    """Stop the member, give it another binary, start it on the same dbPath, wait until it is back."""
    member.stop()
    member.version = version
    member.start()
    wait_for(lambda: cluster.command(member.host, "buildInfo")["version"] == version,
             what="%s on %s" % (member.host, version))
    cluster.wait_settled()


def psa_on_7_0(mongosim_cluster, **kwargs):
    cluster = mongosim_cluster(3, auth=True, keyfile=True, version="7.0.14", **kwargs)
    config = cluster.initiate_config()
    config["members"][2]["arbiterOnly"] = True
    cluster.command(cluster.hosts[0], "replSetInitiate", config)
    primary = cluster.wait_settled()
    cluster.command(primary, "createUser", ADMIN, pwd=ADMIN_PASSWORD, roles=["root"], writeConcern={"w": "majority"})
    return cluster


def test_fcv_waits_for_every_binary_then_moves_once(mongosim_cluster, run_playbook):
    cluster = psa_on_7_0(mongosim_cluster)
    data, arbiter = cluster.members[:2], cluster.members[2]

    # Nothing declared differs: idempotent from the start.
    same = run_playbook([fcv_task(cluster, "7.0")]).results[0]
    assert same["changed"] is False and same["command"] is None
    assert same["feature_compatibility_version"] == {"version": "7.0"}

    # 8.0 binaries on the data members only: the 7.0 arbiter would be cut off, so it is refused, by name.
    for member in data:
        replace_binary(cluster, member, "8.0.4")
    refused = run_playbook([fcv_task(cluster, "8.0")], expect_failure=True).results[0]
    assert "%s runs 7.0.14" % arbiter.host in refused["msg"]
    assert data[0].host not in refused["msg"].split("and", 1)[1].split(".")[0]
    assert "nothing was changed" in refused["msg"]
    assert live_fcv(cluster, cluster.primary()) == {"version": "7.0"}
    # An 8.0 arbiter reports its binary's last LTS; the set's FCV is read from the data members.
    replace_binary(cluster, arbiter, "8.0.4")
    assert cluster.command(arbiter.host, "getParameter", 1, featureCompatibilityVersion=1)[
        "featureCompatibilityVersion"] == {"version": "7.0"}

    check = run_playbook([fcv_task(cluster, "8.0")], check=True, diff=True).results[0]
    assert check["changed"] is True
    assert check["command"] == {"setFeatureCompatibilityVersion": "8.0", "confirm": True}
    assert check["diff"]["before"] == {"feature_compatibility_version": {"version": "7.0"}}
    assert live_fcv(cluster, cluster.primary()) == {"version": "7.0"}

    applied = run_playbook([fcv_task(cluster, "8.0")], diff=True).results[0]
    assert applied["changed"] is True
    assert applied["feature_compatibility_version"] == {"version": "8.0"}
    assert {m["host"]: m["version"] for m in applied["members"]} == {m.host: "8.0.4" for m in cluster.members}
    for member in data:
        wait_for(lambda h=member.host: live_fcv(cluster, h) == {"version": "8.0"}, what="FCV 8.0 on %s" % member.host)

    again = run_playbook([fcv_task(cluster, "8.0")], check=True).results[0]
    assert again["changed"] is False
    again = run_playbook([fcv_task(cluster, "8.0")]).results[0]
    assert again["changed"] is False and again["reason"] == "the feature compatibility version is 8.0"


def test_interrupted_change_is_reported_and_finished_or_reverted(mongosim_cluster, run_playbook):
    cluster = mongosim_cluster(1, keyfile=True, version="8.0.4", parameters={"enableTestCommands": 1})
    cluster.initiate()
    primary = cluster.primary()
    cluster.command(primary, "createUser", ADMIN, pwd=ADMIN_PASSWORD, roles=["root"])

    def fail_point(mode):
        cluster.command(primary, "configureFailPoint", "failAfterReachingTransitioningState", mode=mode,
                        username=ADMIN, password=ADMIN_PASSWORD)

    fail_point("alwaysOn")
    failed = run_playbook([fcv_task(cluster, "7.0")], expect_failure=True).results[0]
    assert failed["changed"] is True
    assert "downgrading from 8.0 to 7.0 (interrupted)" in failed["msg"]
    assert "run again" in failed["msg"]
    assert live_fcv(cluster, primary) == {"version": "7.0", "targetVersion": "7.0", "previousVersion": "8.0"}
    fail_point("off")

    check = run_playbook([fcv_task(cluster, "8.0")], check=True).results[0]
    assert check["changed"] is True
    assert check["reason"] == "revert the interrupted downgrade from 8.0 to 7.0: back up to 8.0"
    assert check["before"] == {"version": "7.0", "targetVersion": "7.0", "previousVersion": "8.0"}
    reverted = run_playbook([fcv_task(cluster, "8.0")]).results[0]
    assert reverted["changed"] is True and reverted["feature_compatibility_version"] == {"version": "8.0"}
    assert run_playbook([fcv_task(cluster, "8.0")]).results[0]["changed"] is False


def test_replicaset_refuses_a_reconfig_while_releases_are_mixed(mongosim_cluster, run_playbook):
    cluster = mongosim_cluster(3, version="7.0.14")
    cluster.initiate()
    secondary = next(m for m in cluster.members if m.host != cluster.primary())
    replace_binary(cluster, secondary, "8.0.4")

    def replicaset(priority):
        members = [{"host": h, "priority": priority if h == secondary.host else 1} for h in cluster.hosts]
        args = cluster.login_args(cluster.primary(), name="rs0", members=members,
                                  settings={"election_timeout_millis": 1500, "heartbeat_interval_millis": 300})
        return {"name": "replicaset", "quorum.mongodb.replicaset": args}

    # Nothing to change: no refusal, nothing sent.
    assert run_playbook([replicaset(1)]).results[0]["changed"] is False
    for check in (True, False):
        refused = run_playbook([replicaset(2)], check=check, expect_failure=True).results[0]
        assert "%s runs 8.0.4" % secondary.host in refused["msg"]
        assert "runs 7.0.14" in refused["msg"]
        assert "no replica-set reconfig while a version upgrade is half done" in refused["msg"]
    config = cluster.command(cluster.primary(), "replSetGetConfig")["config"]
    assert [m["priority"] for m in config["members"] if m["host"] == secondary.host] == [1]


def version_check(cluster, target, **extra):
    variables = {"mongod_port": cluster.ports[0], "mongod_python_interpreter": "{{ ansible_python_interpreter }}",
                 "mongod_target_version": target}
    variables.update(extra)
    # The role's defaults read the OS facts, as in site.yml (its preflight play gathers them).
    include = {"name": "quorum.mongodb.mongod", "tasks_from": "version_check"}
    return [{"name": "facts", "ansible.builtin.setup": {"gather_subset": ["min"]}},
            {"name": "version check", "ansible.builtin.include_role": include, "vars": variables}]


def test_version_check_stops_a_skip_before_any_binary_is_replaced(mongosim_cluster, run_playbook):
    cluster = mongosim_cluster(3, version="6.0.19")
    cluster.initiate()
    primary = cluster.primary()

    refused = run_playbook(version_check(cluster, "8.0"), expect_failure=True)
    failed = [r for r in refused.results if r.get("failed")][0]
    assert "6.0 to 8.0 skips a major release" in failed["msg"]
    assert 'install_mongodb_version: "7.0"' in failed["msg"]
    assert "No binary was replaced" in failed["msg"]
    assert "%s runs 6.0.19" % primary in failed["msg"]

    allowed = run_playbook(version_check(cluster, "7.0"))
    report = [r for r in allowed.results if "Report the members" in r.get("task", "")][0]
    order = report["msg"].split(": ", 1)[1].split(", ")
    assert sorted(order) == sorted(cluster.hosts) and order[-1] == primary
    assert allowed.changed_count == 0

    down = run_playbook(version_check(cluster, "5.0"), expect_failure=True)
    assert "supported releases are 6.0, 7.0, 8.0" in [r for r in down.results if r.get("failed")][0]["msg"]


def test_version_check_replaces_a_member_on_another_patch_release_only(mongosim_cluster, run_playbook):
    # The host the check runs on (the first member) is to get an 8.0.5 archive; the set's series stays 8.0. Only
    # that member is to be replaced: the others are members this inventory does not give an exact version.
    cluster = mongosim_cluster(3, version="8.0.4")
    cluster.initiate()
    here = cluster.hosts[0]

    def order(target):
        report = [r for r in run_playbook(version_check(cluster, target)).results
                  if "Report the members" in r.get("task", "")][0]["msg"]
        return report.split(": ", 1)[1].split(", ") if ": " in report else report

    assert order("8.0.5") == [here]
    assert order("8.0.4") == "Every member runs 8.0.4 already."
    assert order("8.0") == "Every member runs 8.0 already."


def test_version_check_lets_a_set_with_a_member_down_be_re_run(mongosim_cluster, run_playbook):
    # A member is down (its VM lost, say) and the operator re-runs site.yml, or removes that member: no binary is
    # to be replaced, so its health is no reason to refuse. A binary change still is refused while it is down.
    cluster = mongosim_cluster(3, version="8.0.4")
    cluster.initiate()
    dead = [h for h in cluster.hosts[1:] if h != cluster.primary()][0]
    cluster.kill(int(dead.rsplit(":", 1)[1]))
    wait_for(lambda: [m for m in cluster.command(cluster.primary(), "replSetGetStatus")["members"]
                      if m["name"] == dead and m["health"] == 0], what="the primary to see %s down" % dead)

    rerun = run_playbook(version_check(cluster, "8.0"))
    report = [r for r in rerun.results if "Report the members" in r.get("task", "")][0]["msg"]
    assert "Every member that answers runs 8.0 already" in report
    assert "did not answer: %s " % dead in report
    assert rerun.changed_count == 0

    refused = run_playbook(version_check(cluster, "8.0.5"), expect_failure=True)
    failed = [r for r in refused.results if r.get("failed")][0]["msg"]
    assert "%s did not answer" % dead in failed and "No binary was replaced" in failed
    assert "%s runs an unknown version" % dead in failed
