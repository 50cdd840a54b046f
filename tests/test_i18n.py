"""Messages follow Accept-Language (Japanese or English); error codes never change."""

from __future__ import annotations

import errno
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import polib
import pytest
from django.conf import settings

from clients.services import create_client
from core import translations
from core.actors import SYSTEM
from core.translations import compile_catalogues
from tests.live import ROOT, _free_port, database_url, post_json

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


def test_refusals_made_before_any_view_follow_the_requests_own_language(api_client):
    """The guards that refuse a bad query string or body size answer before a view is chosen; they spoke the
    language of whatever request the same worker thread had served before (a caller without Accept-Language got
    Japanese after someone else's "ja") and never the caller's own."""
    english = {
        "statusCode": 400,
        "error": "Bad Request",
        "message": "The query string contains invalid characters.",
        "errorCode": "invalid_query_string",
        "errors": [],
    }
    japanese = {**english, "message": "クエリ文字列に使用できない文字が含まれています。"}
    api_client.get("/api/v2/users", HTTP_ACCEPT_LANGUAGE="ja")  # another caller, served first
    assert api_client.get("/api/v2/users?page=%00").json() == english
    assert api_client.get("/api/v2/users?page=%00", HTTP_ACCEPT_LANGUAGE="ja").json() == japanese
    too_large = api_client.post(
        "/dbconnections/signup",
        "{}",
        content_type="application/json",
        HTTP_ACCEPT_LANGUAGE="ja",
        CONTENT_LENGTH="10000000",
    )
    assert too_large.status_code == 413
    assert too_large.json()["description"] == "本文の長さが上限を超えています: 512000"


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


def _has_japanese(text: str) -> bool:
    return any("\u3040" <= ch <= "\u30ff" or "\u4e00" <= ch <= "\u9fff" for ch in text)


def test_japanese_messages_end_with_japanese_punctuation():
    """A Japanese sentence ends with 「。」, never an ASCII full stop (``/v1/users`` once answered
    「パスワードが弱すぎます.」)."""
    wrong = []
    for entry in polib.pofile(str(CATALOGUE)):
        for text in [entry.msgstr, *entry.msgstr_plural.values()]:
            ends_ascii = text.rstrip().endswith(".") and _has_japanese(text.rstrip()[-2:])
            if ends_ascii or re.search(r"[\u3040-\u30ff\u4e00-\u9fff]\. ", text):
                wrong.append((entry.msgid, text))
    assert wrong == []


@pytest.mark.skipif(shutil.which("xgettext") is None, reason="makemessages needs GNU gettext: apt-get install gettext")
def test_every_string_of_the_project_is_in_the_catalogue_and_translated(tmp_path):
    """What ``makemessages`` finds in the project's code and templates today is all in the catalogue, translated:
    run on a copy of the sources, it leaves no entry untranslated or fuzzy."""
    copy = tmp_path / "checkout"
    for name in (*_SOURCES, "users"):
        shutil.copytree(ROOT / name, copy / name, ignore=_NO_BUILD_OUTPUT)
    shutil.copy(ROOT / "manage.py", copy / "manage.py")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "SECRET_KEY": "x", "DATA_DIR": str(tmp_path)}
    subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "ja", "--no-obsolete"],
        cwd=copy,
        env=env,
        check=True,
        capture_output=True,
    )
    po = polib.pofile(str(copy / "locale" / "ja" / "LC_MESSAGES" / "django.po"))
    assert [e.msgid for e in po.untranslated_entries()] == []
    assert [e.msgid for e in po.fuzzy_entries()] == []


def test_admin_speaks_japanese(admin_client, connection):
    page = admin_client.get("/admin/", HTTP_ACCEPT_LANGUAGE="ja")
    assert "M2M クライアント" in page.text
    assert "ディレクトリのユーザー" in page.text
    assert "ジョブ" in page.text and ">Jobs<" not in page.text
    listing = admin_client.get("/admin/connections/connection/", HTTP_ACCEPT_LANGUAGE="ja")
    assert "ストラテジー" in listing.text
    client_form = admin_client.get("/admin/clients/client/add/", HTTP_ACCEPT_LANGUAGE="ja")
    assert "パスワードグラントの realm" in client_form.text


def test_positional_placeholders_keep_their_order_in_japanese(create, connection):
    body = {"connection": connection.name, "email": "a@example.com", "password": "password"}
    (error,) = create(body, HTTP_ACCEPT_LANGUAGE="ja").json()["errors"]
    assert error["message"].startswith("少なくとも 3 種類の文字を含める（次の 4 種類のうち）")


# --- q=0: "not acceptable" (RFC 9110 §12.4.2); the rule is api.locale's ------------------------------------------

_MISSING_CONNECTION = {
    "ja": "ペイロードの検証エラー: 「必須プロパティがありません: connection」。",
    "en": "Payload validation error: 'Missing required property: connection'.",
}


@pytest.mark.parametrize(
    ("header", "language"),
    [
        # Japanese stays chosen wherever it is acceptable.
        ("ja", "ja"),
        ("ja-JP", "ja"),
        ("ja;q=0.5, en;q=0.4", "ja"),
        ("ja, *;q=0", "ja"),
        # A q=0 range is never the one that chooses.
        ("ja;q=0", "en"),
        ("ja;q=0.000", "en"),
        ("ja;q=0, en;q=0.5", "en"),
        ("fr, ja;q=0", "en"),
        ("ja-JP;q=0", "en"),
        ("ja;q=0, ja-JP;q=0.8", "en"),  # ja-JP is acceptable, but the generic ja we have is refused
        # Nor the default when it is refused.
        ("en;q=0", "ja"),
        ("en;q=0, *;q=0.5", "ja"),
        # Everything refused: the default, as with no header at all.
        ("en;q=0, ja;q=0", "en"),
        ("*;q=0", "en"),
    ],
)
def test_a_language_the_client_refuses_with_q0_is_never_chosen(create, header, language):
    response = create({}, HTTP_ACCEPT_LANGUAGE=header)
    assert response.json()["message"] == _MISSING_CONNECTION[language]
    assert response["Content-Language"] == language


def test_q0_holds_on_the_admin_the_pages_and_the_refusals_before_any_view(admin_client, client, api_client):
    admin = admin_client.get("/admin/", HTTP_ACCEPT_LANGUAGE="ja;q=0")
    assert (admin["Content-Language"], "ディレクトリのユーザー" in admin.text) == ("en", False)
    assert "ディレクトリのユーザー" in admin_client.get("/admin/", HTTP_ACCEPT_LANGUAGE="en;q=0").text
    assert "Invalid link" in client.get("/email-verification?ticket=bad", HTTP_ACCEPT_LANGUAGE="ja;q=0").text
    assert "無効なリンクです" in client.get("/email-verification?ticket=bad", HTTP_ACCEPT_LANGUAGE="en;q=0").text
    refused = api_client.get("/api/v2/users?page=%00", HTTP_ACCEPT_LANGUAGE="ja;q=0")
    assert refused.json()["message"] == "The query string contains invalid characters."


def test_the_language_cookie_still_chooses_unless_the_header_refuses_its_language(create, admin_api):
    admin_api.cookies[settings.LANGUAGE_COOKIE_NAME] = "ja"
    assert create({}, HTTP_ACCEPT_LANGUAGE="fr;q=0").json()["message"] == _MISSING_CONNECTION["ja"]
    assert create({}, HTTP_ACCEPT_LANGUAGE="ja;q=0").json()["message"] == _MISSING_CONNECTION["en"]


@pytest.mark.parametrize("cookie", ["JA", "Ja", "JA-jp", "ja-JP"])
def test_a_language_cookie_in_any_case_does_not_override_a_refusal(create, admin_api, cookie):
    # Django takes the cookie's language case-insensitively ("JA" is Japanese): the header's refusal must hold as well.
    admin_api.cookies[settings.LANGUAGE_COOKIE_NAME] = cookie
    assert create({}, HTTP_ACCEPT_LANGUAGE="fr").json()["message"] == _MISSING_CONNECTION["ja"]
    refused = create({}, HTTP_ACCEPT_LANGUAGE="ja;q=0")
    assert (refused.json()["message"], refused["Content-Language"]) == (_MISSING_CONNECTION["en"], "en")


def test_the_verification_mail_is_not_in_a_refused_language(api, connection, mailoutbox, capture_tasks):
    api.cookies[settings.LANGUAGE_COOKIE_NAME] = "JA"
    body = {"connection": connection.name, "email": "a@example.com", "password": "Str0ng!Passw0rd-x"}
    with capture_tasks(execute=True):
        assert api.post("/api/v2/users", body, format="json", HTTP_ACCEPT_LANGUAGE="ja;q=0").status_code == 201
    assert mailoutbox[0].subject == "Verify your e-mail address"


# --- the compiled catalogue, however the service is started (issue 13) -----------------------------------------

# What a plain start needs of the checkout: the packages and the catalogue's source, never a compiled .mo.
_SOURCES = (
    "adminsite",
    "api",
    "audit",
    "clients",
    "config",
    "connections",
    "core",
    "events",
    "idempotency",
    "jobs",
    "locale",
    "ratelimits",
    "tenants",
)
_NO_BUILD_OUTPUT = shutil.ignore_patterns("*.mo", "__pycache__")


@pytest.fixture
def clean_copy(tmp_path: Path) -> Path:
    """The service's source as a fresh checkout has it: no ``.mo`` anywhere, nothing compiled."""
    copy = tmp_path / "checkout"
    for name in (*_SOURCES, "users"):
        shutil.copytree(ROOT / name, copy / name, ignore=_NO_BUILD_OUTPUT)
    assert not list(copy.rglob("*.mo"))
    return copy


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
def test_gunicorn_started_directly_from_a_fresh_checkout_answers_in_japanese(clean_copy):
    port = _free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": database_url(),
        "SECRET_KEY": settings.SECRET_KEY,
        "DATA_DIR": str(clean_copy.parent / "data"),
        "DEBUG": "false",
    }
    # The way a container, a systemd unit or a PaaS starts it: no serve.sh, no compile step.
    gunicorn = Path(sys.executable).parent / "gunicorn"
    server = subprocess.Popen(
        [str(gunicorn), "config.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
        cwd=clean_copy,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        status, body, _headers = _post_when_up(f"http://127.0.0.1:{port}/api/v2/users", server)
    finally:
        server.send_signal(signal.SIGQUIT)
        server.wait(timeout=15)
    assert status == 401
    assert body["message"] == "認証情報がありません"
    assert (clean_copy / "locale" / "ja" / "LC_MESSAGES" / "django.mo").is_file()  # compiled on start, in place


def _post_when_up(url: str, server: subprocess.Popen[bytes]) -> tuple[int, Any, dict[str, str]]:
    deadline = time.monotonic() + 30
    while True:
        if server.poll() is not None:
            raise RuntimeError(server.stderr.read().decode() if server.stderr else "gunicorn exited")
        try:
            return post_json(url, {}, headers={"Accept-Language": "ja"})
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


_READ_ONLY_START = """
import errno, sys
import core.translations as translations

compile_catalogue = translations.compile_catalogue
refused = sys.argv[1]

def read_only(po_path, mo_path):
    if str(mo_path).startswith(refused):
        raise OSError(errno.EROFS, "Read-only file system")
    return compile_catalogue(po_path, mo_path)

translations.compile_catalogue = read_only
import django
django.setup()
from django.utils import translation
translation.activate("ja")
print(translation.gettext("Invalid token"))
"""


def _start_read_only(copy: Path, refused: Path) -> subprocess.CompletedProcess[str]:
    """Set Django up from ``copy`` (as the WSGI module does) with every write under ``refused`` failing, as on a
    read-only filesystem (the tests run as root, whom file modes do not stop)."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "SECRET_KEY": "x",
        "DATA_DIR": str(copy.parent / "data"),
        "DATABASE_URL": "sqlite:///:memory:",
        "TMPDIR": str(copy.parent / "tmp"),
    }
    (copy.parent / "tmp").mkdir(exist_ok=True)
    command = [sys.executable, "-c", _READ_ONLY_START, str(refused)]
    return subprocess.run(command, cwd=copy, env=env, capture_output=True, text=True, timeout=60, check=True)


def test_a_read_only_install_compiles_its_catalogue_into_the_data_directory(clean_copy):
    started = _start_read_only(clean_copy, refused=clean_copy)
    assert started.stdout.strip() == "無効なトークンです"
    assert not list(clean_copy.rglob("*.mo"))
    [compiled] = (clean_copy.parent / "data" / "locale").glob("compiled-*/ja/LC_MESSAGES/django.mo")
    assert polib.mofile(str(compiled)).find("Invalid token") is not None


def test_with_nowhere_to_write_the_service_still_starts_in_english(clean_copy):
    started = _start_read_only(clean_copy, refused=clean_copy.parent)
    assert started.stdout.strip() == "Invalid token"
    assert "translations unavailable" in started.stderr
    assert not list(clean_copy.parent.rglob("*.mo"))


def test_a_stale_catalogue_in_a_read_only_directory_is_shadowed_by_a_fresh_one(tmp_path, monkeypatch):
    source = tmp_path / "locale"
    po = source / "ja" / "LC_MESSAGES" / "django.po"
    po.parent.mkdir(parents=True)
    po.write_bytes(CATALOGUE.read_bytes())
    stale = po.with_suffix(".mo")
    stale.write_bytes(b"stale")
    os.utime(stale, (0, 0))
    real = translations.compile_catalogue

    def read_only(po_path: Path, mo_path: Path) -> None:
        if source in mo_path.parents:
            raise OSError(errno.EROFS, "Read-only file system")
        real(po_path, mo_path)

    monkeypatch.setattr(translations, "compile_catalogue", read_only)
    paths = translations.ensure_compiled([source], [tmp_path / "data"])
    assert len(paths) == 2 and paths[1] == source  # the substitute first: the first path to have a message wins
    assert polib.mofile(str(paths[0] / "ja" / "LC_MESSAGES" / "django.mo")).find("Invalid token") is not None
    assert stale.read_bytes() == b"stale"
    assert translations.ensure_compiled([source], [tmp_path / "data"]) == paths  # fresh now: nothing rewritten
