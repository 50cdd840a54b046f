"""The public paths are Auth0's: every named route reverses to the path its SDKs call, which is also the path the
tests use (``tests.helpers``), so renaming a route in ``urls.py`` fails here before it breaks a client."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.helpers import (
    CONNECTIONS,
    SIGNUP,
    USERS,
    USERS_BY_EMAIL,
    V1_USERS,
    VERIFICATION_JOB,
    connection_url,
    user_url,
)


@pytest.mark.parametrize(
    ("name", "args", "path"),
    [
        ("users", [], USERS),
        ("user-detail", ["auth0|5f7c8ec7c33c6c004bbafe82"], user_url("auth0|5f7c8ec7c33c6c004bbafe82")),
        ("users-by-email", [], USERS_BY_EMAIL),
        ("connections", [], CONNECTIONS),
        ("connection-detail", ["con_0000000000000000"], connection_url("con_0000000000000000")),
        ("jobs-verification-email", [], VERIFICATION_JOB),
        ("jobs-users-imports", [], "/api/v2/jobs/users-imports"),
        ("logs", [], "/api/v2/logs"),
        ("signup", [], SIGNUP),
        ("email-verification", [], "/email-verification"),
        ("oauth-token", [], "/oauth/token"),
        ("jwks", [], "/.well-known/jwks.json"),
        ("v1-users", [], V1_USERS),
        ("openapi", [], "/api/v2/openapi.json"),
        ("health", [], "/health"),
    ],
)
def test_each_named_route_is_the_documented_path(name, args, path):
    assert reverse(name, args=args) == path
