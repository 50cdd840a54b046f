"""Shared fixtures: a real API client, connections made through the real service, tokens issued by the
real token code."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from rest_framework.test import APIClient

from clients.tokens import OPERATOR, issue_token
from connections.models import Connection
from connections.services import create_connection
from core.actors import SYSTEM

STRONG_PASSWORD = "Str0ng!Passw0rd"


def pytest_sessionstart(session: pytest.Session) -> None:
    """Translations are compiled from the .po files for every run, so no stale .mo is ever tested."""
    from pathlib import Path

    from django.conf import settings

    from core.translations import compile_catalogues

    compile_catalogues([Path(p) for p in settings.LOCALE_PATHS])


@pytest.fixture(autouse=True)
def _full_rate_limit_buckets() -> None:
    """Every test starts with full rate-limit buckets: the database's roll back with each test; Redis's (when the
    suite runs with ``REDIS_URL``) are deleted here."""
    from django.conf import settings

    if settings.REDIS_URL:
        from ratelimits.buckets import RedisStore

        store = RedisStore(settings.REDIS_URL, settings.CACHE_KEY_PREFIX)
        for key in store.client.scan_iter(match=store._key("*")):
            store.client.delete(key)


@pytest.fixture(autouse=True)
def _default_language() -> Iterator[None]:
    """LocaleMiddleware leaves the last request's language active in the thread: reset it after each test."""
    from django.utils import translation

    yield
    translation.deactivate()


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def token() -> Callable[..., str]:
    def make(scopes: str = "create:users", **kwargs: Any) -> str:
        kwargs.setdefault("grant_type", OPERATOR)
        return issue_token(client_id=kwargs.pop("client_id", "test-client"), scopes=scopes.split(), **kwargs)

    return make


@pytest.fixture
def make_connection(db: None) -> Callable[..., Connection]:
    def make(name: str = "Username-Password-Authentication", strategy: str = "auth0", **options: Any) -> Connection:
        return create_connection(name=name, strategy=strategy, options=options, actor=SYSTEM)

    return make


@pytest.fixture
def connection(make_connection: Callable[..., Connection]) -> Connection:
    return make_connection()


@pytest.fixture
def admin_api(api_client: APIClient, token: Callable[..., str]) -> APIClient:
    """An API client holding a token with ``create:users``."""
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token('create:users')}")
    return api_client


@pytest.fixture
def create(admin_api: APIClient) -> Callable[..., Any]:
    """POST a JSON body to /api/v2/users with a create:users token."""

    def post(body: Any, **kwargs: Any) -> Any:
        return admin_api.post("/api/v2/users", body, format="json", **kwargs)

    return post


@pytest.fixture(scope="session")
def _session_live_server(django_db_setup: None) -> Iterator[str]:
    """One gunicorn server (several workers) on the test database for the whole session (per xdist worker).

    Starting gunicorn costs about a second, once per test that needs a server; the data it serves is whatever is
    committed in the test database, which ``transactional_db`` empties after each test, so one server can serve
    every test that uses the default settings. It stops before ``django_db_setup`` drops the test database.
    """
    from tests.live import gunicorn_server

    with gunicorn_server(workers=3, threads=4) as url:
        yield url


@pytest.fixture
def live_server_url(transactional_db: None, _session_live_server: str) -> str:
    """The base URL of the session's gunicorn server on the test database, with the default settings; rows it
    writes are visible here and rows committed here are visible to it. A test that needs other settings (rate
    limits, worker counts, REDIS_URL) starts its own with ``tests.live.gunicorn_server``."""
    return _session_live_server
