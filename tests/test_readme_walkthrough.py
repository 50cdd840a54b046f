"""The README's walk-through, run as a newcomer runs it: a fresh clone, ``./scripts/serve.sh``, then every block
marked ``<!-- walkthrough -->`` in README.md in order, each answer compared with the sample shown after it.

The clone is ``git clone`` of this checkout plus its uncommitted changes to tracked files, so what is tested is
what is being written. It shares the running virtualenv (a ``.venv`` symlink) instead of installing one: serve.sh
installs only when its stamp says the dependencies changed, so the start costs no pip run; a virtualenv last
installed from another pyproject.toml (a branch that adds a dependency) is not reinstalled from a temporary
clone, and the test says so and skips. ``scripts/test.sh``, which CI runs, stamps it.

Also checked on the same server, since it runs: the banner (issue 17, items 2 and 4), the printed mail's link
(item 3), one control socket per instance and the log lines (items 5 and 7).
"""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from clients.scopes import KNOWN_SCOPES
from tests.live import stop_serve_sh

ROOT = Path(__file__).resolve().parent.parent
ELLIPSIS = "…"
# The README shows the default address; the test serves on a free port.
README_BASE_URL = "http://localhost:8000"

pytestmark = pytest.mark.live


@dataclass
class Step:
    command: str
    line: int  # where the block starts in README.md, for the failure message
    expected: str | None = None
    retried: bool = False  # "retried while ..." in the output marker: rerun until the answer matches (60 s)


def walkthrough_steps(readme: str) -> list[Step]:
    """The marked blocks of ``readme``: each ``<!-- walkthrough -->`` block, with the ``<!-- walkthrough: output
    ... -->`` block after it as its expected answer."""
    steps: list[Step] = []
    pattern = re.compile(r"<!-- walkthrough(?P<kind>[^>]*)-->\s*\n```[a-z]*\n(?P<body>.*?)\n```", re.DOTALL)
    for match in pattern.finditer(readme):
        kind, body = match["kind"].strip(), match["body"]
        line = readme.count("\n", 0, match.start()) + 1
        if not kind:
            steps.append(Step(command=body, line=line))
        elif kind.startswith(": output"):
            assert steps and steps[-1].expected is None, f"README.md:{line}: an output block without its command"
            steps[-1].expected, steps[-1].retried = body, "retried" in kind
        else:
            raise AssertionError(f"README.md:{line}: unknown walkthrough marker {kind!r}")
    return steps


def text_matches(expected: str, actual: str) -> bool:
    """``expected`` with ``…`` standing for any text (possibly none) matches the whole of ``actual``."""
    pattern = ".*?".join(re.escape(part) for part in expected.split(ELLIPSIS))
    return re.fullmatch(pattern, actual, re.DOTALL) is not None


def json_differences(expected: Any, actual: Any, path: str = "$") -> list[str]:
    """Where ``actual`` differs from the sample ``expected``: the same keys and lengths, equal scalars, strings
    matched with ``…`` as a wildcard; ``"…"`` alone matches any value."""
    if expected == ELLIPSIS:
        return []
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path}: expected an object, got {actual!r}"]
        problems = (
            [f"{path}: keys {sorted(set(expected))} != {sorted(set(actual))}"] if set(expected) != set(actual) else []
        )
        for key in expected.keys() & actual.keys():
            problems += json_differences(expected[key], actual[key], f"{path}.{key}")
        return problems
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [f"{path}: expected {len(expected)} items, got {actual!r}"]
        return [
            p
            for i, (e, a) in enumerate(zip(expected, actual, strict=True))
            for p in json_differences(e, a, f"{path}[{i}]")
        ]
    if isinstance(expected, str):
        return (
            []
            if isinstance(actual, str) and text_matches(expected, actual)
            else [f"{path}: {actual!r} !~ {expected!r}"]
        )
    return [] if type(expected) is type(actual) and expected == actual else [f"{path}: {actual!r} != {expected!r}"]


def answer_differences(expected: str, actual: str) -> list[str]:
    try:
        sample = json.loads(expected)
    except ValueError:
        return [] if text_matches(expected.strip(), actual.strip()) else [f"{actual.strip()!r} !~ {expected.strip()!r}"]
    try:
        answer = json.loads(actual)
    except ValueError:
        return [f"not JSON: {actual!r}"]
    return json_differences(sample, answer)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def newcomer_env(**extra: str) -> dict[str, str]:
    """A shell's environment without this test run's settings (no DATABASE_URL, SECRET_KEY, DATA_DIR, ...)."""
    keep = {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "USER"}
    return {**{k: v for k, v in os.environ.items() if k in keep}, "LANG": "C.UTF-8", **extra}


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh clone of this checkout (with its uncommitted changes to tracked files), on the running venv."""
    if os.environ.get("DATABASE_URL", "").startswith("postgres"):
        # The walk-through serves on SQLite, as a newcomer's does, whatever database the suite uses: CI's SQLite
        # run covers it, and the PostgreSQL run does not spend two minutes repeating it.
        pytest.skip("the README walk-through runs on SQLite, in the SQLite run of the suite")
    target = tmp_path_factory.mktemp("walkthrough") / "userdir"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(target)], check=True)
    diff = subprocess.run(["git", "diff", "HEAD", "--binary"], cwd=ROOT, check=True, capture_output=True).stdout
    if diff:
        subprocess.run(["git", "apply", "--whitespace=nowarn"], cwd=target, input=diff, check=True)
    (target / ".venv").symlink_to(Path(sys.prefix))
    current = subprocess.run(
        ["bash", "-c", 'source scripts/lib.sh && venv_is_current ""'], cwd=target, env=newcomer_env()
    )
    if current.returncode != 0:
        pytest.skip(
            f"{sys.prefix} was not installed from this pyproject.toml/setup.py (no current install stamp), and a "
            "temporary clone must not reinstall a shared virtualenv: run ./scripts/test.sh, which installs and "
            "stamps it"
        )
    return target


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    log: Path
    port: int
    exports: dict[str, str]
    banner: str

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture(scope="module")
def server(clone: Path) -> Iterator[Server]:
    port = free_port()
    log = clone.parent / "serve.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            ["./scripts/serve.sh"],
            cwd=clone,
            env=newcomer_env(BIND=f"127.0.0.1:{port}", WEB_CONCURRENCY="1", GUNICORN_THREADS="4"),
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 300  # a safety net for a start that never ends, not a measure
        while True:
            text = log.read_text(errors="replace")
            banner = re.search(r"={20,}\n(.*?)\n={20,}", text, re.DOTALL)
            if banner:
                break
            assert process.poll() is None, f"serve.sh ended ({process.returncode}) before its banner:\n{text}"
            assert time.monotonic() < deadline, f"no banner after 300 s:\n{text}"
            time.sleep(0.5)
        exports = dict(re.findall(r"^export (\w+)=(.*)$", banner[1], re.MULTILINE))
        yield Server(process=process, log=log, port=port, exports=exports, banner=banner[1])
    finally:
        if process.poll() is None:
            stop_serve_sh(process)


def run_step(step: Step, clone: Path, state: Path, exports: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Runs one block in bash, in the clone, with what earlier blocks set (``set -a`` keeps their variables)."""
    script = f"set -a\n[ -f {state} ] && source {state}\nset -euo pipefail\n{step.command}\nexport -p > {state}\n"
    return subprocess.run(
        ["bash", "-c", script],
        cwd=clone,
        env=newcomer_env(**exports),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_readme_walkthrough_runs_in_order_on_a_fresh_clone(clone: Path, server: Server) -> None:
    """One test, one server: the checks share its start (a minute on a busy machine), and xdist would otherwise
    start one per worker."""
    check_the_banner(server)
    run_the_walkthrough(clone, server)
    check_the_printed_mail(server)
    check_the_logs(clone, server)


def run_the_walkthrough(clone: Path, server: Server) -> None:
    steps = walkthrough_steps((clone / "README.md").read_text())
    assert len(steps) >= 8, "the walk-through's blocks are marked <!-- walkthrough --> in README.md"
    assert set(server.exports) == {"TOKEN", "CONNECTION_ID", "PUBLIC_BASE_URL"}, server.banner
    base_url = server.exports["PUBLIC_BASE_URL"]
    state = clone.parent / "walkthrough.env"
    for step in steps:
        deadline = time.monotonic() + (60 if step.retried else 0)
        while True:
            result = run_step(step, clone, state, server.exports)
            where = f"README.md:{step.line}:\n{step.command}\n--- stdout\n{result.stdout}--- stderr\n{result.stderr}"
            assert result.returncode == 0, where
            problems = (
                answer_differences(step.expected.replace(README_BASE_URL, base_url), result.stdout)
                if step.expected is not None
                else []
            )
            if not problems or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert not problems, f"{where}\n--- differences\n" + "\n".join(problems)


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def check_the_banner(server: Server) -> None:
    """A token for every scope, the connection's id, the served address (issue 17, items 2 and 4)."""
    base_url = f"http://localhost:{server.port}"
    assert f"userdir is running on {base_url} (listening on 127.0.0.1:{server.port})" in server.banner
    assert f"Admin: {base_url}/admin/" in server.banner
    assert "manage.py createsuperuser" in server.banner and "manage.py issue_token --scopes" in server.banner
    assert server.exports["PUBLIC_BASE_URL"] == base_url
    assert re.fullmatch(r"con_[A-Za-z0-9]{16}", server.exports["CONNECTION_ID"])
    claims = _claims(server.exports["TOKEN"])
    assert claims["scope"].split() == list(KNOWN_SCOPES)
    # The issuer and audience follow BIND's port, and the server accepts the token it printed.
    assert (claims["iss"], claims["aud"]) == (f"{base_url}/", f"{base_url}/api/v2/")
    connection = requests.get(
        f"{base_url}/api/v2/connections/{server.exports['CONNECTION_ID']}", headers=_bearer(server), timeout=30
    )
    assert connection.status_code == 200 and connection.json()["name"] == "Username-Password-Authentication"


def _bearer(server: Server) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.exports['TOKEN']}"}


def _create(server: Server, email: str) -> requests.Response:
    body = {"connection": "Username-Password-Authentication", "email": email, "password": "Str0ng!Passw0rd"}
    return requests.post(f"http://127.0.0.1:{server.port}/api/v2/users", json=body, headers=_bearer(server), timeout=30)


def check_the_printed_mail(server: Server) -> None:
    """The console prints the mail decoded, its link whole, on one line and on the served port (items 3, 4)."""
    base_url = f"http://localhost:{server.port}"
    email = f"mail-{server.port}@example.com"
    assert _create(server, email).status_code == 201
    deadline = time.monotonic() + 30
    while not (mail := re.search(rf"^To: {re.escape(email)}$.*?^-{{79}}$", server.output(), re.M | re.S)):
        assert time.monotonic() < deadline, server.output()
        time.sleep(0.2)
    assert "=3D" not in mail[0] and "Content-Transfer-Encoding" not in mail[0]
    link = re.search(rf"^{re.escape(base_url)}/email-verification\?ticket=\S+$", mail[0], re.M)
    assert link, mail[0]
    assert requests.get(link[0], timeout=30).status_code == 200
    found = requests.get(
        f"{base_url}/api/v2/users-by-email", params={"email": email}, headers=_bearer(server), timeout=30
    )
    assert found.json()[0]["email_verified"] is True


def check_the_logs(clone: Path, server: Server) -> None:
    """An expected 409 is no WARNING; every process's lines carry time and level; one control socket (5, 7)."""
    assert [_create(server, "twice@example.com").status_code for _ in range(2)] == [201, 409]
    deadline = time.monotonic() + 10
    while '"POST /api/v2/users HTTP/1.1" 409' not in server.output():
        assert time.monotonic() < deadline, server.output()
        time.sleep(0.2)
    output = server.output()
    assert "django.request" not in output and "Conflict:" not in output, output
    stamp = r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}\] \[\d+\] \[INFO\] "
    assert re.search(stamp + r"jobs\.worker: worker \S+ running$", output, re.M), output  # run_jobs
    assert re.search(stamp + r"users\.services: user created", output, re.M), output  # a gunicorn worker
    assert re.search(stamp + r"Listening at: ", output, re.M), output  # gunicorn itself
    # Its own control socket, in its data directory, not the per-user default another instance would take.
    assert f"Control socket listening at {clone}/var/gunicorn-127.0.0.1_{server.port}.ctl" in output, output
