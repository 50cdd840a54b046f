"""Clients and ``POST /oauth/token``: client credentials in, an Auth0-shaped RS256 token out."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from io import StringIO
from urllib.parse import urlencode

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from django.conf import settings
from django.core.management import CommandError, call_command
from django.utils import timezone

from clients.models import Client
from clients.services import create_client, rotate_client_secret, set_client_active
from core.actors import SYSTEM
from tests.helpers import STRONG_PASSWORD

pytestmark = pytest.mark.django_db

AUDIENCE = "http://localhost:8000/api/v2/"


@pytest.fixture
def client_and_secret():
    return create_client(name="ops", scopes="create:users read:users", actor=SYSTEM)


def _grant(api_client, client, secret, **extra):
    body = {
        "grant_type": "client_credentials",
        "client_id": client.client_id,
        "client_secret": secret,
        "audience": settings.MANAGEMENT_API_AUDIENCE,
        **extra,
    }
    return api_client.post("/oauth/token", body, format="json")


def test_create_client_command_prints_the_secret_once_and_stores_only_a_hash():
    out = StringIO()
    call_command("create_client", "Ops", "--scopes", "create:users read:users", stdout=out)
    printed = json.loads(out.getvalue())
    assert set(printed) == {"client_id", "client_secret", "audience", "token_endpoint"}
    assert len(printed["client_id"]) == 32 and printed["client_id"].isalnum()
    assert printed["audience"] == settings.MANAGEMENT_API_AUDIENCE
    assert printed["token_endpoint"] == f"{settings.PUBLIC_BASE_URL}/oauth/token"
    client = Client.objects.get(pk=printed["client_id"])
    assert client.scopes == ["create:users", "read:users"]
    assert printed["client_secret"] not in client.secret_hash
    assert client.secret_hash.startswith("$2b$")


def test_create_client_command_refuses_unknown_scopes_and_connections(connection):
    with pytest.raises(CommandError, match="Unknown scopes: fly:away"):
        call_command("create_client", "X", "--scopes", "create:users fly:away", stdout=StringIO())
    with pytest.raises(CommandError, match="Unknown connections: nope"):
        call_command("create_client", "X", "--scopes", "create:users", "--connections", "nope", stdout=StringIO())
    out = StringIO()
    call_command("create_client", "X", "--scopes", "create:users", "--connections", connection.name, stdout=out)
    client = Client.objects.get(pk=json.loads(out.getvalue())["client_id"])
    assert list(client.connections.all()) == [connection]


def test_client_credentials_grant_returns_an_auth0_shaped_token(api_client, client_and_secret):
    client, secret = client_and_secret
    response = _grant(api_client, client, secret, organization=None)
    assert response.status_code == 200, response.json()
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 86400
    assert body["scope"] == "create:users read:users"
    header = jwt.get_unverified_header(body["access_token"])
    assert header["alg"] == "RS256"
    assert header["kid"] == settings.JWT_SIGNING_KEY.kid
    claims = jwt.decode(
        body["access_token"],
        settings.JWT_SIGNING_KEY.public_pem,
        algorithms=["RS256"],
        audience=settings.MANAGEMENT_API_AUDIENCE,
    )
    assert claims["iss"] == settings.AUTH_ISSUER and claims["iss"].endswith("/")
    assert claims["sub"] == f"{client.client_id}@clients"
    assert claims["azp"] == client.client_id
    assert claims["gty"] == "client-credentials"
    assert claims["scope"] == "create:users read:users"
    assert claims["exp"] - claims["iat"] == 86400


def test_form_body_and_http_basic_credentials_work(api_client, client_and_secret):
    client, secret = client_and_secret
    form = api_client.post(
        "/oauth/token",
        urlencode({"grant_type": "client_credentials", "client_id": client.client_id, "client_secret": secret}),
        content_type="application/x-www-form-urlencoded",
    )
    assert form.status_code == 200, form.json()
    basic = base64.b64encode(f"{client.client_id}:{secret}".encode()).decode()
    response = api_client.post(
        "/oauth/token",
        {"grant_type": "client_credentials", "audience": settings.MANAGEMENT_API_AUDIENCE},
        format="json",
        HTTP_AUTHORIZATION=f"Basic {basic}",
    )
    assert response.status_code == 200, response.json()


def test_requested_scope_narrows_the_grant(api_client, client_and_secret):
    client, secret = client_and_secret
    body = _grant(api_client, client, secret, scope="read:users delete:users").json()
    assert body["scope"] == "read:users"
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["scope"] == "read:users"


def test_token_from_the_endpoint_creates_users(api_client, client_and_secret, connection):
    client, secret = client_and_secret
    token = _grant(api_client, client, secret).json()["access_token"]
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    response = api_client.post(
        "/api/v2/users",
        {"connection": connection.name, "email": "m2m@example.com", "password": STRONG_PASSWORD},
        format="json",
    )
    assert response.status_code == 201


@pytest.mark.parametrize(
    ("change", "status", "error", "description"),
    [
        ({"client_secret": "wrong"}, 401, "access_denied", "Unauthorized"),
        ({"client_id": "x" * 32}, 401, "access_denied", "Unauthorized"),
        (
            {"audience": "https://other.example/api/v2/"},
            403,
            "access_denied",
            "Service not enabled within domain: https://other.example/api/v2/",
        ),
        (
            {"grant_type": "authorization_code"},
            400,
            "unsupported_grant_type",
            "Unsupported grant type: authorization_code",
        ),
        ({"grant_type": None}, 400, "invalid_request", "Missing required parameter: grant_type"),
        ({"client_id": None}, 400, "invalid_request", "Missing required parameter: client_id"),
        ({"client_secret": None}, 400, "invalid_request", "Missing required parameter: client_secret"),
        ({"client_secret": 5}, 400, "invalid_request", "Parameter client_secret must be a string."),
        ({"organization": "org_123"}, 400, "invalid_request", "Organizations are not supported."),
    ],
)
def test_token_errors_use_the_oauth_shape(api_client, client_and_secret, change, status, error, description):
    client, secret = client_and_secret
    body = {
        "grant_type": "client_credentials",
        "client_id": client.client_id,
        "client_secret": secret,
        "audience": settings.MANAGEMENT_API_AUDIENCE,
    }
    body.update(change)
    body = {k: v for k, v in body.items() if v is not None}
    response = api_client.post("/oauth/token", body, format="json")
    assert response.status_code == status
    assert response.json() == {"error": error, "error_description": description}


def test_malformed_token_requests_are_400_in_the_oauth_shape(api_client):
    bad_json = api_client.post("/oauth/token", data="{", content_type="application/json")
    assert bad_json.status_code == 400
    assert bad_json.json()["error"] == "invalid_request"
    array = api_client.post("/oauth/token", data="[]", content_type="application/json")
    assert array.status_code == 400
    basic = api_client.post(
        "/oauth/token", {"grant_type": "client_credentials"}, format="json", HTTP_AUTHORIZATION="Basic !!!"
    )
    assert basic.status_code == 400 and basic.json()["error"] == "invalid_request"


PASSWORD_REALM = "http://auth0.com/oauth/grant-type/password-realm"


def _oauth_body(client, secret, **change):
    body = {
        "grant_type": PASSWORD_REALM,
        "client_id": client.client_id,
        "client_secret": secret,
        "audience": settings.MANAGEMENT_API_AUDIENCE,
        "realm": "Username-Password-Authentication",
        "username": "jane@example.com",
        "password": STRONG_PASSWORD,
        "scope": "openid",
    }
    body.update(change)
    return body


@pytest.mark.parametrize(
    "name", ["grant_type", "client_id", "client_secret", "audience", "realm", "username", "password", "scope"]
)
@pytest.mark.parametrize(("text", "reason"), [("a\ud800", "lone surrogate"), ("a\x00", "NUL")])
def test_unstorable_text_in_any_parameter_is_400_invalid_request(api_client, client_and_secret, name, text, reason):
    client, secret = client_and_secret
    body = json.dumps(_oauth_body(client, secret, **{name: text}))  # the JSON escapes carry the bad character
    response = api_client.generic("POST", "/oauth/token", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert f"parameter {name}:" in response.json()["error_description"]
    assert reason in response.json()["error_description"]
    assert set(response.json()) == {"error", "error_description"}


def test_unstorable_parameter_names_and_form_values_are_400_invalid_request(api_client, client_and_secret):
    client, secret = client_and_secret
    for body, content_type in (
        (json.dumps({**_oauth_body(client, secret), "\ud800": "x"}), "application/json"),
        (urlencode(_oauth_body(client, secret, username="jane\x00")), "application/x-www-form-urlencoded"),
        (urlencode(_oauth_body(client, secret)) + "&%00=1", "application/x-www-form-urlencoded"),
    ):
        response = api_client.generic("POST", "/oauth/token", body, content_type=content_type)
        assert response.status_code == 400, body
        assert response.json()["error"] == "invalid_request"


@pytest.mark.parametrize(
    "credentials",
    [
        "Basic " + base64.b64encode(b"id\x00:secret").decode(),
        "Basic " + base64.b64encode(b"id:sec\x00ret").decode(),
        "Basic " + base64.b64encode(b"id%00:secret").decode(),  # form-urlencoded NUL
        "Basic " + base64.b64encode(b"id:\xed\xa0\x80").decode(),  # a surrogate encoded as UTF-8
        "Basic \u00e9t\u00e9",  # not base64: a header decoded as Latin-1
        "Basic \ud800",
    ],
)
def test_unstorable_or_malformed_basic_credentials_are_400_invalid_request(api_client, credentials):
    response = api_client.post(
        "/oauth/token", {"grant_type": "client_credentials"}, format="json", HTTP_AUTHORIZATION=credentials
    )
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_request", "error_description": "Malformed HTTP Basic credentials."}


def _basic(client_id, secret):
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


@pytest.mark.parametrize("body", [{"client_secret": "x"}, {"client_id": "another-client"}, {"client_secret": ""}])
def test_basic_and_body_credentials_together_are_400_invalid_request(api_client, client_and_secret, body):
    """RFC 6749 §2.3.1: "The client MUST NOT use more than one authentication method in each request"."""
    client, secret = client_and_secret
    response = api_client.post(
        "/oauth/token",
        {"grant_type": "client_credentials", **body},
        format="json",
        HTTP_AUTHORIZATION=_basic(client.client_id, secret),
    )
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_request",
        "error_description": "The client must authenticate with one method only: HTTP Basic or the body, not both.",
    }


def test_basic_credentials_with_the_same_client_id_in_the_body_work(api_client, client_and_secret):
    client, secret = client_and_secret
    response = api_client.post(
        "/oauth/token",
        {"grant_type": "client_credentials", "client_id": client.client_id},
        format="json",
        HTTP_AUTHORIZATION=_basic(client.client_id, secret),
    )
    assert response.status_code == 200


def _grant_from(api_client, client_id, secret, ip):
    body = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    return api_client.post("/oauth/token", body, format="json", REMOTE_ADDR=ip)


def test_failed_client_authentications_are_limited_per_ip(api_client, client_and_secret, settings):
    settings.CLIENT_AUTH_FAILURES_PER_IP = "2/hour"
    client, secret = client_and_secret
    assert _grant_from(api_client, "x" * 32, "wrong", "192.0.2.1").status_code == 401
    assert _grant_from(api_client, client.client_id, "wrong", "192.0.2.1").status_code == 401
    # Past the budget even the right secret is refused: the limit is checked before bcrypt runs.
    blocked = _grant_from(api_client, client.client_id, secret, "192.0.2.1")
    assert blocked.status_code == 429
    assert blocked.json() == {
        "error": "too_many_attempts",
        "error_description": "Too many failed client authentications. Try again later.",
    }
    assert int(blocked["Retry-After"]) > 0
    assert blocked["Cache-Control"] == "no-store"
    assert _grant_from(api_client, client.client_id, secret, "192.0.2.2").status_code == 200


def test_failed_client_authentications_are_limited_per_client_id(api_client, client_and_secret, settings):
    settings.CLIENT_AUTH_FAILURES_PER_CLIENT = "2/hour"
    client, secret = client_and_secret
    for ip in ("192.0.2.1", "192.0.2.2"):
        assert _grant_from(api_client, client.client_id, "wrong", ip).status_code == 401
    blocked = _grant_from(api_client, client.client_id, secret, "192.0.2.3")
    assert blocked.status_code == 429
    assert blocked.json()["error"] == "too_many_attempts"
    other = create_client(name="other", scopes="read:users", actor=SYSTEM)
    assert _grant_from(api_client, other[0].client_id, other[1], "192.0.2.3").status_code == 200


def test_a_success_resets_the_client_ids_budget(api_client, client_and_secret, settings):
    settings.CLIENT_AUTH_FAILURES_PER_CLIENT = "2/hour"
    client, secret = client_and_secret
    _grant_from(api_client, client.client_id, "wrong", "192.0.2.1")
    assert _grant_from(api_client, client.client_id, secret, "192.0.2.1").status_code == 200
    assert _grant_from(api_client, client.client_id, "wrong", "192.0.2.1").status_code == 401
    assert _grant_from(api_client, client.client_id, secret, "192.0.2.1").status_code == 200


def test_the_password_grant_counts_failed_client_authentications_too(api_client, client_and_secret, settings):
    settings.CLIENT_AUTH_FAILURES_PER_IP = "1/hour"
    client, secret = client_and_secret
    response = api_client.post("/oauth/token", _oauth_body(client, "wrong"), format="json")
    assert response.status_code == 401
    response = api_client.post("/oauth/token", _oauth_body(client, secret), format="json")
    assert response.status_code == 429


def test_client_without_scopes_gets_no_token(api_client):
    client, secret = create_client(name="none", scopes="", actor=SYSTEM)
    response = _grant(api_client, client, secret)
    assert response.status_code == 403
    assert response.json()["error"] == "access_denied"


def test_deactivated_client_gets_no_token_and_its_tokens_are_refused(api_client, client_and_secret, connection):
    client, secret = client_and_secret
    token = _grant(api_client, client, secret).json()["access_token"]
    set_client_active(client_id=client.client_id, active=False, actor=SYSTEM)

    assert _grant(api_client, client, secret).status_code == 401
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    response = api_client.post("/api/v2/users", {"connection": connection.name}, format="json")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")

    set_client_active(client_id=client.client_id, active=True, actor=SYSTEM)
    assert api_client.post("/api/v2/users", {"connection": connection.name}, format="json").status_code == 400


def test_rotating_the_secret_retires_the_old_secret_and_its_tokens(api_client, client_and_secret, connection):
    client, secret = client_and_secret
    token = _grant(api_client, client, secret).json()["access_token"]
    out = StringIO()
    call_command("rotate_client_secret", client.client_id, stdout=out)
    new_secret = out.getvalue().strip()

    assert _grant(api_client, client, secret).status_code == 401
    assert _grant(api_client, client, new_secret).status_code == 200
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert api_client.post("/api/v2/users", {"connection": connection.name}, format="json").status_code == 401


def _creates(api_client, token, connection):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return api_client.post("/api/v2/users", {"connection": connection.name}, format="json").status_code != 401


def test_rotation_revokes_a_token_whatever_the_clocks_say(api_client, client_and_secret, connection):
    """A token minted in the rotation's second, or by a host whose clock is ahead, is revoked all the same."""
    client, secret = client_and_secret
    token = _grant(api_client, client, secret).json()["access_token"]
    assert _creates(api_client, token, connection)
    rotate_client_secret(client_id=client.client_id, actor=SYSTEM)
    # As if the rotation happened before the token was minted (a clock behind): the generation still differs.
    Client.objects.filter(pk=client.client_id).update(secret_rotated_at=timezone.now() - timedelta(hours=1))
    assert not _creates(api_client, token, connection)


def test_each_rotation_raises_the_generation_and_new_tokens_carry_it(api_client, client_and_secret, connection):
    client, _secret = client_and_secret
    for expected in (1, 2):
        secret = rotate_client_secret(client_id=client.client_id, actor=SYSTEM)
        assert Client.objects.get(pk=client.client_id).token_generation == expected
        token = _grant(api_client, client, secret).json()["access_token"]
        assert jwt.decode(token, options={"verify_signature": False})["gen"] == expected
        assert _creates(api_client, token, connection)


def _legacy_token(client, issued_at):
    """A client's token as minted before tokens carried ``gen``."""
    claims = {
        "iss": settings.AUTH_ISSUER,
        "sub": f"{client.client_id}@clients",
        "aud": settings.MANAGEMENT_API_AUDIENCE,
        "iat": int(issued_at),
        "exp": int(issued_at) + 600,
        "azp": client.client_id,
        "gty": "client-credentials",
        "scope": "create:users",
    }
    return jwt.encode(
        claims, settings.JWT_SIGNING_KEY.private_pem, algorithm="RS256", headers={"kid": settings.JWT_SIGNING_KEY.kid}
    )


def test_a_token_from_before_generations_is_honoured_until_the_next_rotation(api_client, client_and_secret, connection):
    client, _secret = client_and_secret
    Client.objects.filter(pk=client.client_id).update(secret_rotated_at=timezone.now() - timedelta(hours=1))
    token = _legacy_token(client, timezone.now().timestamp())
    assert _creates(api_client, token, connection)
    rotate_client_secret(client_id=client.client_id, actor=SYSTEM)
    Client.objects.filter(pk=client.client_id).update(secret_rotated_at=timezone.now() - timedelta(hours=1))
    assert not _creates(api_client, token, connection)


def test_a_token_from_before_generations_minted_in_the_rotations_second_is_refused(
    api_client, client_and_secret, connection
):
    client, _secret = client_and_secret
    rotated = timezone.now().replace(microsecond=500_000)
    Client.objects.filter(pk=client.client_id).update(secret_rotated_at=rotated)
    assert not _creates(api_client, _legacy_token(client, rotated.timestamp()), connection)  # iat 0.5 s earlier


def test_commands_refuse_unknown_client_ids():
    with pytest.raises(CommandError):
        call_command("rotate_client_secret", "nope", stdout=StringIO())
    with pytest.raises(CommandError):
        call_command("deactivate_client", "nope", stdout=StringIO())


def test_deactivate_command(client_and_secret):
    client, _secret = client_and_secret
    call_command("deactivate_client", client.client_id, stdout=StringIO())
    assert not Client.objects.get(pk=client.client_id).is_active
    call_command("deactivate_client", client.client_id, "--activate", stdout=StringIO())
    assert Client.objects.get(pk=client.client_id).is_active


def test_rotate_service_returns_a_new_working_secret(client_and_secret):
    client, secret = client_and_secret
    new = rotate_client_secret(client_id=client.client_id, actor=SYSTEM)
    assert new != secret


def test_jwks_publishes_the_signing_key(api_client):
    response = api_client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    (key,) = response.json()["keys"]
    assert key["kid"] == settings.JWT_SIGNING_KEY.kid
    assert key["kty"] == "RSA" and key["alg"] == "RS256" and key["use"] == "sig"
    public = jwt.algorithms.RSAAlgorithm.from_jwk(json.dumps(key))
    assert isinstance(public, RSAPublicKey)  # the JWKS never publishes the private half
    from clients.tokens import issue_token

    token = issue_token(client_id="x", scopes=["read:users"])
    assert jwt.decode(token, public, algorithms=["RS256"], audience=AUDIENCE)["azp"] == "x"


# attack2: RFC 6749 §3.2 "Request and response parameters MUST NOT be included more than once" and §5.2
# (invalid_request: "includes a parameter more than once"); the form's last client_id is used instead.
def test_a_repeated_parameter_is_400_invalid_request(api_client, client_and_secret):
    client, secret = client_and_secret
    body = f"grant_type=client_credentials&client_id=someone-else&client_id={client.client_id}&client_secret={secret}"
    response = api_client.generic("POST", "/oauth/token", body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


# attack2: a lone surrogate or other invalid UTF-8 sent percent-encoded (in a form value, or in HTTP Basic, whose
# parts are form-urlencoded) is silently decoded to U+FFFD and checked as a secret, instead of 400.
@pytest.mark.parametrize("where", ["form", "basic"])
def test_percent_encoded_invalid_utf8_is_400_invalid_request(api_client, client_and_secret, where):
    client, _secret = client_and_secret
    if where == "form":
        body = f"grant_type=client_credentials&client_id={client.client_id}&client_secret=%ED%A0%80"
        response = api_client.generic("POST", "/oauth/token", body, content_type="application/x-www-form-urlencoded")
    else:
        credentials = base64.b64encode(f"{client.client_id}:%ED%A0%80".encode()).decode()
        response = api_client.post(
            "/oauth/token",
            {"grant_type": "client_credentials"},
            format="json",
            HTTP_AUTHORIZATION=f"Basic {credentials}",
        )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
