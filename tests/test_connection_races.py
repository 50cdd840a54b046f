"""Clients and connections changed at the same time, on PostgreSQL (SQLite runs one write transaction at a time): a
client's change linking a connection and the connection's change linking that client do not deadlock, and a client
linking a connection that is being deleted gets a 400 naming it, never an IntegrityError at commit."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from django.db import connection as db
from django.db import connections, transaction

from clients.models import Client
from clients.services import create_client, update_client
from connections.models import Connection
from connections.services import create_connection, delete_connection, update_connection
from connections.signals import connection_deleting
from core.actors import SYSTEM
from core.errors import PayloadValidationError
from tenants.loader import load_tenant
from tenants.reader import Document

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def postgresql_only() -> None:
    if db.vendor != "postgresql":
        pytest.skip("SQLite runs one write transaction at a time")


@pytest.fixture
def pair() -> tuple[Client, Connection]:
    connection = create_connection(name="racing", strategy="auth0", options={}, actor=SYSTEM)
    client, _secret = create_client(name="racer", scopes="read:users", actor=SYSTEM)
    return client, connection


def _in_thread(work: Callable[[], Any], results: list[Any]) -> threading.Thread:
    def run() -> None:
        try:
            results.append(work())
        except Exception as exc:  # the test reads it
            results.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_client_change_and_a_connection_change_linking_each_other_both_succeed(pair) -> None:
    client, connection = pair
    other = create_connection(name="other", strategy="auth0", options={}, actor=SYSTEM)
    linked, go_on = threading.Event(), threading.Event()
    results: list[Any] = []

    def change_the_client() -> Client:
        with transaction.atomic():
            changed = update_client(client_id=client.pk, connections=[connection.name, other.name], actor=SYSTEM)
            linked.set()  # the client row and the connections are locked, its link rows written, not committed
            go_on.wait(10)
            time.sleep(0.3)  # the connection's change has locked its row and waits on this one's link row
            return changed  # the commit checks the link's foreign keys: the connection's row, share-locked

    thread = _in_thread(change_the_client, results)
    try:
        assert linked.wait(10)
        with transaction.atomic():
            with db.cursor() as cursor:
                cursor.execute("SET LOCAL deadlock_timeout = '100ms'")
            go_on.set()  # the client's transaction commits while this one links the client
            update_connection(connection_id=connection.pk, enabled_clients=[client.pk], actor=SYSTEM)
    finally:
        go_on.set()
        thread.join(10)
    assert not isinstance(results[0], Exception), results
    assert set(Client.objects.get(pk=client.pk).connections.values_list("name", flat=True)) == {"racing", "other"}


def test_the_connection_change_waits_for_no_client_lock(pair) -> None:
    """The connection's lock is FOR NO KEY UPDATE: while a client's change holds the client's row, linking that
    client from the connection checks its foreign key without waiting."""
    client, connection = pair
    with _client_held(client), transaction.atomic():
        with db.cursor() as cursor:
            cursor.execute("SET LOCAL lock_timeout = '500ms'")
        update_connection(connection_id=connection.pk, enabled_clients=[client.pk], actor=SYSTEM)
        with db.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the foreign keys checked now, under the timeout
    assert list(Connection.objects.get(pk=connection.pk).clients.all()) == [client]


@contextmanager
def _client_held(client: Client) -> Iterator[None]:
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with transaction.atomic():
            update_client(client_id=client.pk, name="renamed", actor=SYSTEM)
            held.set()
            release.wait(10)

    thread = _in_thread(hold, [])
    try:
        assert held.wait(10)
        yield
    finally:
        release.set()
        thread.join(10)


@pytest.mark.parametrize("change", ["update", "create"])
def test_a_client_linking_a_connection_being_deleted_gets_a_400(pair, change: str) -> None:
    client, connection = pair
    deleting, go_on = threading.Event(), threading.Event()
    results: list[Any] = []

    def pause(**_kwargs: Any) -> None:
        deleting.set()  # the connection's row is locked FOR UPDATE, the deletion not yet committed
        go_on.wait(10)

    def link() -> Any:
        if change == "update":
            return update_client(client_id=client.pk, connections=[connection.name], actor=SYSTEM)
        return create_client(name="late", scopes="read:users", connections=[connection.name], actor=SYSTEM)

    connection_deleting.connect(pause, dispatch_uid="test.pause")
    try:
        deleter = _in_thread(lambda: delete_connection(connection_id=connection.pk, actor=SYSTEM), [])
        assert deleting.wait(10)
        linker = _in_thread(link, results)
        linker.join(1)  # it waits on the deletion's lock
        go_on.set()
        deleter.join(10)
        linker.join(10)
    finally:
        go_on.set()
        connection_deleting.disconnect(dispatch_uid="test.pause")
    (outcome,) = results
    assert isinstance(outcome, PayloadValidationError), outcome
    assert "Unknown connections: racing" in str(outcome)
    assert not Connection.objects.filter(pk=connection.pk).exists()
    assert not Client.objects.filter(name="late").exists()


def test_a_tenant_load_and_a_client_change_lock_the_connections_in_one_order(pair, monkeypatch) -> None:
    """``load_tenant`` changes the file's connections in one transaction; a client's change enabling two of them
    locks them in id order: the loader locks them in that order too, whatever the file's, so neither waits on the
    other in a cycle (a deadlock on PostgreSQL, one of them a 500)."""
    client, first = pair
    second = create_connection(name="second", strategy="auth0", options={}, actor=SYSTEM)
    low, high = sorted([first, second], key=lambda connection: connection.pk)
    databases = [{"name": c.name, "strategy": "auth0", "options": {"disable_signup": True}} for c in (high, low)]
    document = Document(sections={"databases": databases}, base_dir=Path("."))
    changed, go_on = threading.Event(), threading.Event()
    results: list[Any] = []

    def update_then_pause(**kwargs: Any) -> Connection:
        connection = update_connection(**kwargs)
        changed.set()  # the loader holds this connection's row
        go_on.wait(10)
        return connection

    monkeypatch.setattr("tenants.loader.update_connection", update_then_pause)
    loader = _in_thread(lambda: load_tenant(document, actor=SYSTEM), results)
    try:
        assert changed.wait(10), results
        linker = _in_thread(
            lambda: update_client(client_id=client.pk, connections=[low.name, high.name], actor=SYSTEM), results
        )
        linker.join(1)  # it holds the client and the first connection by id, and waits on the loader's
        go_on.set()
        loader.join(10)
        linker.join(10)
    finally:
        go_on.set()
    assert not [outcome for outcome in results if isinstance(outcome, Exception)], results
    assert sorted(c.pk for c in Client.objects.get(pk=client.pk).connections.all()) == [low.pk, high.pk]
