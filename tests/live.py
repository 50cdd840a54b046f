"""A real gunicorn server on the test database, for tests that need concurrency or a real HTTP client."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.request import Request, urlopen

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url() -> str:
    """The URL of the database the tests are using right now (the test database, not the main one)."""
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        name = str(db["NAME"])
        if name == ":memory:" or name.startswith("file:memorydb"):
            raise RuntimeError("live-server tests need a file-based SQLite test database")
        return f"sqlite:///{name}"
    user = db.get("USER") or ""
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{auth}{db.get('HOST') or 'localhost'}{port}/{db['NAME']}"


@contextmanager
def gunicorn_server(
    workers: int = 2, threads: int = 4, env: dict[str, str] | None = None, pids: list[int] | None = None
) -> Iterator[str]:
    """Start ``gunicorn config.wsgi`` on a free port; yield its base URL; stop it. ``pids`` gets the master's."""
    port = _free_port()
    server_env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": database_url(),
        "SECRET_KEY": settings.SECRET_KEY,
        "DATA_DIR": str(settings.DATA_DIR),
        "BCRYPT_ROUNDS": str(settings.BCRYPT_ROUNDS),
        # The tests' own key prefix (one per xdist worker), so the per-test Redis clean-up reaches the server's keys.
        "CACHE_KEY_PREFIX": settings.CACHE_KEY_PREFIX,
        "DEBUG": "false",
        "LOG_LEVEL": "WARNING",
        **(env or {}),
    }
    log = (Path(settings.DATA_DIR) / f"gunicorn-{port}.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--timeout",
            "60",
            # Each test server would otherwise take the per-user default control socket (~/.gunicorn/gunicorn.ctl)
            # from the one before it, a running `serve.sh` aside.
            "--no-control-socket",
        ],
        cwd=ROOT,
        env=server_env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, so a worker its master left behind can be ended too
    )
    if pids is not None:
        pids.append(process.pid)
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"gunicorn exited early; see {log.name}")
            try:
                urlopen(f"{base_url}/health", timeout=1)  # noqa: S310 - loopback only
                break
            except HTTPError:  # up, but unhealthy (a test may start it so on purpose)
                break
            except URLError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"gunicorn did not answer in 30 s; see {log.name}") from None
                time.sleep(0.1)
            except OSError:
                time.sleep(0.1)
        yield base_url
    finally:
        # SIGQUIT is gunicorn's quick shutdown: the test is done with the server, and the graceful one (SIGTERM)
        # waits seconds for idle keep-alive connections.
        process.send_signal(signal.SIGQUIT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        # A worker that missed its master's quit (seen once, busy with an unreachable Redis) would outlive the
        # test as an orphan: end whatever is left of the server's process group.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


def stop_serve_sh(process: subprocess.Popen[bytes]) -> None:
    """Stop a ``scripts/serve.sh`` started in a session of its own (``start_new_session=True``): SIGTERM, which it
    passes on to gunicorn and the worker; what is left after a minute is killed with its session."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def worker_pids(master: int) -> list[int]:
    """The pids of a gunicorn master's worker processes (its children, from /proc)."""
    children = Path(f"/proc/{master}/task/{master}/children")
    return [int(pid) for pid in children.read_text().split()] if children.exists() else []


def post_json(
    url: str, body: object, headers: dict[str, str] | None = None, method: str = "POST"
) -> tuple[int, Any, dict[str, str]]:
    """Send ``body`` as JSON to a live server; return the status, the decoded JSON answer and the headers, for
    error statuses too."""
    request = Request(  # noqa: S310 - loopback test servers
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
        method=method,
    )
    try:
        with urlopen(request, timeout=60) as response:  # noqa: S310
            return response.status, json.loads(response.read()), dict(response.headers)
    except HTTPError as error:
        return error.code, json.loads(error.read()), dict(error.headers)
