"""Shared fixtures: a real API client, connections made through the real service, tokens issued by the real token
code, users made through the real API, and one gunicorn server per session for the live tests. Plain helpers (common
values, URLs, whole error bodies) are in ``tests/helpers.py``; the live-server tools in ``tests/live.py``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from rest_framework.test import APIClient

from clients.models import Client
from clients.services import create_client
from clients.tokens import OPERATOR, issue_token
from connections.models import Connection
from connections.services import create_connection
from core.actors import SYSTEM
from tests.helpers import DB, EMAIL, OTHER_DB, SMS, STRONG_PASSWORD, USERNAME_DB, USERS

# Every scope of the management API, for the ``api`` client.
MANAGEMENT_SCOPES = (
    "create:users read:users update:users delete:users "
    "create:connections read:connections update:connections delete:connections read:logs create:user_tickets"
)


def pytest_sessionstart(session: pytest.Session) -> None:
    """Translations are compiled from the .po files for every run, so no stale .mo is ever tested."""
    from pathlib import Path

    from django.conf import settings

    from core.translations import compile_catalogues

    compile_catalogues([Path(p) for p in settings.LOCALE_PATHS])


def pytest_configure(config: pytest.Config) -> None:
    """With ``-n``, deal tests out one at a time (xdist's ``--maxschedchunk 1``) unless the caller chose otherwise.

    xdist's default first hands each worker a quarter of its share in one consecutive block, so the live-server
    tests (run first, see below) all landed on one worker, which was still busy a minute after the others had
    finished. Dealt one at a time, the long tests spread over the workers and the short ones fill in around them.
    """
    if getattr(config.option, "maxschedchunk", 0) is None:
        config.option.maxschedchunk = 1


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the live-server tests first. Each takes seconds (the fuzz loop and a schemathesis run about 15 s): dealt
    out last, one keeps its worker busy after the others have finished; dealt out first, the other workers fill in
    around it. The order is the same in every worker, as xdist requires."""
    items.sort(key=lambda item: item.get_closest_marker("live") is None)


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
def scoped_client(token: Callable[..., str]) -> Callable[[str | None], APIClient]:
    """A fresh API client with a token holding only ``scopes`` (or no token at all with ``None``)."""

    def make(scopes: str | None) -> APIClient:
        client = APIClient()
        if scopes is not None:
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {token(scopes)}")
        return client

    return make


@pytest.fixture
def api(scoped_client: Callable[[str | None], APIClient]) -> APIClient:
    """An API client whose token holds every management scope."""
    return scoped_client(MANAGEMENT_SCOPES)


@pytest.fixture
def admin_api(api_client: APIClient, token: Callable[..., str]) -> APIClient:
    """An API client holding a token with ``create:users``."""
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token('create:users')}")
    return api_client


@pytest.fixture
def create(admin_api: APIClient) -> Callable[..., Any]:
    """POST a JSON body to /api/v2/users with a create:users token."""

    def post(body: Any, **kwargs: Any) -> Any:
        return admin_api.post(USERS, body, format="json", **kwargs)

    return post


@pytest.fixture
def user_connections(make_connection: Callable[..., Connection]) -> None:
    """The connections the users API tests read and change users in (names in ``tests.helpers``)."""
    make_connection(name=DB)
    make_connection(name=OTHER_DB)
    make_connection(name=USERNAME_DB, requires_username=True, validation={"username": {"min": 3, "max": 15}})
    make_connection(name=SMS, strategy="sms")
    make_connection(name=EMAIL, strategy="email")


@pytest.fixture
def new_user(api: APIClient) -> Callable[..., dict[str, Any]]:
    """Create a user through ``POST /api/v2/users`` and return the created profile; a database connection's user
    gets ``STRONG_PASSWORD`` unless the fields say otherwise, a passwordless one's none."""

    def make(email: str | None = "ann@example.com", connection: str = DB, **fields: Any) -> dict[str, Any]:
        body: dict[str, Any] = {"connection": connection, **fields}
        if Connection.objects.get(name=connection).strategy == "auth0":
            body.setdefault("password", STRONG_PASSWORD)
        if email is not None:
            body["email"] = email
        response = api.post(USERS, body, format="json")
        assert response.status_code == 201, response.json()
        return response.json()

    return make


@pytest.fixture
def signup_app(connection: Connection) -> Client:
    """An active client (no secret needed) with the default database connection enabled, for sign-ups."""
    client, _secret = create_client(name="web", scopes="", connections=[connection.name], actor=SYSTEM)
    return client


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


@pytest.fixture
def run_tasks(db: None) -> Callable[[], int]:
    """Run the queued tasks that are ready (event deliveries, e-mails, import jobs) in this process, as
    ``manage.py run_jobs --once`` does, and return how many ran. Requests only queue them now: a test that expects
    a mail or a delivery after a request runs this first."""

    def run() -> int:
        from jobs.taskworker import TaskWorker

        worker = TaskWorker(worker_id="test-worker", interval=0, batch=True)
        worker.run()
        return worker._run_tasks

    return run


@pytest.fixture
def capture_tasks(run_tasks: Callable[[], int]) -> Callable[..., Any]:
    """What ``django_capture_on_commit_callbacks`` was to mails sent after commit, for mails (and deliveries) that
    are now tasks queued in the request's transaction: ``with capture_tasks(execute=True) as queued:`` runs the
    ready tasks when the block ends; ``queued`` lists one runner per task the block queued (each runs the ready
    tasks: call it when, and under what clock, the test decides)."""
    from contextlib import contextmanager

    from django_tasks_db.models import DBTaskResult

    @contextmanager
    def capture(*, execute: bool = False) -> Iterator[list[Callable[[], int]]]:
        before = set(DBTaskResult.objects.values_list("pk", flat=True))
        queued: list[Callable[[], int]] = []
        yield queued
        queued.extend(run_tasks for _ in DBTaskResult.objects.exclude(pk__in=before).filter(status="READY"))
        if execute:
            run_tasks()

    return capture
