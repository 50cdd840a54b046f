"""``manage.py serve_setup``: every step ``scripts/serve.sh`` takes before it serves, in one process, each with its
own command's effect and errors; collectstatic skipped only when nothing it reads or writes changed. Through
``scripts/serve_checks.py setup`` (a fresh data directory, a bad setting) and through ``serve.sh`` itself (the
tenant's summary, a bad TENANT_FILE). The banner of a whole start is checked by ``tests/test_readme_walkthrough.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.contrib.staticfiles.management.commands import collectstatic
from django.core import checks
from django.core.management import CommandError, call_command
from django.core.management.base import SystemCheckError
from django.db.migrations.loader import MigrationLoader

from clients.scopes import KNOWN_SCOPES
from clients.tokens import verify_token
from connections.models import Connection
from connections.services import connection_as_json
from tenants.management.commands.serve_setup import connection_line
from tests.live import _free_port, stop_serve_sh

ROOT = Path(__file__).resolve().parent.parent
CHECKS = ROOT / "scripts" / "serve_checks.py"
NAME = "Username-Password-Authentication"
# A tenant that sets the connection's password policy (the banner shows it as it is) and makes one more.
TENANT = f"""\
databases:
  - name: {NAME}
    strategy: auth0
    options:
      passwordPolicy: fair
  - name: other-db
    strategy: auth0
"""


@pytest.fixture
def static(settings: Any, tmp_path: Path) -> tuple[Path, Path]:
    """One static file of our own, collected into a STATIC_ROOT of the test's (not the apps' hundreds)."""
    source = tmp_path / "source"
    source.mkdir()
    (source / "site.css").write_text("body { color: black; }\n" * 50)
    settings.STATICFILES_DIRS = [str(source)]
    settings.STATICFILES_FINDERS = ["django.contrib.staticfiles.finders.FileSystemFinder"]
    settings.STATIC_ROOT = str(tmp_path / "static")
    return source, tmp_path / "static"


@pytest.fixture
def collect_runs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One entry per run of collectstatic's collect()."""
    runs: list[int] = []
    collect = collectstatic.Command.collect

    def counted(self: collectstatic.Command) -> dict[str, Any]:
        runs.append(1)
        return collect(self)

    monkeypatch.setattr(collectstatic.Command, "collect", counted)
    return runs


def _setup(**options: Any) -> list[str]:
    out = StringIO()
    call_command("serve_setup", stdout=out, **options)
    return out.getvalue().splitlines()


# --- each step ----------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_it_makes_the_connection_once_and_prints_the_banners_values(static, settings):
    settings.TENANT_FILE = ""
    first = _setup(client_id="serve.sh")
    assert len(first) == 4, first  # no tenant: no summary
    public_url, lifetime, line, raw = first
    connection = Connection.objects.get(name=NAME)
    assert connection.strategy == "auth0"
    assert public_url == settings.PUBLIC_BASE_URL
    assert lifetime == "24h"
    assert line == connection_line(json.dumps(connection_as_json(connection)))
    assert line == f'{connection.id} strategy auth0, password policy "good"'
    token = verify_token(raw)  # signed for this server's issuer and audience
    assert token.scopes == set(KNOWN_SCOPES)
    assert (token.claims["azp"], token.claims["sub"]) == ("serve.sh", "serve.sh@clients")
    assert token.claims["exp"] - token.claims["iat"] == 86_400

    again = _setup(client_id="serve.sh")
    assert again[:3] == first[:3]  # the same connection, not a second one
    assert Connection.objects.filter(name=NAME).count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(("seconds", "shown"), [(7200, "2h"), (5400, "5400s")])
def test_the_lifetime_is_shown_as_the_token_has_it(static, settings, seconds, shown):
    settings.ACCESS_TOKEN_LIFETIME_SECONDS = seconds
    _url, lifetime, _line, raw = _setup()
    token = verify_token(raw)
    assert (lifetime, token.claims["exp"] - token.claims["iat"]) == (shown, seconds)
    assert token.claims["azp"] == "manage-py"  # issue_token's default, without --client-id


@pytest.mark.django_db
def test_the_tenant_file_is_loaded_its_summary_shown_and_the_connection_shown_as_it_left_it(static, settings, tmp_path):
    (tmp_path / "tenant.yaml").write_text(TENANT)
    settings.TENANT_FILE = str(tmp_path / "tenant.yaml")
    lines = _setup()
    summary, values = lines[:-4], lines[-4:]
    assert summary[0] == "connections: 2 created, 0 updated, 0 unchanged", lines
    connection = Connection.objects.get(name=NAME)
    assert values[2] == f'{connection.id} strategy auth0, password policy "fair"'
    assert Connection.objects.filter(name="other-db").exists()


@pytest.mark.django_db
def test_a_bad_tenant_file_is_load_tenants_error_and_no_token(static, settings, tmp_path):
    (tmp_path / "tenant.yaml").write_text("databases: [{name: x, strategy: nonsense}]\n")
    settings.TENANT_FILE = str(tmp_path / "tenant.yaml")
    with pytest.raises(CommandError) as direct:
        call_command("load_tenant", from_env=True, stdout=StringIO())
    out = StringIO()
    with pytest.raises(CommandError) as refused:
        call_command("serve_setup", stdout=out)
    assert str(refused.value) == str(direct.value)
    assert str(refused.value).endswith("Nothing was changed.")
    assert out.getvalue() == ""
    assert not Connection.objects.exists()


@pytest.mark.django_db
def test_stale_translations_are_compiled(static, settings, tmp_path):
    locale = tmp_path / "locale"
    (locale / "ja" / "LC_MESSAGES").mkdir(parents=True)
    shutil.copy(ROOT / "locale" / "ja" / "LC_MESSAGES" / "django.po", locale / "ja" / "LC_MESSAGES")
    settings.LOCALE_PATHS = [str(locale)]  # after start-up, which compiles the project's own
    _setup()
    assert (locale / "ja" / "LC_MESSAGES" / "django.mo").stat().st_size > 0


@pytest.mark.django_db
def test_the_system_checks_run_with_the_databases_as_migrate_runs_them(static):
    @checks.register(checks.Tags.database)
    def failing(databases: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
        return [checks.Error("the database is not usable", id="tests.E001")] if databases else []

    try:
        with pytest.raises(SystemCheckError, match=r"tests\.E001"):
            call_command("serve_setup", skip_checks=False, stdout=StringIO())
        assert not Connection.objects.exists()  # stopped before any step
    finally:
        checks.registry.registry.registered_checks.discard(failing)


@pytest.mark.django_db
def test_a_values_fd_that_is_not_open_is_one_line_before_any_step(static):
    read, write = os.pipe()
    os.close(read)
    os.close(write)
    with pytest.raises(CommandError, match=rf"^--values-fd {write}: not an open file descriptor$"):
        call_command("serve_setup", values_fd=write, stdout=StringIO())
    assert not Connection.objects.exists()


@pytest.mark.django_db
def test_the_values_go_to_values_fd_and_the_summary_to_stdout(static, settings, tmp_path):
    (tmp_path / "tenant.yaml").write_text(TENANT)
    settings.TENANT_FILE = str(tmp_path / "tenant.yaml")
    read, write = os.pipe()
    out = StringIO()
    try:
        call_command("serve_setup", values_fd=write, stdout=out)
    finally:
        os.close(write)
    with os.fdopen(read) as values:
        lines = values.read().splitlines()
    assert out.getvalue().splitlines()[0] == "connections: 2 created, 0 updated, 0 unchanged"
    assert "strategy" not in out.getvalue() and len(lines) == 4
    assert lines[0] == settings.PUBLIC_BASE_URL and lines[2].endswith('password policy "fair"')


# --- collectstatic, only when something changed -------------------------------------------------------------------


@pytest.mark.django_db
def test_static_files_are_collected_and_compressed_then_skipped_while_nothing_changes(static, collect_runs):
    source, root = static
    _setup()
    assert (root / "site.css").read_text() == (source / "site.css").read_text()
    assert (root / "site.css.gz").exists()
    assert len(collect_runs) == 1
    _setup()
    _setup()
    assert len(collect_runs) == 1  # a restart with nothing changed


@pytest.mark.django_db
def test_a_changed_static_file_is_collected_again(static, collect_runs):
    source, root = static
    _setup()
    (source / "site.css").write_text("body { color: red; }\n" * 50)
    later = time.time() + 10  # newer by whole seconds, as collectstatic compares them
    os.utime(source / "site.css", (later, later))
    _setup()
    assert (root / "site.css").read_text().startswith("body { color: red; }")
    assert len(collect_runs) == 2
    _setup()
    assert len(collect_runs) == 2


@pytest.mark.django_db
@pytest.mark.parametrize(
    "change",
    [
        "added source",  # a new file to collect
        "removed copy",  # someone cleaned STATIC_ROOT
        "removed compressed copy",
        "edited copy",  # collectstatic leaves a copy newer than its source as it is: run, it still does
        "setting",  # what the storage reads
        "no record",  # the first start after an upgrade, or a run stopped half-way
    ],
)
def test_anything_collectstatic_reads_or_writes_changing_runs_it_again(static, collect_runs, settings, change):
    source, root = static
    _setup()
    if change == "added source":
        (source / "new.js").write_text("let x = 1;\n" * 50)
    elif change == "removed copy":
        (root / "site.css").unlink()
    elif change == "removed compressed copy":
        (root / "site.css.gz").unlink()
    elif change == "edited copy":
        (root / "site.css").write_text("tampered")
    elif change == "setting":
        settings.WHITENOISE_SKIP_COMPRESS_EXTENSIONS = ["css"]
    else:
        root.with_name("static.collected").unlink()
    _setup()
    assert len(collect_runs) == 2
    if change not in {"setting", "edited copy"}:
        assert (root / "site.css").read_text() == (source / "site.css").read_text()
        assert (root / "site.css.gz").exists()
    _setup()
    assert len(collect_runs) == 2  # and recorded again


@pytest.mark.django_db
def test_whether_the_server_serves_from_the_apps_does_not_collect_again(static, collect_runs, settings):
    # WHITENOISE_USE_FINDERS follows whether STATIC_ROOT was collected into (config.settings), so it differs between
    # the first start and the next: it is no input of collectstatic's, and the next start must not collect again.
    _setup()
    settings.WHITENOISE_USE_FINDERS = not settings.WHITENOISE_USE_FINDERS
    _setup()
    assert len(collect_runs) == 1


# --- through serve_checks.py and serve.sh -------------------------------------------------------------------------


def _clean_env(**extra: str) -> dict[str, str]:
    keep = {"PATH", "HOME", "LANG", "TMPDIR"}
    return {**{k: v for k, v in os.environ.items() if k in keep}, **extra}


def _run_setup(data_dir: Path, **env: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """``serve_checks.py setup`` as serve.sh runs it, the values read from fd 3."""
    read, write = os.pipe()
    try:
        result = subprocess.run(
            [sys.executable, str(CHECKS), "setup", "--client-id", "serve.sh", "--values-fd", str(write)],
            cwd=ROOT,
            env=_clean_env(DATA_DIR=str(data_dir), SECRET_KEY="test-secret-key-not-for-production", **env),
            capture_output=True,
            text=True,
            timeout=300,
            pass_fds=(write,),
        )
    finally:
        os.close(write)
    with os.fdopen(read) as values:
        return result, values.read().splitlines()


def test_a_fresh_data_directory_is_migrated_collected_and_ready_and_a_restart_changes_nothing(tmp_path):
    result, values = _run_setup(tmp_path)
    assert (result.returncode, result.stdout) == (0, "")
    # The one log line of a first start, as create_connection logs it.
    assert [line.partition("[INFO] ")[2] for line in result.stderr.splitlines()] == [
        f"connections.services: connection created id={values[2].split()[0]} name={NAME} "
        "by system:manage.py create_connection"
    ], result.stderr
    assert len(values) == 4 and values[0] == "http://localhost:8000" and values[1] == "24h", values
    with sqlite3.connect(tmp_path / "db.sqlite3") as db:
        applied = set(db.execute("SELECT app, name FROM django_migrations"))
        (connection_id,) = db.execute("SELECT id FROM connections_connection WHERE name = ?", (NAME,)).fetchone()
    assert applied >= set(MigrationLoader(None, ignore_no_migrations=True).disk_migrations)
    assert values[2] == f'{connection_id} strategy auth0, password policy "good"'
    assert (tmp_path / "static" / "admin" / "css" / "base.css.gz").exists()
    assert (tmp_path / "static.collected").exists()

    again, values_again = _run_setup(tmp_path)
    assert (again.returncode, again.stdout, again.stderr) == (0, "", "")
    assert values_again[:3] == values[:3]


def test_a_bad_database_url_is_the_same_one_line_before_any_step(tmp_path):
    result, values = _run_setup(tmp_path, DATABASE_URL="postgres://ops:s3cret-pw@127.0.0.1:1/userdir")
    assert result.returncode == 1
    assert result.stderr.startswith(
        "serve.sh: DATABASE_URL=postgres://ops:***@127.0.0.1:1/userdir: cannot connect: "
    ), result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert (result.stdout, values) == ("", [])
    assert not (tmp_path / "static").exists()


def _venv_is_current() -> bool:
    return (
        subprocess.run(["bash", "-c", 'source scripts/lib.sh && venv_is_current ""'], cwd=ROOT, env=_clean_env())
    ).returncode == 0


@pytest.fixture
def serve_sh() -> Path:
    """serve.sh of this checkout, which must not install into the shared virtualenv (see test_readme_walkthrough)."""
    if not _venv_is_current():
        pytest.skip(f"{sys.prefix} has no current install stamp: run ./scripts/test.sh, which installs and stamps it")
    return ROOT / "scripts" / "serve.sh"


def test_serve_sh_with_a_bad_tenant_file_is_load_tenants_one_line_and_exit_status(serve_sh, tmp_path):
    (tmp_path / "tenant.yaml").write_text("databases: [{name: x, strategy: nonsense}]\n")
    result = subprocess.run(
        ["bash", str(serve_sh)],
        env=_clean_env(
            BIND=f"127.0.0.1:{_free_port()}", DATA_DIR=str(tmp_path / "data"), TENANT_FILE=str(tmp_path / "tenant.yaml")
        ),
        capture_output=True,
        text=True,
        timeout=120,  # were the tenant's error missed, serve.sh would serve until then
    )
    assert result.returncode == 1
    assert result.stdout == ""  # no banner
    assert result.stderr.splitlines() == [
        f"CommandError: {tmp_path / 'tenant.yaml'}: databases[0].strategy: nonsense is not a strategy of Auth0. "
        "Nothing was changed."
    ], result.stderr


@pytest.mark.live
def test_serve_sh_shows_the_tenants_summary_then_a_banner_with_the_connection_as_it_left_it(serve_sh, tmp_path):
    (tmp_path / "tenant.yaml").write_text(TENANT)
    port = _free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            ["bash", str(serve_sh)],
            env=_clean_env(
                BIND=f"127.0.0.1:{port}",
                DATA_DIR=str(tmp_path / "data"),
                TENANT_FILE=str(tmp_path / "tenant.yaml"),
                WEB_CONCURRENCY="1",
            ),
            stdout=sink,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 300  # a safety net, not a measure
        while "export PUBLIC_BASE_URL=" not in (text := log.read_text()):
            assert process.poll() is None, text
            assert time.monotonic() < deadline, text
            time.sleep(0.2)
    finally:
        stop_serve_sh(process)
    lines = text.splitlines()
    assert lines[0] == "connections: 2 created, 0 updated, 0 unchanged", text
    assert f"userdir is running on http://localhost:{port} (listening on 127.0.0.1:{port}); Ctrl-C stops it." in lines
    connection = next(line for line in lines if line.startswith(f"Connection {NAME}: "))
    assert connection.endswith('(strategy auth0, password policy "fair")'), connection
    exports = dict(line.removeprefix("export ").split("=", 1) for line in lines if line.startswith("export "))
    assert connection == f'Connection {NAME}: {exports["CONNECTION_ID"]} (strategy auth0, password policy "fair")'
    assert exports["PUBLIC_BASE_URL"] == f"http://localhost:{port}"
    assert exports["TOKEN"].count(".") == 2
