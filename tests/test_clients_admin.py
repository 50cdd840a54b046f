"""Clients in the admin: the secret is shown once, on the response page, never in a cookie; rotation and
deactivation are actions."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.messages.storage.cookie import CookieStorage

from clients.models import Client
from clients.services import authenticate_client, create_client
from core.actors import SYSTEM

pytestmark = pytest.mark.django_db


def _shown_secrets(response: Any) -> list[tuple[Client, str]]:
    assert response.status_code == 200
    assert "admin/clients/client/secrets.html" in [t.name for t in response.templates]
    return list(response.context["shown"])


def _assert_only_in_the_page(response: Any, admin_client: Any, secret: str) -> None:
    """The secret is in the page's HTML and nowhere a browser keeps it: no cookie, no cacheable response."""
    assert secret in response.text
    for name, morsel in response.cookies.items():
        assert secret not in morsel.OutputString(), name
    for name, morsel in admin_client.cookies.items():
        assert secret not in morsel.value, name
    assert "no-store" in response.headers["Cache-Control"]


def test_adding_a_client_shows_its_secret_once_on_the_page_and_stores_only_the_hash(admin_client, connection):
    response = admin_client.post(
        "/admin/clients/client/add/",
        {
            "name": "Backoffice",
            "scopes": ["create:users", "read:users"],
            "connections": [connection.pk],
            "is_active": "on",
        },
    )
    client = Client.objects.get(name="Backoffice")
    assert client.scopes == ["create:users", "read:users"]
    assert list(client.connections.all()) == [connection]
    ((shown_client, secret),) = _shown_secrets(response)
    assert shown_client.pk == client.pk
    assert authenticate_client(client_id=client.client_id, secret=secret) == client
    assert secret not in client.secret_hash
    _assert_only_in_the_page(response, admin_client, secret)

    for page in (f"/admin/clients/client/{client.pk}/change/", "/admin/clients/client/"):
        text = admin_client.get(page).text
        assert secret not in text
        assert client.secret_hash not in text


def test_no_cookie_of_the_answer_holds_a_working_secret(admin_client, rf):
    """Whatever page answers, nothing in its cookies (the messages cookie decoded) authenticates the client."""
    response = admin_client.post("/admin/clients/client/add/", {"name": "ops", "is_active": "on"})
    client = Client.objects.get(name="ops")
    texts = []
    for name, morsel in response.cookies.items():
        texts.append(morsel.value)
        if name == CookieStorage.cookie_name:  # the messages this cookie carries, as the next request reads them
            request = rf.get("/")
            request.COOKIES[name] = morsel.value
            texts.extend(str(message) for message in CookieStorage(request))
    candidates = {token for text in texts for token in re.findall(r"[A-Za-z0-9_-]{20,}", text)}
    assert [c for c in candidates if authenticate_client(client_id=client.client_id, secret=c)] == []


def test_rotating_shows_each_new_secret_once_on_the_page(admin_client):
    first, _ = create_client(name="ops", scopes="read:users", actor=SYSTEM)
    second, _ = create_client(name="billing", scopes="read:users", actor=SYSTEM)
    old_hashes = {first.pk: first.secret_hash, second.pk: second.secret_hash}
    response = admin_client.post(
        "/admin/clients/client/", {"action": "rotate_secret", "_selected_action": [first.pk, second.pk]}
    )
    shown = _shown_secrets(response)
    assert [client.name for client, _secret in shown] == ["billing", "ops"]
    for client, secret in shown:
        client.refresh_from_db()
        assert client.secret_hash != old_hashes[client.pk]
        assert authenticate_client(client_id=client.client_id, secret=secret) == client
        _assert_only_in_the_page(response, admin_client, secret)
        assert secret not in admin_client.get("/admin/clients/client/").text


def test_deactivate_and_activate_actions(admin_client):
    client, _secret = create_client(name="ops", scopes="read:users", actor=SYSTEM)
    admin_client.post("/admin/clients/client/", {"action": "deactivate", "_selected_action": [client.pk]})
    client.refresh_from_db()
    assert client.is_active is False
    admin_client.post("/admin/clients/client/", {"action": "activate", "_selected_action": [client.pk]})
    client.refresh_from_db()
    assert client.is_active is True


def test_changing_a_client_goes_through_the_services(admin_client, connection, caplog):
    """The change form calls ``update_client`` and ``set_client_active`` (their checks and log lines), not a plain
    model save: only what changed is passed on."""
    client, _secret = create_client(name="ops", scopes="read:users", actor=SYSTEM)
    caplog.set_level("INFO", logger="clients.services")
    response = admin_client.post(
        f"/admin/clients/client/{client.pk}/change/",
        {"name": "ops renamed", "scopes": ["read:users", "create:users"], "connections": [connection.pk]},
    )
    assert response.status_code == 302, response.context and response.context["adminform"].form.errors
    client.refresh_from_db()
    assert client.name == "ops renamed"
    assert client.scopes == ["read:users", "create:users"]
    assert list(client.connections.all()) == [connection]
    assert not client.is_active
    messages = [r.getMessage() for r in caplog.records if r.name == "clients.services"]
    assert any(
        m.startswith(f"client updated client_id={client.client_id} fields=name,scopes,connections") for m in messages
    ), messages
    assert any(m.startswith(f"client deactivated client_id={client.client_id}") for m in messages), messages
