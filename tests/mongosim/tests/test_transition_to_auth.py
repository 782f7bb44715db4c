"""Authentication turned on in a running set (SEMANTICS.md section 9.2b): the manual's path, no keyFile,
then keyFile with transitionToAuth, then the keyFile enforced, each member restarted one at a time, keeps
the set replicating at every step; skipping the middle stage splits it."""

import pytest
from pymongo.errors import OperationFailure
from pymongo.write_concern import WriteConcern

from conftest import FAST, direct, error_of, make_keyfile, primary_of, run_mongosim, wait_for

TRANSITION = {"security": {"transitionToAuth": True}}


def _primary(cluster, **credentials):
    return primary_of(cluster.hosts, **credentials)


def _whole(cluster, **credentials):
    """Every member, asked itself, sees every member healthy in PRIMARY or SECONDARY."""
    def check(host):
        members = direct(host, **credentials).admin.command("replSetGetStatus")["members"]
        return len(members) == len(cluster.hosts) and all(
            m["health"] == 1.0 and m["state"] in (1, 2) for m in members)
    for host in cluster.hosts:
        wait_for(lambda h=host: check(h), what="every member healthy as %s sees it" % host)


def _replicated_write(cluster, n, **credentials):
    """A write every member acknowledges (w: 3): the members replicate from each other."""
    def write():
        host = _primary(cluster, **credentials)
        coll = direct(host, **credentials).test.get_collection(
            "t", write_concern=WriteConcern(w=len(cluster.hosts), wtimeout=20000))
        coll.insert_one({"n": n})
        return True
    wait_for(write, what="write %d acknowledged by every member" % n)


def _code_of(action):
    """The server's error code for ``action``, None when it succeeds."""
    try:
        action()
    except OperationFailure as exc:
        return exc.code
    return None


def _roll(cluster, keyfile, transition, check):
    """Restart every member, one at a time, with the given security settings; check after each."""
    for index, member in enumerate(cluster.members):
        cluster.keyfile = keyfile
        cluster.extra_conf = TRANSITION if transition else {}
        member.restart()
        check(index)


def test_noauth_to_keyfile_through_transition_keeps_replicating(make_cluster, tmp_path):
    keyfile = make_keyfile(tmp_path / "keyfile")
    cluster = make_cluster(3)
    direct(cluster.hosts[0]).admin.command("replSetInitiate", cluster.initiate_config(**FAST))
    _whole(cluster)
    _replicated_write(cluster, 0)

    # Stage 1: keyFile and transitionToAuth, member by member. Mixed with members without a keyFile, the
    # set stays whole and replicates; unauthenticated clients still get in.
    def stage1(index):
        _whole(cluster)
        _replicated_write(cluster, 10 + index)
        restarted = direct(cluster.hosts[index])
        parsed = restarted.admin.command("getCmdLineOpts")["parsed"]["security"]
        assert parsed == {"keyFile": keyfile, "transitionToAuth": True}
    _roll(cluster, keyfile, True, stage1)

    # The admin is created without credentials (nothing is enforced), and logs in on every member.
    direct(_primary(cluster)).admin.command("createUser", "admin", pwd="pw", roles=["root"])
    admin = {"username": "admin", "password": "pw"}
    for host in cluster.hosts:
        wait_for(lambda h=host: direct(h, **admin).admin.command("connectionStatus")["authInfo"][
            "authenticatedUsers"] == [{"user": "admin", "db": "admin"}],
            what="the admin to log in on %s" % host)

    # Stage 2: the keyFile enforced, member by member. Mixed with members in transition, the set replicates;
    # the restarted member refuses unauthenticated commands, the others do not yet.
    def stage2(index):
        _whole(cluster, **admin)
        _replicated_write(cluster, 20 + index, **admin)
        for other, host in enumerate(cluster.hosts):
            code = _code_of(lambda h=host: direct(h).admin.command("replSetGetStatus"))
            assert code == (13 if other <= index else None), (host, code)
    _roll(cluster, keyfile, False, stage2)

    client = direct(_primary(cluster, **admin), **admin)
    assert client.test.t.count_documents({}) == 7


def test_enforcing_member_and_member_without_keyfile_do_not_replicate(make_cluster, tmp_path):
    """Skipping the transition: a member restarted straight into an enforced keyFile cannot talk to the
    members that have none, in either direction."""
    keyfile = make_keyfile(tmp_path / "keyfile")
    cluster = make_cluster(3)
    direct(cluster.hosts[0]).admin.command("replSetInitiate", cluster.initiate_config(**FAST))
    _whole(cluster)
    primary = _primary(cluster)
    direct(primary).admin.command("createUser", "admin", pwd="pw", roles=["root"])
    odd = next(member for member in cluster.members if member.host != primary)
    cluster.keyfile = keyfile
    cluster.extra_conf = {}
    odd.restart()
    cluster.keyfile = None

    def unhealthy_both_ways():
        seen_by_primary = next(m for m in direct(primary).admin.command("replSetGetStatus")["members"]
                               if m["name"] == odd.host)
        seen_by_odd = [m for m in direct(odd.host, username="admin", password="pw").admin.command(
            "replSetGetStatus")["members"] if m["name"] != odd.host]
        return seen_by_primary["health"] == 0.0 and all(m["health"] == 0.0 for m in seen_by_odd)
    wait_for(unhealthy_both_ways, what="the enforcing member and the others to see each other down")


def test_transition_to_auth_needs_a_keyfile(tmp_path):
    result = run_mongosim(["--dbpath", str(tmp_path), "--replSet", "rs0", "--transitionToAuth"])
    assert result.returncode == 2
    assert "BadValue: --transitionToAuth must be used with keyFile or x509 authentication" in result.stderr


@pytest.mark.parametrize("authorization", ["disabled", "enabled"])
def test_keyfile_without_transition_enforces_whatever_authorization_says(make_cluster, tmp_path, authorization):
    keyfile = make_keyfile(tmp_path / "keyfile")
    cluster = make_cluster(1, repl_set=None, keyfile=keyfile,
                           extra_conf={"security": {"authorization": authorization}})
    direct(cluster.hosts[0]).admin.command("createUser", "admin", pwd="pw", roles=["root"])
    code, _msg = error_of(lambda: direct(cluster.hosts[0]).admin.command("usersInfo"))
    assert code == 13
