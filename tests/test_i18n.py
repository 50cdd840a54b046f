"""Messages follow Accept-Language (Japanese or English); error codes never change."""

from __future__ import annotations

from pathlib import Path

import polib
import pytest
from django.conf import settings

from clients.services import create_client
from core.actors import SYSTEM
from core.translations import compile_catalogues

pytestmark = pytest.mark.django_db

CATALOGUE = Path(settings.BASE_DIR) / "locale" / "ja" / "LC_MESSAGES" / "django.po"


def test_the_japanese_catalogue_is_complete():
    po = polib.pofile(str(CATALOGUE))
    assert po.percent_translated() == 100, [e.msgid for e in po.untranslated_entries()]
    assert not po.fuzzy_entries()


def test_catalogues_are_compiled_from_the_po_files(tmp_path):
    target = tmp_path / "ja" / "LC_MESSAGES"
    target.mkdir(parents=True)
    (target / "django.po").write_bytes(CATALOGUE.read_bytes())
    assert compile_catalogues([tmp_path]) == [target / "django.mo"]
    assert compile_catalogues([tmp_path]) == []  # up to date: nothing rewritten
    entry = polib.mofile(str(target / "django.mo")).find("Invalid token")
    assert entry is not None and entry.msgstr == "無効なトークンです"


@pytest.mark.parametrize(
    ("language", "message"),
    [
        ("ja", "ペイロードの検証エラー: 「必須プロパティがありません: connection」。"),
        ("en", "Payload validation error: 'Missing required property: connection'."),
        ("fr", "Payload validation error: 'Missing required property: connection'."),
    ],
)
def test_management_errors_follow_accept_language(create, language, message):
    response = create({}, HTTP_ACCEPT_LANGUAGE=language)
    body = response.json()
    assert body["message"] == message
    assert body["errorCode"] == "invalid_body"
    assert body["errors"][0]["code"] == "OBJECT_MISSING_REQUIRED_PROPERTY"


def test_domain_errors_and_401s_are_translated(api_client, create):
    assert create({"connection": "nope"}, HTTP_ACCEPT_LANGUAGE="ja").json()["message"] == "接続が存在しません。"
    api_client.credentials()  # the create fixture shares this client: drop its token
    response = api_client.post("/api/v2/users", {}, format="json", HTTP_ACCEPT_LANGUAGE="ja")
    assert response.status_code == 401
    assert response.json()["message"] == "認証情報がありません"
    assert response.json()["errorCode"] == "missing_authentication"


def test_password_policy_error_keeps_its_name_and_translates_its_sentence(create, connection):
    body = {"connection": connection.name, "email": "a@example.com", "password": "weak"}
    ja = create(body, HTTP_ACCEPT_LANGUAGE="ja").json()
    en = create(body).json()
    assert ja["message"] == "PasswordStrengthError: パスワードが弱すぎます"
    assert en["message"] == "PasswordStrengthError: Password is too weak"
    assert ja["errorCode"] == en["errorCode"] == "invalid_password"


def test_signup_and_v1_errors_are_translated(api_client, connection, token):
    app, _secret = create_client(name="app", scopes="", connections=[connection.name], actor=SYSTEM)
    body = {"client_id": app.client_id, "connection": connection.name, "email": "a@example.com", "password": "x"}
    signup = api_client.post("/dbconnections/signup", body, format="json", HTTP_ACCEPT_LANGUAGE="ja").json()
    assert signup["name"] == "PasswordStrengthError"
    assert signup["message"] == "パスワードが弱すぎます"
    assert signup["code"] == "invalid_password"
    unknown = api_client.post(
        "/dbconnections/signup", {**body, "client_id": "nope"}, format="json", HTTP_ACCEPT_LANGUAGE="ja"
    ).json()
    assert unknown == {
        "name": "BadRequestError",
        "code": "invalid_client",
        "description": "クライアントが存在しないか、無効になっています。",
        "statusCode": 400,
    }
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token('create:users')}")
    api_client.post("/v1/users", {"email": "v@example.com", "password": "Str0ng!Passw0rd"}, format="json")
    taken = api_client.post(
        "/v1/users", {"email": "v@example.com", "password": "Str0ng!Passw0rd"}, format="json", HTTP_ACCEPT_LANGUAGE="ja"
    )
    assert taken.json() == {"error": "email_exists", "message": "このメールアドレスのユーザーはすでに存在します。"}


def test_oauth_errors_are_translated(api_client):
    response = api_client.post(
        "/oauth/token", {"grant_type": "authorization_code"}, format="json", HTTP_ACCEPT_LANGUAGE="ja"
    )
    assert response.json() == {
        "error": "unsupported_grant_type",
        "error_description": "サポートされていないグラントタイプです: authorization_code",
    }


def test_verification_page_is_translated(client):
    ja = client.get("/email-verification?ticket=bad", HTTP_ACCEPT_LANGUAGE="ja")
    en = client.get("/email-verification?ticket=bad", HTTP_ACCEPT_LANGUAGE="en")
    assert ja.status_code == en.status_code == 400
    assert "無効なリンクです" in ja.text
    assert "Invalid link" in en.text


def test_admin_speaks_japanese(admin_client, connection):
    page = admin_client.get("/admin/", HTTP_ACCEPT_LANGUAGE="ja")
    assert "M2M クライアント" in page.text
    assert "ディレクトリのユーザー" in page.text
    listing = admin_client.get("/admin/connections/connection/", HTTP_ACCEPT_LANGUAGE="ja")
    assert "ストラテジー" in listing.text


def test_positional_placeholders_keep_their_order_in_japanese(create, connection):
    body = {"connection": connection.name, "email": "a@example.com", "password": "password"}
    (error,) = create(body, HTTP_ACCEPT_LANGUAGE="ja").json()["errors"]
    assert error["message"].startswith("少なくとも 3 種類の文字を含める（次の 4 種類のうち）")
