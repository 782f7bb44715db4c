"""quorum.mongodb.member's auth_stage through ansible-playbook against a mongosim set moved, member by member,
along the manual's path to authentication (no keyFile, keyFile with transitionToAuth, keyFile enforced;
tests/mongosim/SEMANTICS.md section 9.2b), with and without the admin's credentials, under a w:majority writer
that must lose no acknowledged write. Verified against mongosim."""

import os

from conftest import wait_for

ADMIN = "admin"
ADMIN_PASSWORD = "Adm1n-stage-secret"
KEY = "c3RhZ2VrZXlzdGFnZWtleXN0YWdla2V5"


def stage_tasks(cluster, credentials):
    tasks = []
    for host in cluster.hosts:
        args = cluster.login_args(host, auth_stage=True)
        if credentials:
            args.update(login_user=ADMIN, login_password=ADMIN_PASSWORD)
        tasks.append({"name": "stage of %s" % host, "quorum.mongodb.member": args})
    return tasks


def stages(run_playbook, cluster, credentials=True, check=False):
    run = run_playbook(stage_tasks(cluster, credentials), check=check)
    assert run.changed_count == 0
    return [result["auth_stage"] for result in run.results]


def roll(cluster, keyfile, transition):
    """Restart every member, one at a time (the primary last), with the given security settings."""
    primary = cluster.primary()
    order = [m for m in cluster.members if m.host != primary] + [m for m in cluster.members if m.host == primary]
    for member in order:
        cluster.keyfile = keyfile
        cluster.extra_conf = {"security": {"transitionToAuth": True}} if transition else {}
        member.restart()
        wait_for(lambda: len(cluster.hosts_up()) == len(cluster.hosts), what="every member up")
        cluster_settled(cluster)


def cluster_settled(cluster):
    # hello needs no credentials at any stage.
    cluster.wait_settled(timeout=120.0)


def test_stage_read_at_every_step_of_the_path(mongosim_cluster, run_playbook, majority_writer, tmp_path):
    cluster = mongosim_cluster(3, initiate=True)
    keyfile = tmp_path / "keyfile"
    keyfile.write_text(KEY + "\n")
    os.chmod(keyfile, 0o400)
    writer = majority_writer(cluster)
    writer.wait_for_acknowledged(20)

    assert stages(run_playbook, cluster) == ["none"] * 3
    assert stages(run_playbook, cluster, check=True) == ["none"] * 3

    roll(cluster, str(keyfile), transition=True)
    writer.wait_for_acknowledged(20)
    # The admin does not exist yet: the credentials do not log in, nothing asks for them.
    assert stages(run_playbook, cluster) == ["transition"] * 3
    cluster.command(cluster.primary(), "createUser", ADMIN, pwd=ADMIN_PASSWORD, roles=["root"],
                    writeConcern={"w": "majority"})
    assert stages(run_playbook, cluster) == ["transition"] * 3
    assert stages(run_playbook, cluster, credentials=False) == ["transition"] * 3

    # One member enforced, the others in transition: each is told apart, with or without credentials.
    odd = next(member for member in cluster.members if member.host != cluster.primary())
    cluster.keyfile = str(keyfile)
    cluster.extra_conf = {}
    odd.restart()
    cluster_settled(cluster)
    expected = ["enforced" if host == odd.host else "transition" for host in cluster.hosts]
    assert stages(run_playbook, cluster) == expected
    assert stages(run_playbook, cluster, credentials=False) == expected
    writer.wait_for_acknowledged(20)
    writer.stop()
    writer.assert_no_acknowledged_write_lost()
