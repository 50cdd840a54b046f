"""No password is hashed or checked while a transaction is open, on every path that sets or checks one: the reset
page, the API's PATCH, the admin's change and add forms, ``POST /api/v2/users``, ``/v1/users``, sign-up and the
password grant's re-hash of an imported hash; and no client secret (``create_client``, ``rotate_client_secret``). A
transaction held across bcrypt (tens of milliseconds a hash, up to
24 checks with the password history) holds SQLite's database-wide write lock, or PostgreSQL's row locks, all that
time. A change that commits between the checks and the write is still caught, checked again outside.

These tests run without the test's own transaction (``transaction=True``), so ``in_atomic_block`` means a
transaction the code under test opened.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

import bcrypt
import pytest
from django.db import connection as db

from core.actors import SYSTEM
from core.hashing import bcrypt_hash, bcrypt_verify
from tests.helpers import PASSWORD_REUSED, STRONG_PASSWORD, user_url
from users import services
from users.credentials import history, login
from users.credentials.login import log_in
from users.models import Ticket, User

pytestmark = pytest.mark.django_db(transaction=True)

HISTORY = "history"
NEW_PASSWORD = "N3w!Passw0rd-42"
EARLIER_PASSWORD = "Earl1er!Passw0rd"


class Work:
    """What was hashed or checked, and what of it ran inside a transaction."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.in_transaction: list[str] = []

    def wrap(self, name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def watched(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            if db.in_atomic_block:
                self.in_transaction.append(name)  # recorded, not raised: a view could turn an exception into a page
            return real(*args, **kwargs)

        return watched


@pytest.fixture
def watch(monkeypatch) -> Callable[[], Any]:
    """``with watch() as work:`` records every bcrypt hash and check (and every stored-password check, imported
    schemes too) made inside the block."""

    @contextmanager
    def watching() -> Iterator[Work]:
        work = Work()
        with monkeypatch.context() as patch:
            patch.setattr(bcrypt, "hashpw", work.wrap("bcrypt.hashpw", bcrypt.hashpw))
            patch.setattr(bcrypt, "checkpw", work.wrap("bcrypt.checkpw", bcrypt.checkpw))
            for module in (history, login):
                patch.setattr(
                    module, "verify_stored_password", work.wrap("verify_stored_password", module.verify_stored_password)
                )
            yield work

    return watching


@pytest.fixture
def history_connection(make_connection):
    return make_connection(name=HISTORY, password_history={"enable": True, "size": 5})


@pytest.fixture
def remembering_user(api, history_connection, new_user) -> dict[str, Any]:
    """A user of the history connection with two passwords in its history."""
    user = new_user(connection=HISTORY)
    for password in (EARLIER_PASSWORD, "Th1rd!Passw0rd"):
        assert api.patch(user_url(user["user_id"]), {"password": password}, format="json").status_code == 200
    return user


def ticket_for(api, user_id: str) -> str:
    response = api.post("/api/v2/tickets/password-change", {"user_id": user_id}, format="json")
    assert response.status_code == 201, response.json()
    (token,) = parse_qs(urlsplit(response.json()["ticket"]).query)["ticket"]
    return token


def reset(client, token: str, password: str) -> Any:
    return client.post("/lo/reset", {"ticket": token, "password": password, "password_confirmation": password})


def stored_hash(user_id: str) -> str:
    return User.objects.get(user_id=user_id).password_hash or ""


# --- every path -----------------------------------------------------------------------------------------------


def test_the_reset_page_hashes_and_checks_the_history_before_its_transaction(api, client, remembering_user, watch):
    token = ticket_for(api, remembering_user["user_id"])
    with watch() as work:
        refused = reset(client, token, EARLIER_PASSWORD)
        changed = reset(client, token, NEW_PASSWORD)
    assert refused.status_code == 400 and "Password has previously been used" in refused.text
    assert changed.status_code == 200 and "Password changed" in changed.text
    assert work.calls.count("bcrypt.hashpw") == 1 and work.calls.count("bcrypt.checkpw") >= 5
    assert work.in_transaction == []
    assert bcrypt_verify(NEW_PASSWORD, stored_hash(remembering_user["user_id"]))
    assert Ticket.objects.get().used_at is not None


def test_the_apis_patch_hashes_and_checks_the_history_before_its_transaction(api, remembering_user, watch):
    url = user_url(remembering_user["user_id"])
    with watch() as work:
        refused = api.patch(url, {"password": EARLIER_PASSWORD}, format="json")
        changed = api.patch(url, {"password": NEW_PASSWORD, "user_metadata": {"plan": "gold"}}, format="json")
    assert (refused.status_code, refused.json()) == (400, PASSWORD_REUSED)
    assert changed.status_code == 200
    assert "bcrypt.hashpw" in work.calls and work.in_transaction == []


def test_the_admins_forms_hash_and_check_before_any_transaction(admin_client, connection, remembering_user, watch):
    user = User.objects.get(user_id=remembering_user["user_id"])
    url = f"/admin/users/user/{user.pk}/change/"
    form = {"email": user.email, "name": user.name, "nickname": user.nickname, "picture": user.picture}
    with watch() as work:
        refused = admin_client.post(url, {**form, "new_password": EARLIER_PASSWORD})
        changed = admin_client.post(url, {**form, "new_password": NEW_PASSWORD})
        added = admin_client.post(
            f"/admin/users/user/add/?connection={connection.pk}",
            {"email": "bob@example.com", "password": STRONG_PASSWORD, "user_metadata": "", "app_metadata": ""},
        )
    assert refused.context["adminform"].form.errors["new_password"] == ["Password has previously been used"]
    assert (changed.status_code, added.status_code) == (302, 302)
    assert bcrypt_verify(NEW_PASSWORD, stored_hash(user.user_id))
    assert User.objects.filter(email="bob@example.com").exists()
    assert work.calls.count("bcrypt.hashpw") == 2 and work.in_transaction == []


def test_creates_and_sign_ups_hash_before_their_transaction(api, api_client, connection, signup_app, watch):
    with watch() as work:
        created = api.post(
            "/api/v2/users",
            {"connection": connection.name, "email": "a@example.com", "password": STRONG_PASSWORD},
            format="json",
        )
        v1 = api.post("/v1/users", {"email": "b@example.com", "password": STRONG_PASSWORD}, format="json")
        signed_up = api_client.post(
            "/dbconnections/signup",
            {
                "client_id": signup_app.client_id,
                "connection": connection.name,
                "email": "c@example.com",
                "password": STRONG_PASSWORD,
            },
            format="json",
        )
    assert (created.status_code, v1.status_code, signed_up.status_code) == (201, 201, 200)
    assert work.calls.count("bcrypt.hashpw") == 3 and work.in_transaction == []


def test_the_password_grant_rehashes_an_imported_hash_before_its_transaction(api, connection, new_user, watch):
    user_id = new_user()["user_id"]
    salt = "pepper"
    custom = {
        "algorithm": "md5",
        "hash": {"value": hashlib.md5((salt + "Imported!1").encode()).hexdigest(), "encoding": "hex"},  # noqa: S324
        "salt": {"value": salt, "encoding": "utf8", "position": "prefix"},
        "password": {"encoding": "utf8"},
    }
    User.objects.filter(user_id=user_id).update(password_hash=None, custom_password_hash=custom)
    with watch() as work:
        log_in(connection=connection, username="ann@example.com", password="Imported!1", actor=SYSTEM)
    assert work.calls == ["verify_stored_password", "bcrypt.hashpw"] and work.in_transaction == []
    assert User.objects.get(user_id=user_id).custom_password_hash is None


# --- a change committed between the checks and the write ------------------------------------------------------


def _meanwhile(monkeypatch, change: Callable[[int], object]) -> list[int]:
    """Run ``change(n)`` (another request's committed write) each time a password change has passed its reuse check,
    before its transaction: after the first check and after each check made again. Returns the checks counted."""
    real = services._refuse_reuse
    checks: list[int] = []

    def check_then_change(*args: Any, **kwargs: Any) -> None:
        assert not db.in_atomic_block
        checks.append(len(checks))
        real(*args, **kwargs)
        change(len(checks))

    monkeypatch.setattr(services, "_refuse_reuse", check_then_change)
    return checks


def test_a_concurrent_change_to_the_same_password_is_checked_again_outside_the_transaction(
    api, remembering_user, monkeypatch, watch
):
    user_id = remembering_user["user_id"]
    same = bcrypt_hash(NEW_PASSWORD)
    checks = _meanwhile(monkeypatch, lambda n: User.objects.filter(user_id=user_id).update(password_hash=same))
    with watch() as work:
        refused = api.patch(user_url(user_id), {"password": NEW_PASSWORD}, format="json")
    assert (refused.status_code, refused.json()) == (400, PASSWORD_REUSED)
    assert checks == [0, 1]  # checked, then checked again against what the other change stored
    assert work.in_transaction == []
    assert User.objects.get(user_id=user_id).password_hash == same


def test_a_concurrent_change_to_another_password_is_remembered(api, remembering_user, monkeypatch, watch):
    user_id = remembering_user["user_id"]
    other = bcrypt_hash("Oth3r!Passw0rd")

    def change_once(n: int) -> None:
        if n == 1:
            User.objects.filter(user_id=user_id).update(password_hash=other)

    checks = _meanwhile(monkeypatch, change_once)
    with watch() as work:
        changed = api.patch(user_url(user_id), {"password": NEW_PASSWORD}, format="json")
    assert changed.status_code == 200
    assert checks == [0, 1] and work.in_transaction == []
    stored = User.objects.get(user_id=user_id)
    assert bcrypt_verify(NEW_PASSWORD, stored.password_hash or "")
    assert stored.password_history is not None and stored.password_history[0] == other


def test_a_change_that_keeps_losing_races_is_checked_under_the_lock(api, remembering_user, monkeypatch):
    """Past ``_RECHECKS_OUTSIDE`` lost races the check is made under the row lock: a concurrent change to the same
    password is caught however often the race is lost."""
    user_id = remembering_user["user_id"]
    hashes = [bcrypt_hash(f"Racer!{n}Passw0rd") for n in range(services._RECHECKS_OUTSIDE)] + [
        bcrypt_hash(NEW_PASSWORD)
    ]
    checks = _meanwhile(monkeypatch, lambda n: User.objects.filter(user_id=user_id).update(password_hash=hashes[n - 1]))
    refused = api.patch(user_url(user_id), {"password": NEW_PASSWORD}, format="json")
    assert (refused.status_code, refused.json()) == (400, PASSWORD_REUSED)
    assert len(checks) == services._RECHECKS_OUTSIDE + 1


def test_a_password_changed_while_the_reset_page_hashes_spends_the_ticket(api, client, remembering_user, monkeypatch):
    user_id = remembering_user["user_id"]
    token = ticket_for(api, user_id)
    elsewhere = bcrypt_hash("Chang3d!Elsewhere")
    _meanwhile(monkeypatch, lambda n: User.objects.filter(user_id=user_id).update(password_hash=elsewhere))
    response = reset(client, token, NEW_PASSWORD)
    assert response.status_code == 400 and "already been used" in response.text
    assert stored_hash(user_id) == elsewhere  # the reset wrote nothing
    assert Ticket.objects.get().used_at is None  # its claim was rolled back; the changed password spends it


def test_client_secrets_are_hashed_outside_a_transaction(watch) -> None:
    # A client's secret is bcrypt-hashed too: create_client and rotate_client_secret held their transaction (on
    # SQLite the database-wide write lock) across the hash.
    from clients.services import create_client, rotate_client_secret

    with watch() as work:
        client, _secret = create_client(name="outside", scopes=["read:users"], actor=SYSTEM)
        rotate_client_secret(client_id=client.client_id, actor=SYSTEM)
        rotate_client_secret(client_id=client.client_id, actor=SYSTEM, secret="a-fixed-ci-secret-0123456789")
    assert work.calls.count("bcrypt.hashpw") == 3
    assert work.in_transaction == []


def test_the_admins_client_add_hashes_the_secret_outside_a_transaction(admin_client, watch) -> None:
    # Django's admin wraps an add's POST in a transaction: create_client's hash ran inside it (on SQLite, whose
    # transactions begin IMMEDIATE, with the database-wide write lock held). Inactive on creation stays so.
    from clients.models import Client

    with watch() as work:
        response = admin_client.post("/admin/clients/client/add/", {"name": "outside"})
    assert response.status_code == 200
    assert work.calls.count("bcrypt.hashpw") == 1
    assert work.in_transaction == []
    assert Client.objects.get(name="outside").is_active is False


# --- what a change that raced leaves behind -----------------------------------------------------------------------


@pytest.fixture
def updates_stream() -> Callable[[str], int]:
    """An enabled stream subscribed to ``user.updated``; returns a counter of the outbox's events for a user id."""
    from events.models import EventStream, PendingEvents

    EventStream.objects.create(
        name="updates",
        subscriptions=[{"event_type": "user.updated"}],
        webhook_endpoint="https://example.invalid/hook",
        authorization_method="bearer",
        authorization_secret_encrypted="x",
        signing_secret_encrypted="x",
    )
    return lambda user_id: sum(user_id in row.events for row in PendingEvents.objects.filter(type="user.updated"))


def test_a_user_deleted_between_the_check_and_the_write_is_a_404(api, client, remembering_user, monkeypatch):
    user_id = remembering_user["user_id"]
    token = ticket_for(api, user_id)
    _meanwhile(monkeypatch, lambda n: User.objects.filter(user_id=user_id).delete())
    response = api.patch(user_url(user_id), {"password": NEW_PASSWORD, "user_metadata": {"a": 1}}, format="json")
    assert (response.status_code, response.json()["errorCode"]) == (404, "inexistent_user")
    assert reset(client, token, NEW_PASSWORD).status_code == 400  # the ticket went with its user: no 500


def test_transactions_given_up_leave_no_audit_entry_event_or_mail(remembering_user, monkeypatch, updates_stream):
    from django_tasks_db.models import DBTaskResult

    from audit.models import Event as AuditEvent

    user_id = remembering_user["user_id"]
    pk = User.objects.get(user_id=user_id).pk
    mails = DBTaskResult.objects.filter(task_path__contains="verification", args_kwargs__args__0=pk)
    audited, mailed = AuditEvent.objects.filter(user_id=user_id).count(), mails.count()

    def change_twice(n: int) -> None:
        if n <= services._RECHECKS_OUTSIDE:  # each attempt but the last loses its race
            User.objects.filter(user_id=user_id).update(password_hash=bcrypt_hash(f"Racer!{n}Passw0rd"))

    checks = _meanwhile(monkeypatch, change_twice)
    # A new password and e-mail in one change, as the admin's form makes it (the API takes them in two calls, as
    # Auth0 does): each given-up attempt would otherwise leave its own audit entry, event and mail.
    body = {"password": NEW_PASSWORD, "email": "moved@example.com", "verify_email": True, "user_metadata": {"k": 1}}
    services.update_user(user_id=user_id, data=body, actor=SYSTEM)  # type: ignore[arg-type]  # a UserChanges
    assert len(checks) == services._RECHECKS_OUTSIDE + 1
    assert AuditEvent.objects.filter(user_id=user_id).count() == audited + 1
    assert updates_stream(user_id) == 1
    assert mails.count() == mailed + 1
    stored = User.objects.get(user_id=user_id)
    assert (stored.email, stored.user_metadata) == ("moved@example.com", {"k": 1})


def test_the_admins_change_without_djangos_transaction_writes_all_or_nothing(
    admin_client, remembering_user, updates_stream
):
    """A refused change writes nothing (no profile field, no LogEntry, no event); an accepted one writes each once."""
    from django.contrib.admin.models import LogEntry

    user = User.objects.get(user_id=remembering_user["user_id"])
    url = f"/admin/users/user/{user.pk}/change/"
    form = {"email": user.email, "name": "Renamed", "nickname": user.nickname, "picture": user.picture}
    refused = admin_client.post(url, {**form, "new_password": EARLIER_PASSWORD})
    assert refused.context["adminform"].form.errors["new_password"] == ["Password has previously been used"]
    stored = User.objects.get(pk=user.pk)
    assert (stored.name, stored.password_hash, stored.updated_at) == (user.name, user.password_hash, user.updated_at)
    assert (LogEntry.objects.count(), updates_stream(user.user_id)) == (0, 0)
    changed = admin_client.post(url, {**form, "new_password": NEW_PASSWORD})
    assert changed.status_code == 302
    assert User.objects.get(pk=user.pk).name == "Renamed"
    assert (LogEntry.objects.count(), updates_stream(user.user_id)) == (1, 1)
