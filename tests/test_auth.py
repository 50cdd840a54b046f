"""Bearer tokens on the management API: 401 for anything but a valid token, 403 without the scope."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings

from clients.tokens import OPERATOR, issue_token
from users.models import User

pytestmark = pytest.mark.django_db

BODY = {
    "connection": "Username-Password-Authentication",
    "email": "a@example.com",
    "password": "Str0ng!Passw0rd",
}


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": settings.AUTH_ISSUER,
        "sub": "attacker@clients",
        "aud": settings.MANAGEMENT_API_AUDIENCE,
        "iat": now,
        "exp": now + 600,
        "azp": "attacker",
        "gty": "client-credentials",
        "scope": "create:users",
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _signed(claims: dict[str, Any], key: Any = None, kid: str | None = None) -> str:
    return jwt.encode(
        claims,
        key or settings.JWT_SIGNING_KEY.private_pem,
        algorithm="RS256",
        headers={"kid": kid or settings.JWT_SIGNING_KEY.kid},
    )


def _post(api_client: Any, authorization: str | None) -> Any:
    kwargs = {"HTTP_AUTHORIZATION": authorization} if authorization is not None else {}
    return api_client.post("/api/v2/users", BODY, format="json", **kwargs)


def _assert_401(response: Any, message: str) -> None:
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    body = response.json()
    assert body["statusCode"] == 401
    assert body["error"] == "Unauthorized"
    assert body["message"] == message
    assert body["errorCode"]
    assert not User.objects.exists()


def test_missing_authorization_header_is_401(api_client, connection):
    response = _post(api_client, None)
    _assert_401(response, "Missing authentication")
    assert response.json()["errorCode"] == "missing_authentication"


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer a b", "Token abc"])
def test_malformed_authorization_header_is_401(api_client, connection, header):
    _assert_401(_post(api_client, header), "Bad HTTP authentication header format")


@pytest.mark.parametrize("garbage", ["garbage", "a.b.c", "eyJhbGciOiJSUzI1NiJ9.e30.", "ğğğ"])
def test_garbage_token_is_401(api_client, connection, garbage):
    _assert_401(_post(api_client, f"Bearer {garbage}"), "Invalid token")


def test_unsigned_alg_none_token_is_401(api_client, connection):
    header = {"alg": "none", "typ": "JWT", "kid": settings.JWT_SIGNING_KEY.kid}
    unsigned = f"{_b64(header)}.{_b64(_claims())}."
    _assert_401(_post(api_client, f"Bearer {unsigned}"), "Invalid token")


def test_hs256_token_signed_with_the_public_key_is_401(api_client, connection):
    header = {"alg": "HS256", "typ": "JWT", "kid": settings.JWT_SIGNING_KEY.kid}
    import hashlib
    import hmac

    signing_input = f"{_b64(header)}.{_b64(_claims())}"
    mac = hmac.new(settings.JWT_SIGNING_KEY.public_pem.encode(), signing_input.encode(), hashlib.sha256)
    signature = base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode()
    _assert_401(_post(api_client, f"Bearer {signing_input}.{signature}"), "Invalid token")


def test_tampered_payload_is_401(api_client, connection):
    token = _signed(_claims(scope="read:users"))
    head, _payload, signature = token.split(".")
    forged = f"{head}.{_b64(_claims(scope='create:users'))}.{signature}"
    _assert_401(_post(api_client, f"Bearer {forged}"), "Invalid token")


def test_token_signed_by_another_key_is_401(api_client, connection):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = other.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    _assert_401(_post(api_client, f"Bearer {_signed(_claims(), key=pem)}"), "Invalid token")


def test_unknown_kid_is_401(api_client, connection):
    _assert_401(_post(api_client, f"Bearer {_signed(_claims(), kid='someone-else')}"), "Invalid token")


def test_expired_token_is_401(api_client, connection):
    now = int(time.time())
    token = _signed(_claims(iat=now - 7200, exp=now - 3600))
    _assert_401(_post(api_client, f"Bearer {token}"), "Expired token received for JSON Web Token validation")


def test_token_without_exp_is_401(api_client, connection):
    _assert_401(_post(api_client, f"Bearer {_signed(_claims(exp=None))}"), "Invalid token")


def test_not_yet_valid_token_is_401(api_client, connection):
    now = int(time.time())
    _assert_401(_post(api_client, f"Bearer {_signed(_claims(nbf=now + 3600))}"), "Invalid token")


@pytest.mark.parametrize("audience", ["https://other.example.com/api/v2/", None])
def test_wrong_or_missing_audience_is_401(api_client, connection, audience):
    _assert_401(_post(api_client, f"Bearer {_signed(_claims(aud=audience))}"), "Invalid token")


def test_wrong_issuer_is_401(api_client, connection):
    _assert_401(_post(api_client, f"Bearer {_signed(_claims(iss='https://evil.example.com/'))}"), "Invalid token")


def test_issued_token_with_the_scope_creates(api_client, connection):
    response = _post(api_client, f"Bearer {issue_token(client_id='ops', scopes=['create:users'], grant_type=OPERATOR)}")
    assert response.status_code == 201, response.json()


def test_scope_is_any_of_a_space_separated_list(api_client, connection):
    token = issue_token(client_id="ops", scopes=["read:users", "create:users", "delete:users"], grant_type=OPERATOR)
    assert _post(api_client, f"Bearer {token}").status_code == 201


@pytest.mark.parametrize("scopes", [[], ["read:users"], ["create:user"], ["create:users:extra"]])
def test_token_without_create_users_scope_is_403(api_client, connection, scopes):
    response = _post(api_client, f"Bearer {issue_token(client_id='ops', scopes=scopes, grant_type=OPERATOR)}")
    assert response.status_code == 403
    assert response.json() == {
        "statusCode": 403,
        "error": "Forbidden",
        "message": "Insufficient scope, expected any of: create:users",
        "errorCode": "insufficient_scope",
        "errors": [],
    }
    assert not User.objects.exists()


def test_token_claims_follow_auth0_layout():
    token = issue_token(client_id="abc123", scopes=["create:users", "read:users"], expires_in=120)
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert header["alg"] == "RS256"
    assert header["kid"] == settings.JWT_SIGNING_KEY.kid
    assert claims["iss"].endswith("/")
    assert claims["sub"] == "abc123@clients"
    assert claims["azp"] == "abc123"
    assert claims["gty"] == "client-credentials"
    assert claims["aud"] == settings.MANAGEMENT_API_AUDIENCE
    assert claims["scope"] == "create:users read:users"
    assert claims["exp"] - claims["iat"] == 120


def test_a_100_kb_token_is_401(api_client, connection):
    huge = "a" * 100_000
    _assert_401(_post(api_client, f"Bearer {huge}.{huge}.{huge}"), "Invalid token")


def test_a_deactivated_clients_token_is_401(api_client, connection):
    from clients.services import create_client, set_client_active
    from core.actors import SYSTEM

    client, _secret = create_client(name="gone", scopes="create:users", actor=SYSTEM)
    token = issue_token(client_id=client.client_id, scopes=["create:users"])
    set_client_active(client_id=client.client_id, active=False, actor=SYSTEM)
    _assert_401(_post(api_client, f"Bearer {token}"), "Invalid token")


@pytest.mark.parametrize("name", ["exp", "iat", "nbf"])
@pytest.mark.parametrize("value", ["9999999999", "x", [1], {"a": 1}, True, 10**20, 1e308, -5])
def test_a_time_claim_that_is_no_timestamp_is_401(api_client, connection, name, value):
    claims = _claims(gty=OPERATOR)
    claims[name] = value
    _assert_401(_post(api_client, f"Bearer {_signed(claims)}"), "Invalid token")


@pytest.mark.parametrize("name", ["scope", "sub", "azp"])
@pytest.mark.parametrize("value", [["create:users"], 5, {"a": "b"}, True, "create:users\x00"])
def test_a_text_claim_that_is_no_storable_string_is_401(api_client, connection, name, value):
    claims = _claims(gty=OPERATOR)
    claims[name] = value
    _assert_401(_post(api_client, f"Bearer {_signed(claims)}"), "Invalid token")


@pytest.mark.parametrize("value", [["client-credentials"], 1, None])
def test_a_grant_type_claim_that_is_no_known_string_is_401(api_client, connection, value):
    _assert_401(_post(api_client, f"Bearer {_signed(_claims(gty=value))}"), "Invalid token")


def test_a_token_with_a_lone_surrogate_is_401(api_client, connection):
    _assert_401(_post(api_client, "Bearer abc\ud800.def.ghi"), "Invalid token")


@pytest.mark.parametrize("path", ["/api/v2/users", "/api/v2/connections", "/api/v2/logs", "/api/v2/event-streams"])
def test_head_takes_the_scopes_of_get(api_client, connection, path):
    # RFC 9110 §9.3.2: HEAD is GET without the body. No method's scopes listed HEAD, so every HEAD of a management
    # list was refused 403 "You do not have permission to perform this action." whatever the token held.
    scopes = ["read:users", "read:connections", "read:logs", "read:event_streams"]
    token = issue_token(client_id="ops", scopes=scopes, grant_type=OPERATOR)
    head = api_client.head(path, HTTP_AUTHORIZATION=f"Bearer {token}")
    get = api_client.get(path, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert (head.status_code, get.status_code) == (200, 200)
    assert head.content == b""
    assert head["Content-Type"] == get["Content-Type"]
    narrow = issue_token(client_id="ops", scopes=["create:users"], grant_type=OPERATOR)
    refused = api_client.head(path, HTTP_AUTHORIZATION=f"Bearer {narrow}")
    assert refused.status_code == 403
    assert api_client.head(path).status_code == 401


def test_options_describes_the_view_to_any_valid_token(api_client, connection):
    token = issue_token(client_id="ops", scopes=["create:users"], grant_type=OPERATOR)
    response = api_client.options("/api/v2/connections", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200, response.json()
    assert set(response.json()) >= {"name", "renders", "parses"}
    assert api_client.options("/api/v2/connections").status_code == 401
