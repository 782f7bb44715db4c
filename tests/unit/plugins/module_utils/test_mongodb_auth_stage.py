"""Unit tests for the authentication stage read from a member's getCmdLineOpts (mongodb_member.auth_stage_of),
the rule of tests/mongosim/SEMANTICS.md section 9.2b: transitionToAuth enforces nothing; otherwise a keyFile,
a cluster authentication mode or authorization: enabled enforce authentication."""

import pytest

from ansible_collections.quorum.mongodb.plugins.module_utils.mongodb_common import (
    LOGIN_CREDENTIALS,
    LOGIN_LOCALHOST_EXCEPTION,
    LOGIN_NO_AUTHORIZATION,
    LOGIN_REFUSED,
)
from ansible_collections.quorum.mongodb.plugins.module_utils.mongodb_member import (
    AUTH_STAGE_ENFORCED,
    AUTH_STAGE_NONE,
    AUTH_STAGE_TRANSITION,
    auth_stage_of,
)


@pytest.mark.parametrize("security, stage", [
    ({}, AUTH_STAGE_NONE),
    ({"authorization": "disabled"}, AUTH_STAGE_NONE),
    ({"authorization": "enabled", "keyFile": "/k"}, AUTH_STAGE_ENFORCED),
    # A keyFile enforces authentication even with authorization: disabled.
    ({"authorization": "disabled", "keyFile": "/k"}, AUTH_STAGE_ENFORCED),
    ({"keyFile": "/k"}, AUTH_STAGE_ENFORCED),
    ({"clusterAuthMode": "x509"}, AUTH_STAGE_ENFORCED),
    # transitionToAuth wins over authorization: enabled.
    ({"keyFile": "/k", "transitionToAuth": True}, AUTH_STAGE_TRANSITION),
    ({"keyFile": "/k", "transitionToAuth": True, "authorization": "enabled"}, AUTH_STAGE_TRANSITION),
    ({"keyFile": "/k", "transitionToAuth": False, "authorization": "enabled"}, AUTH_STAGE_ENFORCED),
])
@pytest.mark.parametrize("login", [LOGIN_CREDENTIALS, LOGIN_NO_AUTHORIZATION])
def test_stage_from_the_parsed_options(security, stage, login):
    parsed = {"net": {"port": 27017}}
    if security:
        parsed["security"] = security
    assert auth_stage_of(parsed, login) == stage


@pytest.mark.parametrize("login", [LOGIN_REFUSED, LOGIN_LOCALHOST_EXCEPTION])
def test_options_refused_mean_authentication_is_enforced(login):
    assert auth_stage_of(None, login) == AUTH_STAGE_ENFORCED


@pytest.mark.parametrize("login", [None, LOGIN_NO_AUTHORIZATION])
def test_no_options_and_no_refusal_decide_nothing(login):
    assert auth_stage_of(None, login) is None
