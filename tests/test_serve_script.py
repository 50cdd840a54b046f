"""``scripts/serve.sh`` before it serves: the port checked first, install only when the dependencies changed, a
bad ``DATABASE_URL`` in one line, the public URL a ``BIND`` implies (issue 17, items 4 and 5). The running server
(banner, control socket, logs) is checked by ``tests/test_readme_walkthrough.py``."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHECKS = ROOT / "scripts" / "serve_checks.py"


def _clean_env(**extra: str) -> dict[str, str]:
    keep = {"PATH", "HOME", "LANG", "TMPDIR"}
    return {**{k: v for k, v in os.environ.items() if k in keep}, **extra}


def test_a_taken_port_fails_in_one_line_before_any_install_or_banner(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        started = time.monotonic()
        result = subprocess.run(
            ["bash", str(ROOT / "scripts" / "serve.sh")],
            env=_clean_env(BIND=f"127.0.0.1:{port}", DATA_DIR=str(tmp_path)),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert result.stdout == ""  # no install line, no banner
    assert result.stderr.splitlines() == [
        f"serve.sh: 127.0.0.1:{port} is already in use (another server?): stop it, or choose another address, "
        f"e.g. BIND=127.0.0.1:{port + 1} ./scripts/serve.sh"
    ]
    assert time.monotonic() - started < 20  # a Python start, not a pip run (a bound, not a measure)
    assert list(tmp_path.iterdir()) == []  # nothing was set up


def test_a_free_port_passes_the_check() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = subprocess.run([sys.executable, str(CHECKS), "port", f"127.0.0.1:{port}"], capture_output=True, text=True)
    assert (result.returncode, result.stderr) == (0, "")


@pytest.mark.parametrize(
    ("bind", "url"),
    [
        ("127.0.0.1:8000", "http://localhost:8000"),  # the settings' default: manage.py elsewhere agrees
        ("127.0.0.1:8001", "http://localhost:8001"),
        ("0.0.0.0:9000", "http://localhost:9000"),
        ("[::1]:8002", "http://localhost:8002"),
        ("users.internal:8080", "http://users.internal:8080"),
        ("10.1.2.3:80", "http://10.1.2.3:80"),
        ("[fd00::5]:8003", "http://[fd00::5]:8003"),
        ("127.0.0.1", "http://localhost:8000"),  # gunicorn's default port
        ("unix:/run/userdir.sock", ""),  # nothing to derive: the settings' default stays
    ],
)
def test_the_public_url_follows_bind(bind: str, url: str) -> None:
    result = subprocess.run([sys.executable, str(CHECKS), "public-url", bind], capture_output=True, text=True)
    assert (result.returncode, result.stdout.strip()) == (0, url)


def test_a_bad_port_in_bind_is_one_line() -> None:
    result = subprocess.run([sys.executable, str(CHECKS), "port", "127.0.0.1:http"], capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr == "serve.sh: BIND=127.0.0.1:http: the port must be a number from 1 to 65535\n"


@pytest.mark.parametrize(
    ("url", "line"),
    [
        (
            "postgresx://ops:s3cret-pw@127.0.0.1/userdir",
            "serve.sh: DATABASE_URL is not a database URL: Scheme 'postgresx://' is unknown.",
        ),
        (
            "sqlite:////proc/userdir/db.sqlite3",
            "serve.sh: DATABASE_URL (or DATA_DIR): cannot create the SQLite database /proc/userdir/db.sqlite3: ",
        ),
        (
            "postgres://ops:s3cret-pw@127.0.0.1:1/userdir",
            "serve.sh: DATABASE_URL=postgres://ops:***@127.0.0.1:1/userdir: cannot connect: ",
        ),
        (  # no database name: Django's ImproperlyConfigured when connecting, not a traceback
            "postgres://ops:s3cret-pw@127.0.0.1:1/",
            "serve.sh: DATABASE_URL=postgres://ops:***@127.0.0.1:1/: cannot connect: settings.DATABASES is improperly",
        ),
        (  # a backend whose driver is not installed: Django's two-line message, as one line naming the variable
            "mysql://ops:s3cret-pw@127.0.0.1/userdir",
            "serve.sh: DATABASE_URL=mysql://ops:***@127.0.0.1/userdir: Error loading MySQLdb module. Did you install",
        ),
    ],
)
def test_a_bad_database_url_is_one_line_naming_it_without_its_password(tmp_path: Path, url: str, line: str) -> None:
    if url.startswith("mysql:") and importlib.util.find_spec("MySQLdb") is not None:
        pytest.skip("mysqlclient is installed here: the MySQL URL gets as far as connecting")
    result = subprocess.run(
        [sys.executable, str(CHECKS), "database"],
        cwd=ROOT,
        env=_clean_env(DATABASE_URL=url, DATA_DIR=str(tmp_path), SECRET_KEY="test-secret-key-not-for-production"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith(line), result.stderr
    assert "s3cret-pw" not in result.stderr


def test_a_good_database_passes_the_check(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(CHECKS), "database"],
        cwd=ROOT,
        env=_clean_env(DATA_DIR=str(tmp_path), SECRET_KEY="test-secret-key-not-for-production"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (result.returncode, result.stderr) == (0, "")


# --- installing only when the dependencies changed ----------------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project directory with serve.sh's lib.sh and a ``.venv`` whose Python records pip runs instead of
    installing (everything else goes to the real interpreter)."""
    shutil.copytree(ROOT / "scripts", tmp_path / "scripts")
    for name in ("pyproject.toml", "setup.py"):
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    python = tmp_path / ".venv" / "bin" / "python"
    python.write_text(
        "#!/usr/bin/env bash\n"
        f'if [ "$1 $2" = "-m pip" ]; then echo "$*" >> {tmp_path}/pip.log; exit 0; fi\n'
        f'exec {sys.executable} "$@"\n'
    )
    python.chmod(0o755)
    return tmp_path


def _ensure(project: Path, extras: str = "") -> list[str]:
    subprocess.run(
        ["bash", "-c", f'source scripts/lib.sh && ensure_venv "{extras}"'],
        cwd=project,
        env=_clean_env(PYTHON=sys.executable),
        check=True,
        capture_output=True,
    )
    log = project / "pip.log"
    runs = log.read_text().splitlines() if log.exists() else []
    log.unlink(missing_ok=True)
    return runs


def test_the_venv_is_installed_again_only_when_the_dependencies_change(project: Path) -> None:
    assert _ensure(project)[-1].endswith("install --quiet --disable-pip-version-check -e .")
    assert _ensure(project) == []  # a second start runs no pip at all
    with (project / "pyproject.toml").open("a") as pyproject:
        pyproject.write("\n# a dependency changed\n")
    assert _ensure(project)[-1].endswith("-e .")
    assert _ensure(project) == []
    (project / "setup.py").write_text((project / "setup.py").read_text() + "\n")
    assert _ensure(project)[-1].endswith("-e .")


def test_a_dev_install_serves_the_plain_one_but_not_the_other_way_round(project: Path) -> None:
    assert _ensure(project)[-1].endswith("-e .")
    assert _ensure(project, "[dev]")[-1].endswith("-e .[dev]")  # the plain install lacks the dev tools
    assert _ensure(project, "[dev]") == []
    assert _ensure(project) == []  # scripts/test.sh's install has everything serve.sh needs


@pytest.mark.parametrize(
    ("options", "line"),
    [
        ({"passwordPolicy": "fair"}, 'con_X strategy auth0, password policy "fair"'),  # as a TENANT_FILE set it
        ({"passwordPolicy": "good"}, 'con_X strategy auth0, password policy "good"'),
        ({}, "con_X strategy sms"),
    ],
)
def test_the_banner_describes_the_connection_as_it_is(options: dict[str, str], line: str) -> None:
    from tenants.management.commands.serve_setup import connection_line

    strategy = "auth0" if options else "sms"
    document = json.dumps({"id": "con_X", "name": "n", "strategy": strategy, "options": options})
    assert connection_line(document) == line
    # serve.sh prints what the check says, not a fixed policy.
    assert 'password policy "good"' not in (ROOT / "scripts" / "serve.sh").read_text()
