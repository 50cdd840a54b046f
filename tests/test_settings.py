"""Settings come from the environment; production refuses to start without a real secret."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRINT = (
    "import json, django; from django.conf import settings; django.setup(); "
    "db = settings.DATABASES['default']; "
    "print(json.dumps({'engine': db['ENGINE'], 'name': str(db['NAME']), 'rounds': settings.BCRYPT_ROUNDS, "
    "'hosts': settings.ALLOWED_HOSTS, 'kid': settings.JWT_SIGNING_KEY.kid, 'debug': settings.DEBUG}))"
)


def _run(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DATABASE_URL", "DEBUG", "BCRYPT_ROUNDS"}}
    base.update({"DJANGO_SETTINGS_MODULE": "config.settings", "DATA_DIR": str(tmp_path)}, **env)
    return subprocess.run([sys.executable, "-c", PRINT], cwd=ROOT, env=base, capture_output=True, text=True, timeout=60)


def test_refuses_to_start_without_secret_key_when_debug_is_off(tmp_path):
    result = _run(tmp_path)
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_debug_mode_starts_without_secret_key(tmp_path):
    result = _run(tmp_path, DEBUG="true")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["debug"] is True


def test_secret_key_file_in_data_dir_is_used(tmp_path):
    (tmp_path / "secret_key").write_text("from-file\n")
    assert _run(tmp_path).returncode == 0


def test_defaults_to_sqlite_in_the_data_dir_with_bcrypt_cost_10(tmp_path):
    settings = json.loads(_run(tmp_path, SECRET_KEY="x").stdout)
    assert settings["engine"] == "django.db.backends.sqlite3"
    assert settings["name"] == str(tmp_path / "db.sqlite3")
    assert settings["rounds"] == 10
    assert settings["hosts"] == ["localhost", "127.0.0.1", "[::1]"]


def test_database_url_selects_postgresql_and_hosts_come_from_the_environment(tmp_path):
    result = _run(
        tmp_path,
        SECRET_KEY="x",
        DATABASE_URL="postgres://u:p@db.example:5432/directory",
        ALLOWED_HOSTS="a.example, b.example",
        BCRYPT_ROUNDS="12",
    )
    settings = json.loads(result.stdout)
    assert settings["engine"] == "django.db.backends.postgresql"
    assert settings["name"] == "directory"
    assert settings["hosts"] == ["a.example", "b.example"]
    assert settings["rounds"] == 12


@pytest.mark.parametrize("rounds", ["3", "16", "ten"])
def test_bcrypt_rounds_out_of_range_is_refused(tmp_path, rounds):
    result = _run(tmp_path, SECRET_KEY="x", BCRYPT_ROUNDS=rounds)
    assert result.returncode != 0
    assert "BCRYPT_ROUNDS" in result.stderr


def test_signing_key_is_generated_once_and_shared_by_concurrent_starts(tmp_path):
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: _run(tmp_path, SECRET_KEY="x"), range(4)))
    kids = {json.loads(r.stdout)["kid"] for r in results}
    assert len(kids) == 1
    assert (tmp_path / "jwt-signing-key.pem").stat().st_mode & 0o777 == 0o600
    assert json.loads(_run(tmp_path, SECRET_KEY="x").stdout)["kid"] in kids


@pytest.mark.parametrize(("level", "info"), [("INFO", True), ("WARNING", False)])
def test_log_level_holds_for_the_task_frameworks_lines_too(tmp_path, level, info):
    """Django's ``django`` logger stays at INFO whatever the root's level: without a level of its own,
    ``django.tasks`` wrote two INFO lines per task (started, finished) under ``LOG_LEVEL=WARNING``."""
    check = (
        "import logging, django; django.setup(); print(logging.getLogger('django.tasks').isEnabledFor(logging.INFO))"
    )
    base = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "DEBUG"}}
    base.update({"DJANGO_SETTINGS_MODULE": "config.settings", "DATA_DIR": str(tmp_path), "SECRET_KEY": "x"})
    result = subprocess.run(
        [sys.executable, "-c", check], cwd=ROOT, env={**base, "LOG_LEVEL": level}, capture_output=True, text=True
    )
    assert result.stdout.strip() == str(info), result.stderr
