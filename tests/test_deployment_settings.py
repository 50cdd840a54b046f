"""Settings read from the environment at start-up: each case starts a fresh interpreter with its own environment."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _settings(tmp_path: Path, **env: str) -> dict[str, str]:
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE)"
    )
    clean = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "PUBLIC_BASE_URL"}}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={
            **clean,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "SECRET_KEY": "test-secret-key-not-for-production",
            "DATA_DIR": str(tmp_path),
            **env,
        },
        capture_output=True,
        text=True,
        check=True,
    )
    session, csrf = result.stdout.split()
    return {"session": session, "csrf": csrf}


@pytest.mark.parametrize(
    ("env", "secure"),
    [
        ({"PUBLIC_BASE_URL": "https://users.example.com"}, "True"),
        ({"PUBLIC_BASE_URL": " https://users.example.com/ "}, "True"),  # stray spaces do not turn it off
        ({"PUBLIC_BASE_URL": "http://localhost:8000"}, "False"),
        ({}, "False"),
        (
            {"PUBLIC_BASE_URL": "http://localhost:8000", "SESSION_COOKIE_SECURE": "true", "CSRF_COOKIE_SECURE": "1"},
            "True",
        ),
        (
            {"PUBLIC_BASE_URL": "https://users.example.com", "SESSION_COOKIE_SECURE": "0", "CSRF_COOKIE_SECURE": "off"},
            "False",
        ),
    ],
)
def test_admin_cookies_are_secure_when_the_public_url_is_https_or_when_set(tmp_path, env, secure):
    assert _settings(tmp_path, **env) == {"session": secure, "csrf": secure}


def test_the_embedded_sqlite_database_is_created_owner_only(tmp_path):
    _settings(tmp_path)
    database = tmp_path / "db.sqlite3"
    assert stat.S_IMODE(database.stat().st_mode) == 0o600


def test_an_existing_sqlite_database_readable_by_others_is_made_owner_only(tmp_path):
    for name in ("db.sqlite3", "db.sqlite3-wal"):
        (tmp_path / name).touch(mode=0o644)
        (tmp_path / name).chmod(0o644)
    _settings(tmp_path)
    for name in ("db.sqlite3", "db.sqlite3-wal"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name


def _values(tmp_path: Path, names: tuple[str, ...], **env: str) -> tuple[str, ...]:
    """The settings ``names`` as a fresh interpreter with ``env`` reads them (one line each)."""
    code = "import django; django.setup(); from django.conf import settings as s; " + "; ".join(
        f"print(s.{name})" for name in names
    )
    clean = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "PUBLIC_BASE_URL", "AUTH_ISSUER"}}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={
            **clean,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "SECRET_KEY": "test-secret-key-not-for-production",
            "DATA_DIR": str(tmp_path),
            **env,
        },
        capture_output=True,
        text=True,
        check=True,
    )
    return tuple(result.stdout.splitlines())


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, ("urn:auth0:localhost", "localhost")),
        # The README's way to serve elsewhere: PUBLIC_BASE_URL alone (the issuer follows it). The source and the
        # tenant named "localhost" here, read from the AUTH_ISSUER variable rather than the issuer.
        ({"PUBLIC_BASE_URL": "https://users.example.com"}, ("urn:auth0:users.example.com", "users")),
        ({"AUTH_ISSUER": "https://acme.eu.auth0.com/"}, ("urn:auth0:acme.eu.auth0.com", "acme")),
        # Empty, as an exported copy of .env.example leaves them: the defaults, not an empty source.
        (
            {"PUBLIC_BASE_URL": "https://users.example.com", "EVENT_STREAMS_SOURCE": "", "EVENT_STREAMS_TENANT": ""},
            ("urn:auth0:users.example.com", "users"),
        ),
        ({"EVENT_STREAMS_SOURCE": "urn:crm:feed", "EVENT_STREAMS_TENANT": "prod"}, ("urn:crm:feed", "prod")),
    ],
)
def test_the_events_source_and_tenant_follow_the_issuer_unless_set(tmp_path, env, expected):
    assert _values(tmp_path, ("EVENT_STREAMS_SOURCE", "EVENT_STREAMS_TENANT"), **env) == expected
