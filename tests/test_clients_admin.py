"""Clients in the admin: the secret is shown once at creation, rotation and deactivation are actions."""

from __future__ import annotations

import pytest

from clients.models import Client
from clients.services import create_client
from config.actors import SYSTEM

pytestmark = pytest.mark.django_db


def _messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def test_adding_a_client_shows_its_secret_once_and_stores_only_the_hash(admin_client, connection):
    response = admin_client.post(
        "/admin/clients/client/add/",
        {
            "name": "Backoffice",
            "scopes": ["create:users", "read:users"],
            "connections": [connection.pk],
            "is_active": "on",
        },
        follow=True,
    )
    assert response.status_code == 200
    client = Client.objects.get(name="Backoffice")
    assert client.scopes == ["create:users", "read:users"]
    assert list(client.connections.all()) == [connection]
    (shown,) = [m for m in _messages(response) if "secret" in m.lower()]
    secret = shown.rsplit(" ", 1)[-1]
    assert len(secret) >= 40
    assert secret not in client.secret_hash

    page = admin_client.get(f"/admin/clients/client/{client.pk}/change/")
    assert secret not in page.text
    assert client.secret_hash not in page.text


def test_rotate_and_deactivate_actions(admin_client):
    client, _secret = create_client(name="ops", scopes="read:users", actor=SYSTEM)
    old_hash = client.secret_hash
    response = admin_client.post(
        "/admin/clients/client/",
        {"action": "rotate_secret", "_selected_action": [client.pk]},
        follow=True,
    )
    assert any("New secret" in m for m in _messages(response))
    client.refresh_from_db()
    assert client.secret_hash != old_hash

    admin_client.post("/admin/clients/client/", {"action": "deactivate", "_selected_action": [client.pk]})
    client.refresh_from_db()
    assert client.is_active is False
    admin_client.post("/admin/clients/client/", {"action": "activate", "_selected_action": [client.pk]})
    client.refresh_from_db()
    assert client.is_active is True
