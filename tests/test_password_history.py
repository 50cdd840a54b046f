"""A connection's ``password_history`` policy across every path that sets a password: the API's PATCH, the reset page,
the admin, an import with upsert. What the history holds stays true: the replaced credential of every change (an
imported custom hash too), nothing once a change was made with the policy off, and never what a concurrent change
slipped past the check. Its contents are never shown.

The basic rule (the current password and the ``size - 1`` before it, Auth0's "PasswordHistoryError") is in
``test_users_update.py``; the reset page's refusal in ``test_password_reset_page.py``.
"""

from __future__ import annotations

import hashlib
import io
import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from core.actors import SYSTEM
from tests.helpers import PASSWORD_REUSED, STRONG_PASSWORD, connection_url, user_url
from users.credentials.login import log_in
from users.errors import WrongCredentials
from users.imports import import_users
from users.models import User
from users.services import update_user

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("user_connections")]

HISTORY = "history"
IMPORTED_PASSWORD = "Imported!Pass1"
NEW_PASSWORD = "N3w!Passw0rd"


def md5_custom_hash(password: str, salt: str = "pepper") -> dict[str, Any]:
    digest = hashlib.md5((salt + password).encode(), usedforsecurity=False).hexdigest()
    return {
        "algorithm": "md5",
        "hash": {"value": digest, "encoding": "hex"},
        "salt": {"value": salt, "encoding": "utf8", "position": "prefix"},
        "password": {"encoding": "utf8"},
    }


@pytest.fixture
def history_connection(make_connection):
    return make_connection(name=HISTORY, password_history={"enable": True, "size": 3})


def patch(api, user_id: str, password: str) -> Any:
    return api.patch(user_url(user_id), {"password": password}, format="json")


def logs_in(user: User, password: str) -> bool:
    try:
        log_in(connection=user.connection, username=user.email or "", password=password, actor=SYSTEM)
    except WrongCredentials:
        return False
    return True


def imported_user(connection, password: str = IMPORTED_PASSWORD, *, upsert: bool = False, **fields: Any) -> User:
    row = {"email": "imp@example.com", "custom_password_hash": md5_custom_hash(password), **fields}
    summary = import_users(
        io.BytesIO(json.dumps([row]).encode()), connection=connection, actor=SYSTEM, upsert=upsert, pipelined=False
    )
    assert summary.failed == 0
    return User.objects.select_related("connection").get(email="imp@example.com")


def test_a_replaced_imported_custom_hash_is_remembered(api, history_connection):
    user = imported_user(history_connection)
    assert patch(api, user.user_id, NEW_PASSWORD).status_code == 200
    user.refresh_from_db()
    assert user.custom_password_hash is None
    assert not logs_in(user, IMPORTED_PASSWORD) and logs_in(user, NEW_PASSWORD)
    # The imported password was the current one: the history remembers it like any other.
    refused = patch(api, user.user_id, IMPORTED_PASSWORD)
    assert (refused.status_code, refused.json()) == (400, PASSWORD_REUSED)
    assert logs_in(user, NEW_PASSWORD)


def test_the_current_imported_password_is_refused(api, history_connection):
    user = imported_user(history_connection)
    refused = patch(api, user.user_id, IMPORTED_PASSWORD)
    assert (refused.status_code, refused.json()) == (400, PASSWORD_REUSED)


def test_a_change_with_the_policy_off_forgets_the_history(api, new_user, history_connection):
    user_id = new_user(connection=HISTORY)["user_id"]
    assert patch(api, user_id, NEW_PASSWORD).status_code == 200
    assert User.objects.get(user_id=user_id).password_history is not None
    options = {"password_history": {"enable": False, "size": 3}}
    assert api.patch(connection_url(history_connection.pk), {"options": options}, format="json").status_code == 200
    assert patch(api, user_id, "Third!Pass1").status_code == 200
    # Nothing is kept while the policy is off: the hashes of the earlier passwords are gone ...
    assert User.objects.get(user_id=user_id).password_history is None
    options = {"password_history": {"enable": True, "size": 3}}
    assert api.patch(connection_url(history_connection.pk), {"options": options}, format="json").status_code == 200
    # ... so once it is on again it remembers from the change made while it was off, with no gap: the
    # password set then is the current one (refused), the ones before it are not remembered.
    refused = patch(api, user_id, "Third!Pass1")
    assert (refused.status_code, refused.json()) == (400, PASSWORD_REUSED)
    assert patch(api, user_id, STRONG_PASSWORD).status_code == 200


def test_a_concurrent_change_to_the_same_password_is_refused(api, new_user, history_connection, monkeypatch):
    """Two changes to one new password at once both pass the check made before the row is locked; the second to
    get the lock must see that the password is now the current one."""
    user_id = new_user(connection=HISTORY)["user_id"]
    from users import services

    real_hash = services.hash_password
    raced: list[bool] = []

    def hash_while_another_change_commits(password: str) -> str:
        if not raced:
            raced.append(True)  # this request has passed its check; another one now sets the same password
            update_user(user_id=user_id, data={"password": password}, actor=SYSTEM)
        return real_hash(password)

    monkeypatch.setattr(services, "hash_password", hash_while_another_change_commits)
    refused = patch(api, user_id, NEW_PASSWORD)
    assert (refused.status_code, refused.json()) == (400, PASSWORD_REUSED)
    history = User.objects.get(user_id=user_id).password_history
    assert history is not None and len(history) == 1  # the first password, replaced once


def test_an_upsert_that_changes_the_password_remembers_the_replaced_one(api, new_user, history_connection):
    user_id = new_user(email="imp@example.com", connection=HISTORY)["user_id"]
    user = imported_user(history_connection, upsert=True)
    assert user.user_id == user_id
    refused = patch(api, user_id, STRONG_PASSWORD)
    assert (refused.status_code, refused.json()) == (400, PASSWORD_REUSED)
    # The imported custom hash is the current password, and an upsert with a plain password replaces it in turn.
    row = {"email": "imp@example.com", "given_name": "Imp", "password": "Upserted!Pass1"}
    summary = import_users(
        io.BytesIO(json.dumps([row]).encode()),
        connection=history_connection,
        actor=SYSTEM,
        upsert=True,
        pipelined=False,
    )
    assert summary.updated == 1
    for remembered in (IMPORTED_PASSWORD, STRONG_PASSWORD, "Upserted!Pass1"):
        refused = patch(api, user_id, remembered)
        assert (refused.status_code, refused.json()) == (400, PASSWORD_REUSED), remembered


def test_an_upsert_with_the_policy_off_forgets_the_history(api, make_connection, new_user):
    connection = make_connection(name=HISTORY, password_history={"enable": True, "size": 3})
    user_id = new_user(email="imp@example.com", connection=HISTORY)["user_id"]
    assert patch(api, user_id, NEW_PASSWORD).status_code == 200
    options = {"password_history": {"enable": False}}
    assert api.patch(connection_url(connection.pk), {"options": options}, format="json").status_code == 200
    connection.refresh_from_db()
    imported_user(connection, upsert=True)
    assert User.objects.get(user_id=user_id).password_history is None


def test_the_history_is_never_shown(api, admin_client, new_user, history_connection):
    user_id = new_user(connection=HISTORY)["user_id"]
    assert patch(api, user_id, NEW_PASSWORD).status_code == 200
    user = User.objects.get(user_id=user_id)
    assert user.password_history is not None
    (remembered,) = user.password_history
    salt = remembered[7:29]  # a bcrypt hash's salt: enough to recognise it in a page
    shown = [
        api.get(user_url(user_id)).content.decode(),
        api.get("/api/v2/users", {"q": f'user_id:"{user_id}"'}).content.decode(),
        patch(api, user_id, STRONG_PASSWORD).content.decode(),
        api.get("/api/v2/logs").content.decode(),
        api.get(f"/api/v2/users/{user_id}/logs").content.decode(),
        admin_client.get(f"/admin/users/user/{user.pk}/change/").content.decode(),
        admin_client.get(f"/admin/users/user/{user.pk}/history/").content.decode(),
        admin_client.get("/admin/users/user/", {"password_history__contains": salt}).content.decode(),
    ]
    for page in shown:
        assert salt not in page


def test_the_admin_refuses_a_remembered_password_and_its_change_drops_the_imported_hash(
    admin_client, history_connection
):
    user = imported_user(history_connection)
    url = f"/admin/users/user/{user.pk}/change/"
    form = {"email": user.email, "name": user.name, "nickname": user.nickname, "picture": user.picture}
    refused = admin_client.post(url, {**form, "new_password": IMPORTED_PASSWORD})
    assert refused.status_code == 200
    assert refused.context["adminform"].form.errors["new_password"] == ["Password has previously been used"]
    assert admin_client.post(url, {**form, "new_password": NEW_PASSWORD}).status_code == 302
    user.refresh_from_db()
    assert not logs_in(user, IMPORTED_PASSWORD) and logs_in(user, NEW_PASSWORD)
    refused = admin_client.post(url, {**form, "new_password": IMPORTED_PASSWORD})
    assert refused.context["adminform"].form.errors["new_password"] == ["Password has previously been used"]


def reset_on_the_page(client, api, user_id: str, password: str) -> Any:
    response = api.post("/api/v2/tickets/password-change", {"user_id": user_id}, format="json")
    (token,) = parse_qs(urlsplit(response.json()["ticket"]).query)["ticket"]
    return client.post("/lo/reset", {"ticket": token, "password": password, "password_confirmation": password})


def test_the_reset_page_remembers_a_replaced_imported_hash_and_drops_it(api, client, history_connection):
    user = imported_user(history_connection)
    refused = reset_on_the_page(client, api, user.user_id, IMPORTED_PASSWORD)
    assert refused.status_code == 400 and "Password has previously been used" in refused.text
    assert reset_on_the_page(client, api, user.user_id, NEW_PASSWORD).status_code == 200
    user.refresh_from_db()
    assert user.custom_password_hash is None
    assert not logs_in(user, IMPORTED_PASSWORD) and logs_in(user, NEW_PASSWORD)
    refused = reset_on_the_page(client, api, user.user_id, IMPORTED_PASSWORD)
    assert refused.status_code == 400 and "Password has previously been used" in refused.text


def test_an_upsert_replacing_an_imported_hash_drops_it(history_connection):
    user = imported_user(history_connection)
    summary = import_users(
        io.BytesIO(json.dumps([{"email": "imp@example.com", "given_name": "I", "password": NEW_PASSWORD}]).encode()),
        connection=history_connection,
        actor=SYSTEM,
        upsert=True,
        pipelined=False,
    )
    assert summary.updated == 1
    user.refresh_from_db()
    assert user.custom_password_hash is None
    assert not logs_in(user, IMPORTED_PASSWORD) and logs_in(user, NEW_PASSWORD)
