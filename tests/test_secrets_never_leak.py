"""Plaintext passwords and client secrets never reach logs, responses, the audit log, the admin or the database,
whichever entry point took them and whether DEBUG is on or off."""

from __future__ import annotations

import json
import logging

import pytest
from django.core.management import call_command
from django.db import connection as db
from django.test import override_settings

from clients.services import create_client
from core.actors import SYSTEM
from users.models import User

pytestmark = pytest.mark.django_db

PASSWORDS = {
    "api": "Api!Secret-Pass1",
    "v1": "V1!Secret-Pass2",
    "signup": "Signup!Secret-Pass3",
    "admin": "Admin!Secret-Pass4",
    "patch": "Patch!Secret-Pass5",
    "weak": "weakpass",
}


def _database_dump() -> str:
    rows = []
    with db.cursor() as cursor:
        for table in db.introspection.table_names():
            cursor.execute(f'SELECT * FROM "{table}"')  # noqa: S608 - introspected table names
            rows.extend(cursor.fetchall())
    return json.dumps(rows, default=str)


@pytest.mark.parametrize("debug", [False, True])
def test_no_plaintext_secret_anywhere(api_client, admin_client, token, connection, caplog, capsys, debug):
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    with override_settings(DEBUG=debug):
        client, client_secret = create_client(
            name="web", scopes="read:users", connections=[connection.name], actor=SYSTEM
        )
        api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token('create:users update:users')}")
        for path, body in (
            ("/api/v2/users", {"connection": connection.name, "email": "a@example.com", "password": PASSWORDS["api"]}),
            ("/v1/users", {"email": "b@example.com", "password": PASSWORDS["v1"]}),
            ("/api/v2/users", {"connection": connection.name, "email": "w@example.com", "password": PASSWORDS["weak"]}),
        ):
            seen.append(api_client.post(path, body, format="json").content.decode())
        user = User.objects.get(email="a@example.com")
        patch = {"password": PASSWORDS["patch"]}
        seen.append(api_client.patch(f"/api/v2/users/{user.user_id}", patch, format="json").content.decode())
        api_client.credentials()
        signup = {
            "client_id": client.client_id,
            "connection": connection.name,
            "email": "c@example.com",
            "password": PASSWORDS["signup"],
        }
        seen.append(api_client.post("/dbconnections/signup", signup, format="json").content.decode())
        seen.append(
            api_client.post("/dbconnections/signup", {**signup, "password": "weak"}, format="json").content.decode()
        )
        seen.append(
            api_client.post(
                "/oauth/token",
                {"grant_type": "client_credentials", "client_id": client.client_id, "client_secret": client_secret},
                format="json",
            ).content.decode()
        )
        add = f"/admin/users/user/add/?connection={connection.pk}"
        form = {"email": "d@example.com", "password": PASSWORDS["admin"], "user_metadata": "", "app_metadata": ""}
        admin_client.post(add, form)
        admin_client.post(add, {**form, "email": "e@example.com", "password": PASSWORDS["weak"]})
        for page in ("/admin/users/user/", f"/admin/users/user/{user.pk}/change/", "/admin/audit/event/",
                     f"/admin/clients/client/{client.pk}/change/"):  # fmt: skip
            seen.append(admin_client.get(page).content.decode())
        call_command("dumpdata", stdout=open("/dev/null", "w"))  # noqa: SIM115 - exercises serialisation

    everything = "\n".join([*seen, caplog.text, *capsys.readouterr(), _database_dump()])
    assert User.objects.count() == 4  # api, v1, sign-up and admin; the weak ones were refused
    for secret in [*PASSWORDS.values(), client_secret]:
        assert secret not in everything, secret
