"""A user search runs within ``USER_SEARCH_TIMEOUT_MS`` (``core.db.time_limit``): past it the query is stopped and
the answer is 503 ``temporarily_unavailable`` in the management envelope (Auth0 stops a search after two seconds with
503), never a 500, and the database connection goes on serving requests.

PostgreSQL: ``SET LOCAL statement_timeout`` around the search's queries; the forced slow query is a search waiting
for a table lock another connection holds (``statement_timeout`` counts lock waits), and ``pg_sleep``. SQLite: a
progress handler interrupts a statement past the deadline (an endless recursive query here).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import psycopg
import pytest
from django.db import connection, transaction

from core.db import time_limit
from core.errors import QueryTimedOut
from tests.helpers import USERS, management_error

TIMED_OUT = management_error(
    503,
    "The search took too long and was stopped. Narrow the query (fewer terms, no leading wildcard) or try again later.",
    "temporarily_unavailable",
)
# A few seconds of work on SQLite: it ends (and the test fails) if nothing interrupts it.
SLOW_SQLITE = "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n LIMIT 3000000) SELECT count(*) FROM n"


def _sleep_sql(seconds: float) -> str:
    return f"SELECT pg_sleep({seconds})" if connection.vendor == "postgresql" else SLOW_SQLITE


def _still_usable() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)


@pytest.mark.django_db
def test_a_query_past_the_limit_is_stopped_and_the_connection_stays_usable():
    with pytest.raises(QueryTimedOut), time_limit(50), connection.cursor() as cursor:
        cursor.execute(_sleep_sql(3))
    _still_usable()


@pytest.mark.django_db
def test_a_query_within_the_limit_runs_and_the_setting_is_put_back():
    with transaction.atomic():  # an enclosing transaction: SET LOCAL would outlive the block without the reset
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("SHOW statement_timeout")
                before = cursor.fetchone()[0]
        with time_limit(5000), connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            if connection.vendor == "postgresql":
                cursor.execute("SHOW statement_timeout")
                assert cursor.fetchone()[0] == "5s"
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("SHOW statement_timeout")
                assert cursor.fetchone()[0] == before
            else:
                cursor.execute("SELECT count(*) FROM (SELECT 1 UNION ALL SELECT 2)")  # no handler left behind
                assert cursor.fetchone() == (2,)


@pytest.mark.django_db
def test_zero_means_no_limit():
    with time_limit(0), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SHOW statement_timeout")
            assert cursor.fetchone()[0] == "0"
            cursor.execute("SELECT pg_sleep(0.2)")
        else:
            cursor.execute("WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n LIMIT 300000) SELECT 1")


@pytest.mark.django_db
def test_other_database_errors_are_not_taken_for_a_timeout():
    with pytest.raises(Exception) as caught, time_limit(5000), connection.cursor() as cursor:
        cursor.execute("SELECT * FROM no_such_table")
    assert not isinstance(caught.value, QueryTimedOut)
    _still_usable()


# --- through the API ------------------------------------------------------------------------------------------------


@pytest.fixture
def locked_users_table(transactional_db: None, user_connections: None) -> Iterator[None]:
    """Another connection holds users_user locked for 5 s, so a search waits until its statement timeout
    (PostgreSQL); without one it would be answered once the lock goes, and the tests expecting 503 fail."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite readers do not wait for a writer's lock; the progress handler is tested above")
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    with psycopg.connect(**params, autocommit=False) as other:
        other.execute("LOCK TABLE users_user IN ACCESS EXCLUSIVE MODE")
        release = threading.Timer(5, other.rollback)
        release.start()
        try:
            yield
        finally:
            release.cancel()
            release.join()
            other.rollback()


def _search(api, q: str, **params: str):
    return api.get(f"{USERS}?{urlencode({'q': q, 'search_engine': 'v3', **params})}")


def test_a_search_past_the_limit_is_503_and_the_next_request_is_served(api, settings, locked_users_table):
    settings.USER_SEARCH_TIMEOUT_MS = 200
    response = _search(api, "name:jane")
    assert response.status_code == 503, response.content
    assert response.json() == TIMED_OUT
    assert "Retry-After" not in response
    response = _search(api, "name:*ane*", include_totals="true")
    assert response.status_code == 503
    assert response.json() == TIMED_OUT
    # The same process and connection answer the next request (outside the lock's table).
    assert api.get("/api/v2/connections").status_code == 200


def test_a_search_is_served_once_the_lock_is_gone(api, settings, transactional_db, user_connections):
    settings.USER_SEARCH_TIMEOUT_MS = 200
    assert _search(api, "name:jane").status_code == 200
    assert _search(api, "name:*ane*", include_totals="true").status_code == 200


def test_the_setting_defaults_to_two_seconds_and_refuses_a_negative_value(tmp_path):
    code = "import django; from django.conf import settings; django.setup(); print(settings.USER_SEARCH_TIMEOUT_MS)"
    env = {k: v for k, v in os.environ.items() if k not in {"USER_SEARCH_TIMEOUT_MS", "DATABASE_URL"}}
    env.update(DJANGO_SETTINGS_MODULE="config.settings", DATA_DIR=str(tmp_path), SECRET_KEY="x")
    root = Path(__file__).resolve().parent.parent

    def run(**extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", code], cwd=root, env={**env, **extra}, capture_output=True, text=True, timeout=60
        )

    assert run().stdout.strip() == "2000"
    assert run(USER_SEARCH_TIMEOUT_MS="0").stdout.strip() == "0"
    refused = run(USER_SEARCH_TIMEOUT_MS="-1")
    assert refused.returncode != 0
    assert "USER_SEARCH_TIMEOUT_MS must be 0 or more" in refused.stderr
