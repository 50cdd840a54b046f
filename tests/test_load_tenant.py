"""``manage.py load_tenant``: a tenant in the Auth0 Deploy CLI's format, applied idempotently and all or nothing."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.test import override_settings
from rest_framework.test import APIClient

from audit.models import Event
from clients.errors import ClientAlreadyExists
from clients.models import Client
from clients.services import create_client
from connections.models import Connection
from connections.services import connection_as_json
from core.actors import SYSTEM
from core.errors import PayloadValidationError
from core.hashing import bcrypt_verify
from tenants import reader
from users.models import User

pytestmark = pytest.mark.django_db

CLIENT_ID = "ci0ps0000000000000000000000000CI"
SECRET = "ci-secret-never-printed-0123456789"
USER_PASSWORD = "Ci-User-Passw0rd!-never-printed"

# The shape `a0deploy export --format yaml` writes (examples/yaml/tenant.yaml of auth0/auth0-deploy-cli): database
# connections under `databases`, the others under `connections`, enabled clients and grants by client name, the
# Management API's audience with the tenant's domain as a keyword, and plenty this service does not model.
EXPORT = """\
tenant:
  friendly_name: 'CI ##ENVIRONMENT## tenant'
  enabled_locales:
    - en
pages:
  - name: login
    html: pages/login.html
clients:
  - name: ci-ops
    app_type: non_interactive
    client_id: '##CI_CLIENT_ID##'
    client_secret: '##CI_CLIENT_SECRET##'
    grant_types:
      - client_credentials
    jwt_configuration:
      alg: RS256
      lifetime_in_seconds: 36000
    token_endpoint_auth_method: client_secret_post
  - name: My SPA
    app_type: spa
    callbacks:
      - 'http://localhost:3000/callback'
    allowed_origins: '@@ALLOWED_ORIGINS@@'
    grant_types:
      - authorization_code
      - implicit
      - refresh_token
databases:
  - name: Username-Password-Authentication
    strategy: auth0
    enabled_clients:
      - ci-ops
      - My SPA
      - DeployCl1ClientIdNotExp0rted0000
    is_domain_connection: false
    options:
      mfa:
        active: true
        return_enroll_settings: true
      import_mode: false
      passwordPolicy: fair
      password_complexity_options:
        min_length: 10
      password_history:
        enable: true
        size: 5
      brute_force_protection: true
      requires_username: false
      strategy_version: 2
      disable_signup: false
    realms:
      - Username-Password-Authentication
connections:
  - name: sms
    strategy: sms
    enabled_clients:
      - My SPA
    options:
      disable_signup: true
      totp:
        length: 6
        time_step: 300
      name: sms
  - name: google-oauth2
    strategy: google-oauth2
    enabled_clients:
      - My SPA
    options:
      email: true
      profile: true
clientGrants:
  - client_id: ci-ops
    audience: 'https://##AUTH0_DOMAIN##/api/v2/'
    scope:
      - create:users
      - read:users
      - update:users
      - read:clients
  - client_id: ci-ops
    audience: 'https://##ENVIRONMENT##.example.com/api'
    scope:
      - read:things
resourceServers:
  - name: My API
    identifier: 'https://##ENVIRONMENT##.example.com/api'
    scopes:
      - value: read:things
        description: read things
users:
  - connection: Username-Password-Authentication
    users:
      - email: ci-user@example.com
        email_verified: true
        password: '##CI_USER_PASSWORD##'
        user_metadata:
          team: ci
"""


@pytest.fixture
def keywords(monkeypatch: pytest.MonkeyPatch) -> None:
    """The keyword values a CI job would set in its environment."""
    monkeypatch.setenv("CI_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("CI_CLIENT_SECRET", SECRET)
    monkeypatch.setenv("CI_USER_PASSWORD", USER_PASSWORD)
    monkeypatch.setenv("ENVIRONMENT", "ci")
    monkeypatch.setenv("AUTH0_KEYWORD_REPLACE_MAPPINGS", json.dumps({"ALLOWED_ORIGINS": ["http://localhost:3000"]}))


def _write(tmp_path: Path, text: str | bytes, name: str = "tenant.yaml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def _load(path: Path, *args: str) -> list[str]:
    out = StringIO()
    call_command("load_tenant", str(path), *args, stdout=out)
    return out.getvalue().splitlines()


def _refused(path: Path, *args: str) -> str:
    """The command's error, which must be one line; and nothing may have been written."""
    with pytest.raises(CommandError) as caught:
        call_command("load_tenant", str(path), *args, stdout=StringIO())
    message = str(caught.value)
    assert "\n" not in message, message
    assert "Traceback" not in message
    assert message.endswith("Nothing was changed."), message
    return message


def _state() -> dict[str, Any]:
    """Everything a load could touch, as comparable values."""
    return {
        "connections": sorted(Connection.objects.values_list("name", "strategy", "options", "updated_at")),
        "enabled": sorted(Connection.clients.through.objects.values_list("connection_id", "client_id")),
        "clients": sorted(
            Client.objects.values_list("client_id", "name", "scopes", "secret_hash", "token_generation", "updated_at")
        ),
        "users": sorted(User.objects.values_list("user_id", "email", "password_hash", "updated_at")),
        "events": Event.objects.count(),
    }


def _token(client_id: str, secret: str, **extra: str) -> Any:
    body = {
        "grant_type": "client_credentials",
        "client_id": client_id,
        "client_secret": secret,
        "audience": settings.MANAGEMENT_API_AUDIENCE,
        **extra,
    }
    return APIClient().post("/oauth/token", body, format="json")


# --- a Deploy CLI export -------------------------------------------------------------------------------------------


def test_a_deploy_cli_export_creates_its_connections_clients_and_users(tmp_path, keywords):
    lines = _load(_write(tmp_path, EXPORT))

    assert lines[:3] == [
        "connections: 2 created, 0 updated, 0 unchanged",
        "clients: 2 created, 0 updated, 0 unchanged",
        "users: 1 created, 0 updated, 0 unchanged",
    ]
    database = Connection.objects.get(name="Username-Password-Authentication")
    assert database.strategy == "auth0"
    assert database.options == {
        "passwordPolicy": "fair",
        "password_complexity_options": {"min_length": 10},
        "password_history": {"enable": True, "size": 5},
        "brute_force_protection": True,
        "requires_username": False,
        "disable_signup": False,
    }
    sms = Connection.objects.get(name="sms")
    assert (sms.strategy, sms.options) == ("sms", {"disable_signup": True})
    ops = Client.objects.get(pk=CLIENT_ID)
    spa = Client.objects.get(name="My SPA")
    assert ops.name == "ci-ops"
    assert ops.scopes == ["create:users", "read:users", "update:users"]
    assert spa.scopes == []
    assert set(database.clients.all()) == {ops, spa}
    assert list(sms.clients.all()) == [spa]
    assert bcrypt_verify(SECRET, ops.secret_hash)
    user = User.objects.get(email="ci-user@example.com")
    assert (user.connection, user.email_verified, user.user_metadata) == (database, True, {"team": "ci"})
    assert user.password_hash is not None
    assert bcrypt_verify(USER_PASSWORD, user.password_hash)
    assert not Connection.objects.filter(name="google-oauth2").exists()


def test_what_is_not_modelled_is_reported_once_as_skipped(tmp_path, keywords):
    lines = _load(_write(tmp_path, EXPORT))

    skipped = [line for line in lines if line.startswith("skipped: ")]
    assert skipped == [
        "skipped: sections not modelled: pages, resourceServers, tenant",
        "skipped: databases[0].enabled_clients[2]: client DeployCl1ClientIdNotExp0rted0000 is not in the file or the "
        "directory",
        "skipped: connections[1] google-oauth2: strategy google-oauth2 not modelled",
        "skipped: clientGrants[1]: audience https://ci.example.com/api is not this service's Management API",
        "skipped: clients: keys not modelled: allowed_origins, callbacks, jwt_configuration, "
        "token_endpoint_auth_method",
        "skipped: databases: keys not modelled: is_domain_connection, realms",
        "skipped: databases.options: keys not modelled: import_mode, mfa, strategy_version",
        "skipped: connections.options: keys not modelled: name, totp",
        "skipped: clientGrants: Management API scopes not modelled: read:clients",
    ]
    assert lines[-1].startswith("note: clients[1] My SPA: no client_secret in the file")


def test_the_fixed_client_id_and_secret_get_a_token_with_the_granted_scopes(tmp_path, keywords):
    _load(_write(tmp_path, EXPORT))

    response = _token(CLIENT_ID, SECRET)
    assert response.status_code == 200, response.content
    assert response.json()["scope"] == "create:users read:users update:users"
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['access_token']}")
    assert api.get("/api/v2/users").status_code == 200
    assert api.get("/api/v2/connections").status_code == 403  # read:connections was not granted
    assert _token(CLIENT_ID, SECRET + "x").status_code == 401


def test_a_management_grant_on_this_services_own_audience_counts_too(tmp_path):
    tenant = {
        "clients": [{"name": "ops", "client_id": CLIENT_ID, "client_secret": SECRET}],
        "clientGrants": [{"client_id": "ops", "audience": settings.MANAGEMENT_API_AUDIENCE, "scope": ["read:logs"]}],
    }
    _load(_write(tmp_path, json.dumps(tenant), "tenant.json"))

    assert Client.objects.get(pk=CLIENT_ID).scopes == ["read:logs"]


def test_a_client_that_may_not_use_client_credentials_gets_no_scopes_from_a_grant(tmp_path):
    tenant = {
        "clients": [
            {"name": "spa", "app_type": "spa"},
            {"name": "web", "app_type": "regular_web", "grant_types": ["authorization_code"]},
        ],
        "clientGrants": [
            {"client_id": name, "audience": "https://x.auth0.com/api/v2/", "scope": ["read:users"]}
            for name in ("spa", "web")
        ],
    }
    lines = _load(_write(tmp_path, json.dumps(tenant), "tenant.json"))

    assert list(Client.objects.values_list("scopes", flat=True)) == [[], []]
    assert "skipped: clientGrants[0]: spa may not use client credentials (its app_type or grant_types)" in lines
    assert "skipped: clientGrants[1]: web may not use client credentials (its app_type or grant_types)" in lines


def test_keyword_mappings_come_from_a_deploy_cli_config_file(tmp_path):
    config = _write(
        tmp_path,
        json.dumps(
            {"AUTH0_DOMAIN": "x", "AUTH0_KEYWORD_REPLACE_MAPPINGS": {"ID": CLIENT_ID, "SCOPES": ["read:users"]}}
        ),
        "config.json",
    )
    tenant = _write(
        tmp_path,
        "clients:\n  - {name: ops, client_id: '##ID##'}\n"
        "clientGrants:\n  - {client_id: ops, audience: 'https://t.auth0.com/api/v2/', scope: '@@SCOPES@@'}\n",
    )
    _load(tenant, "--config", str(config), "--no-env")

    assert Client.objects.get(pk=CLIENT_ID).scopes == ["read:users"]


def test_an_at_keyword_inserts_any_secret_as_a_json_string(tmp_path, monkeypatch):
    """``@@KEY@@`` writes the value as JSON text, so quotes and colons in a secret cannot break the YAML."""
    secret = 'it\'s: "quoted" # not a comment'
    monkeypatch.setenv("CI_SECRET", secret)
    _load(_write(tmp_path, f"clients:\n  - name: ops\n    client_id: {CLIENT_ID}\n    client_secret: @@CI_SECRET@@\n"))

    assert bcrypt_verify(secret, Client.objects.get(pk=CLIENT_ID).secret_hash)


def test_the_environment_is_not_used_for_keywords_with_no_env(tmp_path, keywords):
    message = _refused(_write(tmp_path, EXPORT), "--no-env")

    assert "clients[0].client_id: the keyword ##CI_CLIENT_ID## has no value" in message
    assert not Client.objects.exists()


def test_the_deploy_cli_directory_format_is_read_too(tmp_path):
    root = tmp_path / "tenant"
    (root / "clients").mkdir(parents=True)
    (root / "clients" / "ci-ops.json").write_text(
        json.dumps({"name": "ci-ops", "app_type": "non_interactive", "client_id": "##ID##", "client_secret": SECRET})
    )
    (root / "database-connections" / "users").mkdir(parents=True)
    (root / "database-connections" / "users" / "database.json").write_text(
        json.dumps({"name": "users", "strategy": "auth0", "enabled_clients": ["ci-ops"], "options": {"mfa": {}}})
    )
    (root / "grants").mkdir()
    (root / "grants" / "ci-ops-api.json").write_text(
        json.dumps({"client_id": "ci-ops", "audience": "https://t.auth0.com/api/v2/", "scope": ["read:users"]})
    )
    # Ours: one Auth0 bulk-import file per connection, named after it.
    (root / "users").mkdir()
    (root / "users" / "users.json").write_text(json.dumps([{"email": "a@example.com", "password": USER_PASSWORD}]))
    (root / "tenant.json").write_text("{}")
    config = _write(tmp_path, json.dumps({"AUTH0_KEYWORD_REPLACE_MAPPINGS": {"ID": CLIENT_ID}}), "config.json")

    lines = _load(root, "--config", str(config))

    assert lines[:3] == [
        "connections: 1 created, 0 updated, 0 unchanged",
        "clients: 1 created, 0 updated, 0 unchanged",
        "users: 1 created, 0 updated, 0 unchanged",
    ]
    assert "skipped: sections not modelled: tenant" in lines
    assert "skipped: database-connections/users/database.json.options: keys not modelled: mfa" not in lines
    ops = Client.objects.get(pk=CLIENT_ID)
    assert list(Connection.objects.get(name="users").clients.all()) == [ops]
    assert ops.scopes == ["read:users"]
    assert User.objects.get(email="a@example.com").connection.name == "users"
    assert _load(root, "--config", str(config))[:3] == [
        "connections: 0 created, 0 updated, 1 unchanged",
        "clients: 0 created, 0 updated, 1 unchanged",
        "users: 0 created, 0 updated, 1 unchanged",
    ]


def test_an_error_in_the_directory_format_names_the_file(tmp_path):
    (tmp_path / "grants").mkdir()
    (tmp_path / "grants" / "ops.json").write_text(
        json.dumps({"client_id": "ops", "audience": "https://t.auth0.com/api/v2/", "scope": ["read:user"]})
    )
    (tmp_path / "clients").mkdir()
    (tmp_path / "clients" / "ops.json").write_text(json.dumps({"name": "ops"}))

    message = _refused(tmp_path)

    assert (
        message
        == f"{tmp_path}: grants/ops.json: scope[0]: read:user is not a Management API scope. Nothing was changed."
    )


def test_users_can_come_from_an_auth0_bulk_import_file(tmp_path, connection):
    _write(tmp_path, json.dumps([{"email": "one@example.com", "password": USER_PASSWORD}]), "users.json")
    tenant = {"users": [{"connection": connection.name, "file": "users.json"}]}
    lines = _load(_write(tmp_path, json.dumps(tenant), "tenant.json"))

    assert "users: 1 created, 0 updated, 0 unchanged" in lines
    assert User.objects.get(email="one@example.com").connection == connection


# --- idempotent ---------------------------------------------------------------------------------------------------


def test_a_second_run_changes_nothing(tmp_path, keywords):
    path = _write(tmp_path, EXPORT)
    _load(path)
    before = _state()

    lines = _load(path)

    assert lines[:3] == [
        "connections: 0 created, 0 updated, 2 unchanged",
        "clients: 0 created, 0 updated, 2 unchanged",
        "users: 0 created, 0 updated, 1 unchanged",
    ]
    assert _state() == before


def test_a_changed_file_updates_through_the_services(tmp_path, keywords, monkeypatch):
    path = _write(tmp_path, EXPORT)
    _load(path)
    generation = Client.objects.get(pk=CLIENT_ID).token_generation
    old_token = _token(CLIENT_ID, SECRET).json()["access_token"]
    changed = (
        EXPORT.replace("passwordPolicy: fair", "passwordPolicy: excellent")
        .replace("      - update:users\n", "      - read:logs\n")
        .replace(
            "    enabled_clients:\n      - My SPA\n    options:\n      disable_signup",
            "    enabled_clients: []\n    options:\n      disable_signup",
        )
    )
    monkeypatch.setenv("CI_CLIENT_SECRET", SECRET + "-rotated")
    events = Event.objects.count()

    lines = _load(_write(tmp_path, changed))

    assert lines[:2] == [
        "connections: 0 created, 2 updated, 0 unchanged",
        "clients: 0 created, 1 updated, 1 unchanged",
    ]
    assert Connection.objects.get(name="Username-Password-Authentication").options["passwordPolicy"] == "excellent"
    assert not Connection.objects.get(name="sms").clients.exists()
    ops = Client.objects.get(pk=CLIENT_ID)
    assert ops.scopes == ["create:users", "read:users", "read:logs"]
    assert ops.token_generation == generation + 1  # the secret was rotated by the service: old tokens die
    assert _token(CLIENT_ID, SECRET).status_code == 401
    assert _token(CLIENT_ID, SECRET + "-rotated").status_code == 200
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {old_token}")
    assert api.get("/api/v2/users").status_code == 401
    # The connection service recorded its updates, as for the API.
    assert Event.objects.count() == events + 2


# Auth0's display_name and metadata of a connection (CreateConnectionRequestContent), as an export writes them.
DETAILS = """\
databases:
  - name: Username-Password-Authentication
    display_name: Staff
    metadata:
      team: identity
      ticket: null
connections:
  - name: sms
    strategy: sms
    display_name: Text message
"""


def _details(name: str) -> dict[str, Any]:
    """The connection as GET /api/v2/connections/{id} answers it: display_name and metadata only when set."""
    body = connection_as_json(Connection.objects.get(name=name))
    return {key: body[key] for key in ("display_name", "metadata") if key in body}


def test_a_connections_display_name_and_metadata_are_applied_as_the_api_keeps_them(tmp_path):
    lines = _load(_write(tmp_path, DETAILS))

    assert lines[0] == "connections: 2 created, 0 updated, 0 unchanged"
    assert not any("keys not modelled" in line for line in lines)
    assert _details("Username-Password-Authentication") == {
        "display_name": "Staff",
        "metadata": {"team": "identity", "ticket": None},
    }
    assert _details("sms") == {"display_name": "Text message"}
    assert _load(_write(tmp_path, DETAILS))[0] == "connections: 0 created, 0 updated, 2 unchanged"


def test_an_update_leaves_out_display_name_and_metadata_as_the_deploy_cli_does(tmp_path):
    # The Deploy CLI sends a connection of the file as the PATCH body, less name and strategy: a key the file leaves
    # out is not sent, so the connection keeps it; a key the file gives replaces it (metadata whole).
    _load(_write(tmp_path, DETAILS))
    events = Event.objects.count()

    without = "databases:\n  - name: Username-Password-Authentication\nconnections:\n  - {name: sms, strategy: sms}\n"
    assert _load(_write(tmp_path, without))[0] == "connections: 0 created, 0 updated, 2 unchanged"
    assert _details("Username-Password-Authentication")["display_name"] == "Staff"
    assert _details("sms") == {"display_name": "Text message"}

    renamed = DETAILS.replace("display_name: Staff", "display_name: Employees").replace(
        "      team: identity\n      ticket: null\n", "      team: security\n"
    )
    assert _load(_write(tmp_path, renamed))[0] == "connections: 0 created, 1 updated, 1 unchanged"
    assert _details("Username-Password-Authentication") == {
        "display_name": "Employees",
        "metadata": {"team": "security"},
    }
    cleared = renamed.replace("display_name: Text message", "display_name: ''")
    assert _load(_write(tmp_path, cleared))[0] == "connections: 0 created, 1 updated, 1 unchanged"
    assert _details("sms") == {}
    # Through update_connection, which recorded each change as the API's PATCH does.
    assert Event.objects.count() == events + 2


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ("display_name: Staff", "display_name: " + "x" * 129),
            "databases[0].display_name: String is too long (129 chars), maximum 128",
        ),
        (("display_name: Text message", "display_name: 42"), "connections[0].display_name: Expected type string"),
        (("display_name: Staff", "display_name: null"), "databases[0].display_name: Expected type string but found"),
        (
            ("      ticket: null\n", "".join(f"      k{i}: v\n" for i in range(10))),
            "databases[0].metadata: Too many properties defined (11), maximum 10",
        ),
        (
            ("ticket: null", "ticket: " + "y" * 256),
            "databases[0].metadata: String is too long (256 chars), maximum 255",
        ),
        (("ticket: null", "ticket: 7"), "databases[0].metadata: Expected type string but found type integer"),
        (("ticket: null", "ticket: {a: b}"), "databases[0].metadata: Expected type string but found type object"),
        (
            ("    metadata:\n      team: identity\n      ticket: null\n", "    metadata: [team]\n"),
            "databases[0].metadata: Expected type object but found type array",
        ),
    ],
)
def test_a_display_name_or_metadata_the_api_refuses_is_refused_at_its_place(tmp_path, change, expected):
    before, after = change
    assert before in DETAILS

    message = _refused(_write(tmp_path, DETAILS.replace(before, after, 1)))

    assert expected in message, message
    assert not Connection.objects.exists()


def test_an_update_to_a_display_name_the_api_refuses_changes_nothing(tmp_path):
    _load(_write(tmp_path, DETAILS))
    before = _state()

    message = _refused(_write(tmp_path, DETAILS.replace("display_name: Text message", "display_name: " + "z" * 200)))

    assert "connections[0].display_name: String is too long (200 chars), maximum 128" in message
    assert _state() == before
    assert _details("sms") == {"display_name": "Text message"}


def test_a_dry_run_checks_and_counts_but_changes_nothing(tmp_path, keywords):
    lines = _load(_write(tmp_path, EXPORT), "--dry-run")

    assert lines[0] == "(dry run, nothing changed) connections: 2 created, 0 updated, 0 unchanged"
    assert not Connection.objects.exists()
    assert not Client.objects.exists()
    assert not User.objects.exists()


def test_from_env_loads_tenant_file_and_does_nothing_without_it(tmp_path, keywords):
    out = StringIO()
    with override_settings(TENANT_FILE=""):
        call_command("load_tenant", "--from-env", stdout=out)
    assert out.getvalue() == ""
    assert not Connection.objects.exists()

    with override_settings(TENANT_FILE=str(_write(tmp_path, EXPORT))):
        call_command("load_tenant", "--from-env", stdout=out)
    assert Connection.objects.count() == 2


# --- all or nothing -----------------------------------------------------------------------------------------------


def test_a_user_refused_at_the_end_undoes_the_connections_and_clients_before_it(tmp_path, keywords):
    bad = EXPORT.replace("password: '##CI_USER_PASSWORD##'", "password: short")

    message = _refused(_write(tmp_path, bad))

    assert "users[0]: 1 users refused: user 0: PASSWORD_STRENGTH" in message
    assert _state() == {"connections": [], "enabled": [], "clients": [], "users": [], "events": 0}


def test_a_bad_file_leaves_an_earlier_load_as_it_was(tmp_path, keywords):
    path = _write(tmp_path, EXPORT)
    _load(path)
    before = _state()
    bad = EXPORT.replace("passwordPolicy: fair", "passwordPolicy: excellent").replace("- read:clients", "- read:client")

    message = _refused(_write(tmp_path, bad))

    assert message == (
        f"{path}: clientGrants[0].scope[3]: read:client is not a Management API scope. Nothing was changed."
    )
    assert _state() == before


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ("strategy: google-oauth2", "strategy: google-oauth"),
            "connections[1].strategy: google-oauth is not a strategy of Auth0.",
        ),
        (("passwordPolicy: fair", "passwordPolicy: strong"), "databases[0].options.passwordPolicy:"),
        (("min_length: 10", "min_length: 1000"), "databases[0].options.password_complexity_options.min_length:"),
        (("- name: sms\n    strategy: sms", "- name: 'sms connection'\n    strategy: sms"), "connections[0].name:"),
        (
            ("      - My SPA\n      - Deploy", "      - Their SPA\n      - Deploy"),
            "databases[0].enabled_clients[1]: no client is named Their SPA",
        ),
        (
            ("- client_id: ci-ops\n    audience: 'https://##ENV", "- client_id: nobody\n    audience: 'https://##ENV"),
            "clientGrants[1].client_id: no client is named nobody",
        ),
        (
            ("client_id: '##CI_CLIENT_ID##'", "client_id: 'not-32-characters'"),
            "clients[0].client_id: A client id is 32 letters",
        ),
        (
            ("client_secret: '##CI_CLIENT_SECRET##'", "client_secret: 'short'"),
            "clients[0].client_secret: A client secret is 16 characters to 72 bytes long.",
        ),
        (("  - name: My SPA\n", "  - name: ci-ops\n"), "clients[1]: ci-ops is also at clients[0]."),
        (
            ("connection: Username-Password-Authentication\n    users:", "connection: sms\n    users:"),
            "users[0]: Connection must be a database connection.",
        ),
        (
            ("connection: Username-Password-Authentication\n    users:", "connection: nowhere\n    users:"),
            "users[0].connection: no connection is named nowhere.",
        ),
        (
            ("clients:\n  - name: ci-ops", "clients:\n  - name: 42"),
            "clients[0].name: a non-empty string expected, not a number.",
        ),
        (
            ("    enabled_clients:\n      - ci-ops\n", "    enabled_clients: ci-ops\n      - ci-ops\n"),
            "databases[0].enabled_clients: an array expected, not a string.",
        ),
        (("passwordPolicy: fair", "passwordPolicy: [fair"), "not valid YAML: "),
    ],
)
def test_an_error_names_the_place_in_the_file_and_changes_nothing(tmp_path, keywords, change, expected):
    before, after = change
    assert before in EXPORT
    message = _refused(_write(tmp_path, EXPORT.replace(before, after, 1)))

    assert expected in message
    assert _state() == {"connections": [], "enabled": [], "clients": [], "users": [], "events": 0}


# --- hostile and broken files -------------------------------------------------------------------------------------

BOMB = (
    "a: &a ['x','x','x','x','x','x','x','x','x']\n"
    + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},"
        f"*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)}]\n"
        for i in range(8)
    )
    + "clients: *i\n"
)


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("tenant.yaml", BOMB, "aliases expand the document beyond the size of the file."),
        ("tenant.yaml", "clients: &c\n  - name: a\n    self: *c\n", "refers to itself through an alias."),
        ("tenant.yaml", b"clients:\n  - name: caf\xe9\n", "not UTF-8 (byte 22)."),
        ("tenant.yaml", "clients:\n  - name: a\x00b\n", "not valid YAML: a character YAML does not allow"),
        ("tenant.json", '{"clients": [{"name": "a\\u0000b"}]}', "clients[0].name: "),
        ("tenant.yaml", 'clients: [{name: "a\\0b"}]\n', "clients[0].name: "),
        ("tenant.json", '{"clients": [{"name": "a\\ud800b"}]}', "clients[0].name: "),
        ("tenant.json", '{"clients": [{"name": NaN}]}', "NaN is not a JSON number."),
        ("tenant.json", '{"clients": [' * 5000 + "]" * 5000 + "}", "nested deeper than"),
        ("tenant.yaml", "- " * 2000 + "x\n", "not valid YAML"),
        ("tenant.yaml", "[1, 2]\n", "the file must hold an object (sections by name), not an array."),
        ("tenant.yaml", "clients: ops\n", "clients: an array expected, not a string."),
        ("tenant.yaml", "clients: [1]\n", "clients[0]: an object expected, not a number."),
        ("tenant.yaml", "clients: [{name: a, grant_types: client_credentials}]\n", "clients[0].grant_types: an array"),
        (
            "tenant.yaml",
            "clientGrants: [{client_id: a, audience: b, scope: [1]}]\n",
            "clientGrants[0].scope[0]: a string expected",
        ),
        ("tenant.yaml", "databases: [{name: d, options: [1]}]\n", "databases[0].options: an object expected"),
        ("tenant.yaml", "clients: [{name: a, created: 2024-01-01}]\n", "clients[0].created: a date, which JSON"),
        ("tenant.yaml", "clients: [{name: !!binary aGk=}]\n", "clients[0].name: a bytes, which JSON"),
        ("tenant.yaml", "clients: [{name: a, 1: b}]\n", "a key that is not a string"),
        ("tenant.yaml", "clients: [{name: .nan}]\n", "clients[0].name: not a finite number."),
        ("tenant.yaml", "clients: !!python/object/apply:os.system ['true']\n", "not valid YAML: "),
        ("tenant.yaml", "users: [{connection: c, file: x.json, users: []}]\n", "give either users"),
        ("tenant.yaml", "users: [{connection: c, file: nowhere.json}]\n", "users[0].file: no such file"),
        ("tenant.yaml", "users: [{connection: c, file: ../nowhere.json}]\n", "../nowhere.json is outside"),
        ("tenant.yaml", "users: [{connection: c, file: /etc/passwd}]\n", "users[0].file: /etc/passwd is outside"),
        # Longer than Python converts (4,300 digits): one line, not a ValueError traceback.
        ("tenant.yaml", "databases: [{name: d, options: {x: " + "9" * 5000 + "}}]\n", "a number with more than"),
        ("tenant.json", '{"databases": [{"name": "d", "options": {"x": ' + "9" * 5000 + "}}]}", "more than"),
    ],
)
def test_a_hostile_or_broken_file_is_a_one_line_error(tmp_path, name, content, expected):
    message = _refused(_write(tmp_path, content, name))

    assert expected in message, message


@pytest.mark.parametrize("folder", ["clients", "users"])
def test_a_symbolic_link_out_of_the_tenant_directory_is_refused(tmp_path, folder):
    outside = tmp_path / "elsewhere.json"
    outside.write_text('{"name": "not the tenant\'s"}')
    root = tmp_path / "tenant"
    (root / folder).mkdir(parents=True)
    (root / folder / "Username-Password-Authentication.json").symlink_to(outside)

    message = _refused(root)

    assert f"{folder}/Username-Password-Authentication.json: leads out of the tenant's directory" in message, message


def test_a_file_over_the_size_limit_is_refused_before_it_is_parsed(tmp_path):
    path = tmp_path / "tenant.yaml"
    path.write_bytes(b"# " + b"x" * reader.MAX_TENANT_BYTES)

    assert "larger than 10 MB." in _refused(path)


def test_keyword_replacement_cannot_grow_a_file_past_the_limit(tmp_path, monkeypatch):
    monkeypatch.setenv("BIG", "x" * 1_000_000)
    path = _write(tmp_path, "tenant: '" + "##BIG##" * 11 + "'\n")

    assert "larger than 10 MB after keyword replacement." in _refused(path)


def test_a_missing_file_is_a_one_line_error(tmp_path):
    assert "cannot be read: No such file or directory." in _refused(tmp_path / "nope.yaml")


# --- secrets -------------------------------------------------------------------------------------------------------


def test_the_files_secrets_are_never_printed(tmp_path, keywords, capsys):
    lines = _load(_write(tmp_path, EXPORT))
    # A syntax error on the line that holds the secret: the message gives the place, not the line.
    broken = _refused(_write(tmp_path, f"clients:\n  - client_secret: '{SECRET}' ]\n"))
    short = _refused(_write(tmp_path, "clients:\n  - {name: a, client_secret: 'sh0rt-s3cret'}\n"))

    printed = "\n".join([*lines, broken, short, *capsys.readouterr()])
    for secret in (SECRET, USER_PASSWORD, "sh0rt-s3cret"):
        assert secret not in printed
    assert "line 2, column" in broken


def test_a_fixed_client_id_that_is_taken_is_a_conflict():
    create_client(name="first", scopes="", client_id=CLIENT_ID, client_secret=SECRET, actor=SYSTEM)

    with pytest.raises(ClientAlreadyExists):
        create_client(name="second", scopes="", client_id=CLIENT_ID, client_secret=SECRET, actor=SYSTEM)
    assert list(Client.objects.values_list("name", flat=True)) == ["first"]


@pytest.mark.parametrize(
    ("secret", "code"),
    [
        (1234567890123456, "INVALID_TYPE"),
        ("x" * 15, "MIN_LENGTH"),
        ("é" * 37, "MAX_LENGTH"),
        ("a\x00" * 8, "INVALID_CHARACTERS"),
    ],
)
def test_a_fixed_secret_of_the_wrong_shape_is_refused_by_the_service(secret, code):
    with pytest.raises(PayloadValidationError) as caught:
        create_client(name="ops", scopes="", client_id=CLIENT_ID, client_secret=secret, actor=SYSTEM)

    assert [(e.field, e.code) for e in caught.value.errors] == [("client_secret", code)]
    assert str(secret) not in caught.value.message
    assert not Client.objects.exists()
