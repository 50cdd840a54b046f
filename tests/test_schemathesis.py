"""Schemathesis against our own OpenAPI document, over a live server, for every operation.

Every check runs, stateful links included: no 5xx, documented status codes, content types and headers, every
response conforming to its schema, invalid data refused. ``schemathesis.toml`` says which statuses count as
a refusal and as an acceptance, and why.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from clients.tokens import OPERATOR, issue_token
from tests.live import ROOT, gunicorn_server

pytestmark = [pytest.mark.live]

SCHEMATHESIS = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
ALL_SCOPES = [
    "create:users", "read:users", "update:users", "delete:users",
    "create:connections", "read:connections", "update:connections", "delete:connections", "read:logs",
    "create:event_streams", "read:event_streams", "update:event_streams", "delete:event_streams",
    "read:event_deliveries", "update:event_deliveries",
]  # fmt: skip


@pytest.mark.skipif(SCHEMATHESIS is None, reason="schemathesis is not installed (pip install '.[dev]')")
@pytest.mark.parametrize("seed", ["20261123", "1"])
def test_every_operation_survives_schemathesis(transactional_db, make_connection, tmp_path, seed):
    make_connection()
    token = issue_token(client_id="schemathesis", scopes=ALL_SCOPES, grant_type=OPERATOR)
    env = {"MANAGEMENT_API_RATE_LIMIT": "off", "SIGNUP_RATE_LIMIT": "off", "LOG_LEVEL": "ERROR"}
    command = [
        SCHEMATHESIS, "--config-file", str(ROOT / "schemathesis.toml"), "run", "--header",
        f"Authorization: Bearer {token}", "--checks", "all", "--exclude-checks", "use_after_free",
        "--max-examples", "15", "--seed", seed,
        "--workers", "2", "--report-dir", str(tmp_path),
    ]  # fmt: skip
    with gunicorn_server(workers=2, threads=4, env=env) as url:
        result = subprocess.run(
            [*command, f"{url}/api/v2/openapi.json"],
            capture_output=True,
            text=True,
            timeout=600,
            cwd=tmp_path,  # its example cache stays out of the project, so every run starts from the seed
            env={**os.environ, "NO_COLOR": "1"},
        )
    print(result.stdout[-2500:])
    assert result.returncode == 0, result.stdout
