"""quorum.mongodb.user through ansible-playbook against an auth + keyFile mongosim set.

Each change is run in the order users run it: check mode, apply, check again
(nothing to do), apply again (nothing done). Verified against mongosim.
"""

import pytest
from pymongo.errors import OperationFailure

from conftest import wait_for

ADMIN = "admin"
ADMIN_PASSWORD = "Adm1n-integration-secret"
APP_PASSWORD = "app-first-secret-1"
APP_PASSWORD_2 = "app-second-secret-2"


@pytest.fixture
def secured(mongosim_cluster):
    """A 3-member set with authorization and a keyFile, initiated, with no user yet."""
    return mongosim_cluster(3, auth=True, keyfile=True, initiate=True)


@pytest.fixture
def with_admin(secured):
    """``secured`` with an admin user (root), created directly with pymongo."""
    primary = secured.primary()
    secured.command(primary, "createUser", ADMIN, pwd=ADMIN_PASSWORD, roles=["root"],
                    writeConcern={"w": "majority"})
    return secured


def user_task(cluster, host=None, login=True, task_name="Manage the user", **options):
    args = cluster.login_args(host or cluster.primary())
    if login:
        args.update(login_user=ADMIN, login_password=ADMIN_PASSWORD)
    args.update(options)
    return {"name": task_name, "quorum.mongodb.user": args}


def users_info(cluster, name, db):
    reply = cluster.command(cluster.primary(), "usersInfo", {"user": name, "db": db},
                            username=ADMIN, password=ADMIN_PASSWORD)
    return reply["users"][0] if reply["users"] else None


def can_login(cluster, name, password, db, host=None):
    client = cluster.client(host or cluster.primary(), username=name, password=password, auth_source=db)
    try:
        client.get_database(db).command("connectionStatus")
        return True
    except OperationFailure as exc:
        assert exc.code == 18, exc
        return False
    finally:
        client.close()


def users_info_as(cluster, name, password):
    reply = cluster.command(cluster.primary(), "usersInfo", {"user": name, "db": "admin"},
                            username=name, password=password)
    return reply["users"][0]


def exception_open(cluster, host):
    """Whether ``host`` still lets a connection without credentials through the localhost exception."""
    try:
        cluster.command(host, "replSetGetStatus")
        return True
    except OperationFailure as exc:
        assert exc.code == 13, exc
        return False


def run_four_ways(run_playbook, task, diff=False):
    """check -> apply -> check -> apply; returns the four results."""
    check = run_playbook([task], check=True, diff=diff).results[0]
    apply = run_playbook([task], diff=diff).results[0]
    check_again = run_playbook([task], check=True, diff=diff).results[0]
    apply_again = run_playbook([task], diff=diff).results[0]
    return check, apply, check_again, apply_again


# ---------------------------------------------------------------- the first admin


def test_first_admin_through_the_localhost_exception(secured, run_playbook):
    primary = secured.primary()
    task = user_task(secured, primary, task_name="Create the first admin", name=ADMIN, password=ADMIN_PASSWORD,
                     roles=["root"])

    check = run_playbook([task], check=True, diff=True).results[0]
    assert check["changed"] is True
    assert check["localhost_exception"] is True
    assert check["msg"] == "would create user admin@admin with root@admin"
    assert check["diff"]["before"] == {"user": ADMIN, "db": "admin", "exists": False, "roles": []}
    assert check["diff"]["after"] == {"user": ADMIN, "db": "admin", "exists": True,
                                      "roles": [{"role": "root", "db": "admin"}], "password": "set"}
    # check mode created nothing: the exception is still open
    assert exception_open(secured, primary)

    apply = run_playbook([task]).results[0]
    assert apply["changed"] is True
    assert apply["localhost_exception"] is True
    assert apply["password_changed"] is True
    assert apply["user"] == {"name": ADMIN, "db": "admin", "exists": True, "roles": [{"role": "root", "db": "admin"}]}
    assert apply["msg"] == "created user admin@admin with root@admin"
    assert not exception_open(secured, primary)
    assert can_login(secured, ADMIN, ADMIN_PASSWORD, "admin")
    assert users_info(secured, ADMIN, "admin")["roles"] == [{"role": "root", "db": "admin"}]
    # written with w: majority, so every member has it by the time the module returns
    for host in secured.hosts:
        assert not exception_open(secured, host)

    for result in (run_playbook([task], check=True).results[0], run_playbook([task]).results[0]):
        assert result["changed"] is False
        assert result["localhost_exception"] is False
        assert result["msg"] == "user admin@admin is up to date (root@admin)"


def test_first_admin_without_login_credentials(secured, run_playbook):
    primary = secured.primary()
    task = user_task(secured, primary, login=False, name=ADMIN, password=ADMIN_PASSWORD,
                     roles=[{"role": "userAdminAnyDatabase", "db": "admin"}, "clusterAdmin"])
    check, apply = run_playbook([task], check=True).results[0], run_playbook([task]).results[0]
    assert (check["changed"], check["localhost_exception"]) == (True, True)
    assert (apply["changed"], apply["localhost_exception"]) == (True, True)
    assert apply["user"]["roles"] == [{"role": "clusterAdmin", "db": "admin"},
                                      {"role": "userAdminAnyDatabase", "db": "admin"}]
    assert users_info_as(secured, ADMIN, ADMIN_PASSWORD)["roles"] == apply["user"]["roles"]

    # The exception is closed now: without credentials the module says what to do.
    failed = run_playbook([task], expect_failure=True).results[0]
    assert failed["failed"] is True
    assert failed["msg"] == ("%s requires authentication (users exist there, so the localhost exception is closed): "
                             "set login_user and login_password." % primary)


def test_missing_login_user_once_the_exception_is_closed(secured, run_playbook):
    """Another user exists already, so the exception is closed: the module refuses clearly, creating nothing."""
    primary = secured.primary()
    secured.command(primary, "createUser", "someone", pwd="someone-else-pw", roles=["root"])
    task = user_task(secured, primary, name=ADMIN, password=ADMIN_PASSWORD, roles=["root"])
    failed = run_playbook([task], expect_failure=True).results[0]
    assert "authenticating as admin@admin on %s failed: code 18" % primary in failed["msg"]
    assert "User admin@admin does not exist on %s and the localhost exception is closed" % primary in failed["msg"]
    assert users_info_as(secured, "someone", "someone-else-pw") is not None
    assert not can_login(secured, ADMIN, ADMIN_PASSWORD, "admin", host=primary)


# ---------------------------------------------------------------- roles and passwords


def test_user_with_roles_then_roles_change(with_admin, run_playbook):
    create = user_task(with_admin, name="app", database="shop", password=APP_PASSWORD, roles=["readWrite"])
    check, apply, check_again, apply_again = run_four_ways(run_playbook, create, diff=True)
    assert check["changed"] and check["msg"] == "would create user app@shop with readWrite@shop"
    assert apply["changed"] and apply["user"]["roles"] == [{"role": "readWrite", "db": "shop"}]
    assert apply["localhost_exception"] is False
    assert not check_again["changed"] and not apply_again["changed"]
    assert check_again["diff"]["before"] == check_again["diff"]["after"]
    assert can_login(with_admin, "app", APP_PASSWORD, "shop")

    change = user_task(with_admin, name="app", database="shop", password=APP_PASSWORD,
                       roles=["read", {"role": "read", "db": "reporting"}])
    check, apply, check_again, apply_again = run_four_ways(run_playbook, change, diff=True)
    assert check["changed"] is True
    assert check["diff"]["before"]["roles"] == [{"role": "readWrite", "db": "shop"}]
    assert check["diff"]["after"]["roles"] == [{"role": "read", "db": "reporting"}, {"role": "read", "db": "shop"}]
    assert "password" not in check["diff"]["after"]
    assert apply["changed"] is True and apply["password_changed"] is False
    assert apply["msg"] == "updated user app@shop: roles readWrite@shop -> read@reporting, read@shop"
    assert users_info(with_admin, "app", "shop")["roles"] == [{"role": "read", "db": "reporting"},
                                                              {"role": "read", "db": "shop"}]
    assert not check_again["changed"] and not apply_again["changed"]

    # roles not given: the user keeps its roles
    keep = user_task(with_admin, name="app", database="shop", password=APP_PASSWORD)
    assert run_playbook([keep]).results[0]["changed"] is False
    assert len(users_info(with_admin, "app", "shop")["roles"]) == 2


def test_update_password_on_create_and_always(with_admin, run_playbook):
    run_playbook([user_task(with_admin, name="app", database="shop", password=APP_PASSWORD, roles=["read"])])

    on_create = user_task(with_admin, name="app", database="shop", password=APP_PASSWORD_2, roles=["read"],
                          update_password="on_create")
    result = run_playbook([on_create]).results[0]
    assert result["changed"] is False and result["password_changed"] is False
    assert can_login(with_admin, "app", APP_PASSWORD, "shop")
    assert not can_login(with_admin, "app", APP_PASSWORD_2, "shop")

    same = user_task(with_admin, name="app", database="shop", password=APP_PASSWORD, roles=["read"],
                     update_password="always")
    result = run_playbook([same]).results[0]
    assert result["changed"] is False and result["password_changed"] is False

    always = user_task(with_admin, name="app", database="shop", password=APP_PASSWORD_2, roles=["read"],
                       update_password="always")
    check, apply, check_again, apply_again = run_four_ways(run_playbook, always, diff=True)
    assert check["changed"] is True and check["password_changed"] is True
    assert check["diff"]["after"]["password"] == "set"
    assert check["diff"]["before"]["roles"] == check["diff"]["after"]["roles"]
    assert apply["changed"] is True and apply["password_changed"] is True
    assert apply["msg"] == "updated user app@shop: password"
    assert not check_again["changed"] and not check_again["password_changed"]
    assert not apply_again["changed"]
    assert can_login(with_admin, "app", APP_PASSWORD_2, "shop")
    assert not can_login(with_admin, "app", APP_PASSWORD, "shop")


def test_check_mode_does_not_change_a_password(with_admin, run_playbook):
    run_playbook([user_task(with_admin, name="app", database="shop", password=APP_PASSWORD, roles=["read"])])
    always = user_task(with_admin, name="app", database="shop", password=APP_PASSWORD_2, update_password="always")
    assert run_playbook([always], check=True).results[0]["changed"] is True
    assert can_login(with_admin, "app", APP_PASSWORD, "shop")


def test_absent(with_admin, run_playbook):
    run_playbook([user_task(with_admin, name="app", database="shop", password=APP_PASSWORD, roles=["read"])])
    absent = user_task(with_admin, name="app", database="shop", state="absent")
    check = run_playbook([absent], check=True, diff=True).results[0]
    assert check["changed"] is True and check["msg"] == "would drop user app@shop"
    assert check["diff"]["after"]["exists"] is False
    assert users_info(with_admin, "app", "shop") is not None

    apply = run_playbook([absent]).results[0]
    assert apply["changed"] is True and apply["user"]["exists"] is False
    assert users_info(with_admin, "app", "shop") is None

    for result in (run_playbook([absent], check=True).results[0], run_playbook([absent]).results[0]):
        assert result["changed"] is False
        assert result["msg"] == "user app@shop does not exist"


# ---------------------------------------------------------------- errors


def test_wrong_login_password_names_the_user_and_the_member(with_admin, run_playbook):
    primary = with_admin.primary()
    task = user_task(with_admin, primary, name="app", database="shop", password=APP_PASSWORD, roles=["read"],
                     login_password="not-the-admin-password")
    failed = run_playbook([task], expect_failure=True).results[0]
    assert failed["msg"].startswith("authenticating as admin@admin on %s failed: code 18" % primary)
    assert "User admin@admin exists on %s, so login_password is wrong for it." % primary in failed["msg"]
    assert failed["member"] == primary
    assert users_info(with_admin, "app", "shop") is None


def test_on_a_secondary_fails_naming_the_primary(with_admin, run_playbook):
    primary = with_admin.primary()
    secondary = next(host for host in with_admin.hosts if host != primary)
    wait_for(lambda: with_admin.hello(secondary).get("primary") == primary, what="the secondary to know the primary")
    task = user_task(with_admin, secondary, name="app", database="shop", password=APP_PASSWORD, roles=["read"])
    failed = run_playbook([task], check=True, expect_failure=True).results[0]
    assert failed["msg"] == (
        "cannot manage user app@shop on %s: the member is a SECONDARY, and users are managed on the primary; "
        "the primary is %s according to %s. Run the task against the primary." % (secondary, primary, secondary))
    assert users_info(with_admin, "app", "shop") is None


def test_bad_roles_fail_before_connecting(run_playbook):
    task = {"name": "Bad roles", "quorum.mongodb.user": {
        "name": "app", "password": APP_PASSWORD, "roles": [{"role": "read", "database": "x"}],
        "login_host": "127.0.0.1", "login_port": 9, "connect_timeout_ms": 500}}
    failed = run_playbook([task], expect_failure=True).results[0]
    assert failed["msg"] == "roles[0] has unknown keys database; a role is a name or a dict with role and db"
