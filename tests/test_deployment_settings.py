"""Settings read from the environment at start-up: each case starts a fresh interpreter with its own environment."""

from __future__ import annotations

import ast
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _settings(tmp_path: Path, **env: str) -> dict[str, str]:
    session, csrf = _values(tmp_path, ("SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE"), **env)
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


def _variables_read_by_settings() -> set[str]:
    """The environment variables ``config/settings.py`` reads: ``os.environ.get("X")``, ``os.environ["X"]``,
    ``os.getenv("X")`` and its ``env_bool/env_int/env_float("X", ...)`` helpers."""
    tree = ast.parse((ROOT / "config" / "settings.py").read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = ast.unparse(node.func)
            if func in {"os.environ.get", "os.getenv"} or func.startswith("env_"):
                names.add(str(node.args[0].value))
        elif (
            isinstance(node, ast.Subscript)
            and ast.unparse(node.value) == "os.environ"
            and isinstance(node.slice, ast.Constant)
        ):
            names.add(str(node.slice.value))
    return names


def test_every_variable_the_settings_read_is_in_env_example_and_the_readme():
    # config/settings.py promises it; .env.example lacked SECRET_KEY_FALLBACKS, the EVENT_STREAMS_*, TASKS_* and
    # EMAIL_SEND_* variables, which the README's table lists.
    names = _variables_read_by_settings()
    assert {"SECRET_KEY", "DATABASE_URL", "EVENT_STREAMS_TIMEOUT_SECONDS"} <= names  # the parse finds them
    example = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", (ROOT / ".env.example").read_text(), re.MULTILINE))
    readme = (ROOT / "README.md").read_text()
    assert sorted(names - example) == []
    assert sorted(name for name in names if f"`{name}`" not in readme) == []


def test_env_example_leaves_static_from_apps_to_its_default():
    # STATIC_FROM_APPS=false, exported from a copy, made a gunicorn started before collectstatic answer the admin's
    # styles with 404: the default (true until something is collected) is what the README documents.
    assert re.search(r"^STATIC_FROM_APPS=$", (ROOT / ".env.example").read_text(), re.MULTILINE)
