"""An ops script written against Auth0's official SDK runs against us by changing only the domain."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from auth0.authentication import GetToken
from auth0.authentication.exceptions import Auth0Error
from auth0.management import Auth0
from auth0.management.errors import NotFoundError, TooManyRequestsError
from django.conf import settings

from clients.services import create_client
from core.actors import SYSTEM
from tests.helpers import STRONG_PASSWORD
from tests.live import gunicorn_server

pytestmark = [pytest.mark.live]

ALL_SCOPES = (
    "create:users read:users update:users delete:users "
    "create:connections read:connections update:connections delete:connections"
)


def _management(base_url: str, client_id: str, secret: str) -> Auth0:
    token = GetToken(urlsplit(base_url).netloc, client_id, client_secret=secret, protocol="http")
    granted = token.client_credentials(settings.MANAGEMENT_API_AUDIENCE)
    assert granted["token_type"] == "Bearer"
    assert granted["expires_in"] == 86400
    return Auth0(base_url=f"{base_url}/api/v2", token=granted["access_token"], max_retries=0)


def test_ops_script_token_create_get_update_delete_and_connections(live_server_url, make_connection):
    make_connection()
    client, secret = create_client(name="ops-script", scopes=ALL_SCOPES, actor=SYSTEM)
    api = _management(live_server_url, client.client_id, secret)

    created = api.users.create(
        connection="Username-Password-Authentication",
        email="Ops.Person@Example.com",
        password=STRONG_PASSWORD,
        user_metadata={"team": "ops", "level": 1},
    )
    assert created.email == "ops.person@example.com"

    fetched = api.users.get(created.user_id)
    assert fetched.user_id == created.user_id
    assert fetched.user_metadata == {"team": "ops", "level": 1}

    updated = api.users.update(created.user_id, user_metadata={"level": 2, "team": None, "shift": "night"})
    assert updated.user_metadata == {"level": 2, "shift": "night"}

    by_email = api.users.list_users_by_email(email="OPS.PERSON@example.com")
    assert [u.user_id for u in by_email] == [created.user_id]

    api.users.delete(created.user_id)
    with pytest.raises(NotFoundError) as gone:
        api.users.get(created.user_id)
    assert gone.value.body["errorCode"] == "inexistent_user"

    connection = api.connections.create(name="Ops-Created-DB", strategy="auth0", options={"passwordPolicy": "low"})
    assert connection.id.startswith("con_")
    assert connection.name == "Ops-Created-DB"
    assert api.connections.get(connection.id).options["passwordPolicy"] == "low"


def test_wrong_secret_surfaces_as_the_sdk_error(live_server_url):
    client, _secret = create_client(name="ops-script", scopes="read:users", actor=SYSTEM)
    token = GetToken(urlsplit(live_server_url).netloc, client.client_id, client_secret="wrong", protocol="http")
    with pytest.raises(Auth0Error) as denied:
        token.client_credentials(settings.MANAGEMENT_API_AUDIENCE)
    assert denied.value.status_code == 401
    assert denied.value.error_code == "access_denied"


def test_rate_limit_surfaces_as_too_many_requests(transactional_db):
    client, secret = create_client(name="ops-script", scopes="read:users", actor=SYSTEM)
    with gunicorn_server(workers=1, env={"MANAGEMENT_API_RATE_LIMIT": "2/hour"}) as url:
        api = _management(url, client.client_id, secret)
        for _ in range(2):
            with pytest.raises(NotFoundError):
                api.users.get("auth0|000000000000000000000000")
        with pytest.raises(TooManyRequestsError) as limited:
            api.users.get("auth0|000000000000000000000000")
    assert limited.value.status_code == 429
    assert limited.value.body["errorCode"] == "too_many_requests"
    assert limited.value.headers is not None
    assert limited.value.headers["x-ratelimit-remaining"] == "0"
