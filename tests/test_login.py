"""The password check (``users.credentials.login.log_in``) and Auth0's password grants on ``POST /oauth/token``."""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit

import bcrypt
import jwt
import pytest
from auth0.authentication import GetToken
from auth0.authentication.exceptions import Auth0Error
from django.conf import settings
from django.contrib.auth.hashers import PBKDF2PasswordHasher

from audit.models import Event, EventType
from clients.services import create_client
from core.actors import SYSTEM, Actor
from core.hashing import bcrypt_verify as verify_password
from tests.helpers import STRONG_PASSWORD, password_hash_of
from users.credentials import login
from users.credentials.login import log_in
from users.credentials.passwords import is_current_bcrypt
from users.errors import UserBlocked, WrongCredentials
from users.models import User
from users.services import create_user, delete_user, update_user

pytestmark = pytest.mark.django_db

ACTOR = Actor(kind="client", id="login-test", ip="192.0.2.1")
PASSWORD_REALM = "http://auth0.com/oauth/grant-type/password-realm"
IMPORTED_PASSWORD = "imported-Passw0rd!"


def _user(email: str = "jane@example.com") -> User:
    return create_user(
        data={"connection": "Username-Password-Authentication", "email": email, "password": STRONG_PASSWORD},
        actor=SYSTEM,
    )


def _md5_custom(password: str = IMPORTED_PASSWORD) -> dict:
    salt = "pepper"
    return {
        "algorithm": "md5",
        "hash": {"value": hashlib.md5((salt + password).encode()).hexdigest(), "encoding": "hex"},  # noqa: S324
        "salt": {"value": salt, "encoding": "utf8", "position": "prefix"},
        "password": {"encoding": "utf8"},
    }


def _imported(user: User, *, password_hash: str | None = None, custom: dict | None = None) -> User:
    User.objects.filter(pk=user.pk).update(password_hash=password_hash, custom_password_hash=custom)
    return User.objects.select_related("connection").get(pk=user.pk)


def _log_in(user: User, password: str) -> bool:
    """Whether ``user`` logs in with ``password`` through the real check (``log_in``, by e-mail)."""
    assert user.email is not None
    try:
        log_in(connection=user.connection, username=user.email, password=password, actor=ACTOR)
    except (WrongCredentials, UserBlocked):
        return False
    return True


def _meanwhile(monkeypatch, change) -> None:
    """Run ``change`` (another request's write) after ``log_in`` verified the password and before it writes."""
    verify = login.verify_stored_password

    def verify_then_change(password, **stored):
        verified = verify(password, **stored)
        change()
        return verified

    monkeypatch.setattr(login, "verify_stored_password", verify_then_change)


# --- the password check -------------------------------------------------------------------------------------


def test_check_replaces_a_custom_hash_with_bcrypt_at_the_configured_cost(connection):
    user = _imported(_user(), custom=_md5_custom())
    assert _log_in(user, IMPORTED_PASSWORD) is True
    stored = User.objects.get(pk=user.pk)
    assert stored.custom_password_hash is None
    assert is_current_bcrypt(stored.password_hash)
    assert password_hash_of(stored).startswith(f"$2b${settings.BCRYPT_ROUNDS:02d}$")
    assert verify_password(IMPORTED_PASSWORD, password_hash_of(stored))
    event = Event.objects.get(type=EventType.SUCCESS_LOGIN)
    assert event.user_id == user.user_id and event.details == {"rehashed": True}
    assert event.actor_id == "login-test" and event.ip == "192.0.2.1"


def test_check_replaces_a_django_hash_and_a_bcrypt_hash_of_another_cost(connection):
    django_user = _imported(_user("a@example.com"), password_hash=PBKDF2PasswordHasher().encode("s3cret!", "salty"))
    assert _log_in(django_user, "s3cret!")
    assert is_current_bcrypt(User.objects.get(pk=django_user.pk).password_hash)

    other_cost = bcrypt.hashpw(b"s3cret!", bcrypt.gensalt(rounds=settings.BCRYPT_ROUNDS + 1)).decode()
    bcrypt_user = _imported(_user("b@example.com"), password_hash=other_cost)
    assert _log_in(bcrypt_user, "s3cret!")
    rehashed = User.objects.get(pk=bcrypt_user.pk).password_hash
    assert rehashed != other_cost and is_current_bcrypt(rehashed)


def test_check_leaves_a_current_bcrypt_hash_alone(connection):
    user = _user()
    before = user.password_hash
    assert _log_in(user, STRONG_PASSWORD)
    assert User.objects.get(pk=user.pk).password_hash == before
    assert Event.objects.get(type=EventType.SUCCESS_LOGIN).details == {"rehashed": False}


def test_failed_check_changes_nothing_and_records_fp(connection):
    custom = _md5_custom()
    user = _imported(_user(), custom=custom)
    assert _log_in(user, "wrong-password") is False
    stored = User.objects.get(pk=user.pk)
    assert stored.custom_password_hash == custom and stored.password_hash is None
    event = Event.objects.get(type=EventType.FAILED_LOGIN_INCORRECT_PASSWORD)
    assert event.user_id == user.user_id
    assert not Event.objects.filter(type=EventType.SUCCESS_LOGIN).exists()


def test_rehash_loses_to_a_concurrent_password_change(connection, monkeypatch):
    stale = _imported(_user(), custom=_md5_custom())
    # Another request changes the password after this one read the row and before it writes.
    _meanwhile(
        monkeypatch, lambda: update_user(user_id=stale.user_id, data={"password": "N3w!Passw0rd-2"}, actor=SYSTEM)
    )
    assert _log_in(stale, IMPORTED_PASSWORD) is True
    stored = User.objects.get(pk=stale.pk)
    assert verify_password("N3w!Passw0rd-2", password_hash_of(stored))
    assert not verify_password(IMPORTED_PASSWORD, password_hash_of(stored))
    assert Event.objects.get(type=EventType.SUCCESS_LOGIN).details == {"rehashed": False}


def test_rehash_compares_the_stored_custom_hash_too(connection, monkeypatch):
    stale = _imported(_user(), custom=_md5_custom())
    newer = _md5_custom("another-Passw0rd")
    # an upsert import meanwhile
    _meanwhile(monkeypatch, lambda: User.objects.filter(pk=stale.pk).update(custom_password_hash=newer))
    assert _log_in(stale, IMPORTED_PASSWORD)
    assert User.objects.get(pk=stale.pk).custom_password_hash == newer


def test_blocked_user_and_user_without_hash_fail(connection):
    blocked = _user("blocked@example.com")
    User.objects.filter(pk=blocked.pk).update(blocked=True)
    blocked.refresh_from_db()
    assert _log_in(blocked, STRONG_PASSWORD) is False
    assert Event.objects.filter(type=EventType.FAILED_LOGIN, user_id=blocked.user_id).exists()

    no_hash = _imported(_user("nohash@example.com"))
    assert _log_in(no_hash, STRONG_PASSWORD) is False
    assert not Event.objects.filter(type=EventType.SUCCESS_LOGIN).exists()


def test_a_password_over_72_bytes_costs_one_bcrypt_check_whether_the_user_exists_or_not(connection, monkeypatch):
    """A known user's wrong password over bcrypt's 72 bytes used to be refused without hashing, an unknown user's
    after one check: about 5 ms against 65 ms at cost 10, measured at POST /oauth/token, which told anyone who has
    an account. Both cost one check."""
    _user("known@example.com")
    checks: list[bytes] = []
    real_checkpw = bcrypt.checkpw

    def counting_checkpw(password: bytes, hashed: bytes) -> bool:
        checks.append(password)
        return real_checkpw(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", counting_checkpw)
    for username in ("known@example.com", "unknown@example.com"):
        checks.clear()
        with pytest.raises(WrongCredentials):
            log_in(connection=connection, username=username, password="x" * 100, actor=ACTOR)
        assert len(checks) == 1, username


def test_plaintext_is_never_recorded(connection):
    user = _imported(_user(), custom=_md5_custom())
    _log_in(user, "wrong-guess-xyz")
    _log_in(user, IMPORTED_PASSWORD)
    for event in Event.objects.all():
        text = f"{event.description} {event.details}"
        assert IMPORTED_PASSWORD not in text and "wrong-guess-xyz" not in text


# --- POST /oauth/token, password grants ---------------------------------------------------------------------


@pytest.fixture
def app(connection):
    return create_client(
        name="app", scopes="read:users", connections=["Username-Password-Authentication"], actor=SYSTEM
    )


@pytest.fixture
def default_directory(settings):
    settings.DEFAULT_DIRECTORY = "Username-Password-Authentication"


def _login(api_client, app, username="jane@example.com", password=STRONG_PASSWORD, **extra):
    client, secret = app
    body = {"client_id": client.client_id, "client_secret": secret, "username": username, "password": password}
    body.setdefault("grant_type", PASSWORD_REALM)
    body.update(extra)
    if body["grant_type"] == PASSWORD_REALM:
        body.setdefault("realm", "Username-Password-Authentication")
    body = {key: value for key, value in body.items() if value is not None}
    return api_client.post("/oauth/token", body, format="json", REMOTE_ADDR=extra.pop("ip", "192.0.2.10"))


def _claims(token: str, audience: str) -> dict:
    return jwt.decode(
        token, settings.JWT_SIGNING_KEY.public_pem, algorithms=["RS256"], audience=audience, issuer=settings.AUTH_ISSUER
    )


def test_password_realm_grant_issues_a_user_token(api_client, app):
    user = _user()
    response = _login(api_client, app, username="Jane@Example.com", scope="openid profile email")
    assert response.status_code == 200, response.json()
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}
    assert body["token_type"] == "Bearer" and body["expires_in"] == settings.ACCESS_TOKEN_LIFETIME_SECONDS
    assert body["scope"] == "openid profile email"
    claims = _claims(body["access_token"], f"{settings.AUTH_ISSUER}userinfo")
    assert claims["sub"] == user.user_id
    assert claims["gty"] == "password"
    assert claims["azp"] == app[0].client_id
    assert jwt.get_unverified_header(body["access_token"])["alg"] == "RS256"


def test_password_grant_uses_the_default_directory(api_client, app, default_directory):
    _user()
    response = _login(api_client, app, grant_type="password", scope=None)
    assert response.status_code == 200, response.json()
    assert response.json()["scope"] == "openid"


def test_password_grant_without_realm_or_default_directory_is_auth0s_server_error(api_client, app, settings):
    settings.DEFAULT_DIRECTORY = ""
    _user()
    response = _login(api_client, app, grant_type="password")
    assert response.status_code == 500
    assert response.json() == {
        "error": "server_error",
        "error_description": "Authorization server not configured with default connection.",
    }


def test_scope_is_limited_to_openid_scopes(api_client, app):
    _user()
    response = _login(
        api_client, app, scope="openid email offline_access create:users read:users delete:users update:users"
    )
    assert response.status_code == 200
    assert response.json()["scope"] == "openid email"
    claims = _claims(response.json()["access_token"], f"{settings.AUTH_ISSUER}userinfo")
    assert claims["scope"] == "openid email"


def test_login_by_username(api_client, app, make_connection):
    app[0].connections.add(make_connection(name="with-usernames", requires_username=True))
    create_user(
        data={
            "connection": "with-usernames",
            "email": "u@example.com",
            "username": "Jane_D",
            "password": STRONG_PASSWORD,
        },
        actor=SYSTEM,
    )
    response = _login(api_client, app, username="jane_d", realm="with-usernames")
    assert response.status_code == 200, response.json()


def test_wrong_password_and_unknown_user_get_the_same_answer(api_client, app):
    _user()
    for username, password in (("jane@example.com", "Wrong!Passw0rd"), ("nobody@example.com", STRONG_PASSWORD)):
        response = _login(api_client, app, username=username, password=password)
        assert response.status_code == 403
        assert response.json() == {"error": "invalid_grant", "error_description": "Wrong email or password."}
    assert Event.objects.filter(type=EventType.FAILED_LOGIN_INCORRECT_PASSWORD).count() == 1
    unknown = Event.objects.get(type=EventType.FAILED_LOGIN_INVALID_USERNAME)
    assert unknown.user_name == "nobody@example.com" and unknown.connection == "Username-Password-Authentication"


def test_blocked_user_is_told_only_with_the_right_password(api_client, app):
    user = _user()
    User.objects.filter(pk=user.pk).update(blocked=True)
    response = _login(api_client, app)
    assert response.status_code == 401
    assert response.json() == {"error": "unauthorized", "error_description": "user is blocked"}
    assert _login(api_client, app, password="Wrong!Passw0rd").status_code == 403


@pytest.mark.parametrize("blocked", [False, True])
def test_a_user_deleted_during_the_login_is_a_wrong_password_not_a_500(api_client, app, monkeypatch, blocked):
    """Deleted after the password was checked (with its connection, say, whose deletion holds its users' rows until
    it commits): counting the login found no row, and reading it back raised ``User.DoesNotExist``, a 500."""
    user = _user()
    User.objects.filter(pk=user.pk).update(blocked=blocked)
    _meanwhile(monkeypatch, lambda: delete_user(user_id=user.user_id, actor=SYSTEM))
    response = _login(api_client, app)
    assert response.status_code == 403
    assert response.json() == {"error": "invalid_grant", "error_description": "Wrong email or password."}
    assert not Event.objects.filter(type=EventType.SUCCESS_LOGIN).exists()


def test_imported_hash_logs_in_and_is_upgraded_through_the_endpoint(api_client, app):
    user = _imported(_user(), custom=_md5_custom())
    assert _login(api_client, app, password=IMPORTED_PASSWORD).status_code == 200
    stored = User.objects.get(pk=user.pk)
    assert stored.custom_password_hash is None and is_current_bcrypt(stored.password_hash)
    assert _login(api_client, app, password=IMPORTED_PASSWORD).status_code == 200


def test_client_must_authenticate_and_have_the_connection_enabled(api_client, app, make_connection):
    _user()
    client, _secret = app
    assert _login(api_client, (client, "wrong-secret")).json() == {
        "error": "access_denied",
        "error_description": "Unauthorized",
    }
    make_connection(name="not-enabled")
    make_connection(name="sms", strategy="sms")
    for realm in ("not-enabled", "sms", "does-not-exist"):
        response = _login(api_client, app, realm=realm)
        assert response.status_code == 400
        assert response.json() == {"error": "invalid_request", "error_description": "the connection is not enabled"}


def test_unknown_audience_is_refused(api_client, app):
    _user()
    response = _login(api_client, app, audience="https://elsewhere.example/api")
    assert response.status_code == 403
    assert response.json() == {
        "error": "access_denied",
        "error_description": "Service not found: https://elsewhere.example/api",
    }


def test_failed_attempts_are_throttled_per_username(api_client, app, settings):
    settings.LOGIN_FAILURES_PER_USERNAME = "3/hour"
    _user()
    _user("other@example.com")
    for _ in range(3):
        assert _login(api_client, app, password="Wrong!Passw0rd").status_code == 403
    blocked = _login(api_client, app)  # even the right password is not checked any more
    assert blocked.status_code == 429
    assert blocked.json()["error"] == "too_many_attempts"
    assert int(blocked["Retry-After"]) > 0
    assert _login(api_client, app, username="other@example.com").status_code == 200


def test_success_resets_the_username_budget(api_client, app, settings):
    settings.LOGIN_FAILURES_PER_USERNAME = "3/hour"
    _user()
    for _ in range(2):
        _login(api_client, app, password="Wrong!Passw0rd")
    assert _login(api_client, app).status_code == 200
    for _ in range(2):
        assert _login(api_client, app, password="Wrong!Passw0rd").status_code == 403
    assert _login(api_client, app).status_code == 200


def test_failed_attempts_are_throttled_per_ip(api_client, app, settings):
    settings.LOGIN_FAILURES_PER_IP = "2/hour"
    _user()
    for name in ("a@example.com", "b@example.com"):
        assert _login(api_client, app, username=name).status_code == 403
    response = _login(api_client, app)
    assert response.status_code == 429
    assert response.json()["error"] == "too_many_attempts"
    client, secret = app
    other_ip = api_client.post(
        "/oauth/token",
        {
            "grant_type": PASSWORD_REALM,
            "client_id": client.client_id,
            "client_secret": secret,
            "username": "jane@example.com",
            "password": STRONG_PASSWORD,
            "realm": "Username-Password-Authentication",
        },
        format="json",
        REMOTE_ADDR="198.51.100.7",
    )
    assert other_ip.status_code == 200


def test_user_token_never_authorises_the_management_api(api_client, app):
    _user()
    token = _login(api_client, app, audience=settings.MANAGEMENT_API_AUDIENCE, scope="openid create:users").json()[
        "access_token"
    ]
    claims = _claims(token, settings.MANAGEMENT_API_AUDIENCE)
    assert claims["gty"] == "password" and "create:users" not in claims.get("scope", "")
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    response = api_client.post(
        "/api/v2/users",
        {"connection": "Username-Password-Authentication", "email": "x@example.com", "password": STRONG_PASSWORD},
        format="json",
    )
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    body = response.json()
    assert body["statusCode"] == 401 and body["error"] == "Unauthorized" and body["message"] == "Invalid token"
    assert api_client.get("/api/v2/users").status_code == 401


def test_even_a_forged_scope_on_a_user_token_is_refused(api_client, connection):
    from clients.tokens import PASSWORD, issue_token

    token = issue_token(client_id="c", scopes=["create:users"], grant_type=PASSWORD, subject="auth0|abc")
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    response = api_client.post("/api/v2/users", {"connection": connection.name}, format="json")
    assert response.status_code == 401
    assert response.json()["message"] == "Invalid token"


@pytest.mark.live
def test_official_sdk_logs_in_with_password_realm(live_server_url, make_connection):
    make_connection()
    client, secret = create_client(
        name="sdk-app", scopes="read:users", connections=["Username-Password-Authentication"], actor=SYSTEM
    )
    user = _imported(_user(), custom=_md5_custom())
    domain = urlsplit(live_server_url).netloc
    token = GetToken(domain, client.client_id, client_secret=secret, protocol="http")
    granted = token.login(
        username="jane@example.com",
        password=IMPORTED_PASSWORD,
        realm="Username-Password-Authentication",
        audience=settings.MANAGEMENT_API_AUDIENCE,
    )
    assert granted["token_type"] == "Bearer"
    assert _claims(granted["access_token"], settings.MANAGEMENT_API_AUDIENCE)["sub"] == user.user_id
    assert User.objects.get(pk=user.pk).custom_password_hash is None

    with pytest.raises(Auth0Error) as wrong:
        token.login(username="jane@example.com", password="nope", realm="Username-Password-Authentication")
    assert wrong.value.status_code == 403
    assert wrong.value.error_code == "invalid_grant"
    assert wrong.value.message == "Wrong email or password."


# --- login statistics ----------------------------------------------------------------------------------------------


def _profile(api, user_id: str) -> dict:
    response = api.get(f"/api/v2/users/{user_id}")
    assert response.status_code == 200
    return response.json()


def test_login_statistics_are_left_out_until_the_first_login_then_counted(api_client, api, app):
    user = _user()
    before = _profile(api, user.user_id)
    assert not {"last_login", "last_ip", "logins_count"} & set(before)

    assert _login(api_client, app, ip="198.51.100.4").status_code == 200
    first = _profile(api, user.user_id)
    assert first["logins_count"] == 1
    assert first["last_ip"] == "198.51.100.4"
    stored = User.objects.get(pk=user.pk).last_login
    assert stored is not None
    assert first["last_login"] == stored.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stored.microsecond // 1000:03d}Z"

    assert _login(api_client, app, ip="198.51.100.5").status_code == 200
    second = _profile(api, user.user_id)
    assert second["logins_count"] == 2
    assert second["last_ip"] == "198.51.100.5"
    assert second["last_login"] >= first["last_login"]


def test_a_wrong_password_is_no_login(api_client, api, app):
    user = _user()
    assert _login(api_client, app, password="wrong-Passw0rd!").status_code == 403
    assert User.objects.get(pk=user.pk).logins_count == 0
    assert "logins_count" not in _profile(api, user.user_id)


def test_a_blocked_users_correct_password_counts_as_a_login(api_client, api, app):
    # Auth0 ("User Search Query Syntax"): "If a user is blocked and logs in, the blocked session is counted in
    # logins_count and updates the last_login value."
    user = _user()
    update_user(user_id=user.user_id, data={"blocked": True}, actor=SYSTEM)
    assert _login(api_client, app, ip="198.51.100.9").status_code == 401
    profile = _profile(api, user.user_id)
    assert profile["logins_count"] == 1
    assert profile["last_ip"] == "198.51.100.9"
    assert "last_login" in profile


def test_the_count_is_computed_in_the_database(connection):
    # Two logins that read the same row both count: the UPDATE adds one to the stored value, never a stale copy.
    user = _user()
    stale = User.objects.select_related("connection").get(pk=user.pk)
    assert _log_in(user, STRONG_PASSWORD)
    login._count_login(user=stale, actor=ACTOR)
    assert User.objects.get(pk=user.pk).logins_count == 2
    assert stale.logins_count == 2


def test_logged_in_users_are_searchable_by_their_statistics(api_client, api, app):
    user = _user()
    _user("other@example.com")
    assert _login(api_client, app, ip="198.51.100.4").status_code == 200
    for q in ("logins_count:1", "_exists_:last_login", "last_ip:198.51.100.4", "logins_count:[1 TO *]"):
        response = api.get("/api/v2/users", {"q": q, "search_engine": "v3"})
        assert [u["user_id"] for u in response.json()] == [user.user_id], q
