"""Connections: the model, option validation in ``create_connection``, and the management commands."""

import io
import json
import re

import jwt
import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from connections.errors import ConnectionAlreadyExists
from connections.models import Connection, new_connection_id
from connections.options import validate_connection
from connections.services import create_connection
from core.actors import SYSTEM
from core.errors import PayloadValidationError
from users.models import User

pytestmark = pytest.mark.django_db

CONNECTION_ID = re.compile(r"con_[A-Za-z0-9]{16}")
NAME_PATTERN = "^[a-zA-Z0-9](-[a-zA-Z0-9]|[a-zA-Z0-9])*$"
DATABASE_ONLY_OPTIONS = {
    "requires_username": True,
    "validation": {"username": {"min": 1, "max": 15}},
    "passwordPolicy": "good",
    "password_complexity_options": {"min_length": 8},
    "password_dictionary": {"enable": True, "dictionary": []},
    "password_history": {"enable": True, "size": 5},
    "password_no_personal_info": {"enable": True},
}


def refused(*, name="db", strategy="auth0", options=None) -> PayloadValidationError:
    with pytest.raises(PayloadValidationError) as excinfo:
        create_connection(name=name, strategy=strategy, options=options, actor=SYSTEM)
    assert not Connection.objects.exists()
    return excinfo.value


def described(error: PayloadValidationError) -> tuple[str, list[dict]]:
    return error.message, [e.as_dict() for e in error.errors]


# --- the model ------------------------------------------------------------------------------------


def test_connection_id_is_con_and_sixteen_alphanumerics(make_connection):
    connection = make_connection()

    assert CONNECTION_ID.fullmatch(connection.id), connection.id
    assert Connection.objects.get(name="Username-Password-Authentication").id == connection.id


def test_connection_ids_are_random():
    ids = {new_connection_id() for _ in range(200)}

    assert len(ids) == 200
    assert all(CONNECTION_ID.fullmatch(i) for i in ids)


@pytest.mark.parametrize(
    ("name", "options", "field", "message"),
    [
        ("bad name", {}, "name", f"String does not match pattern {NAME_PATTERN}: bad name"),
        ("db", {"passwordPolicy": "strong"}, "options.passwordPolicy", 'No enum match for: "strong"'),
    ],
)
def test_validate_connection_names_the_bad_field(name, options, field, message):
    # The one check of a connection's shape: the API, the admin form and the command all write through the
    # services, which run it (the model has no clean() of its own).
    with pytest.raises(PayloadValidationError) as excinfo:
        validate_connection(name=name, strategy="auth0", options=options)

    assert [(error.field, error.message) for error in excinfo.value.errors] == [(field, message)]


def test_validate_connection_fills_in_the_default_password_policy():
    assert validate_connection(name="db", strategy="auth0", options={}) == {"passwordPolicy": "good"}


# --- create_connection: names and conflicts ------------------------------------------------------


def test_create_connection_stores_name_strategy_and_options(make_connection):
    connection = make_connection(name="db", requires_username=True)

    stored = Connection.objects.get(pk=connection.pk)
    assert (stored.name, stored.strategy) == ("db", "auth0")
    assert stored.options == {"requires_username": True, "passwordPolicy": "good"}


def test_create_connection_refuses_duplicate_name(make_connection):
    make_connection(name="db")

    with pytest.raises(ConnectionAlreadyExists) as excinfo:
        make_connection(name="db", strategy="sms")

    assert (excinfo.value.status, excinfo.value.code, excinfo.value.message) == (
        409,
        "connection_conflict",
        "A connection with the same name already exists",
    )
    assert Connection.objects.get().strategy == "auth0"


@pytest.mark.parametrize("name", ["a", "sms", "Username-Password-Authentication", "a-b-c", "A1", "a" * 128])
def test_create_connection_accepts_auth0_names(make_connection, name):
    assert make_connection(name=name).name == name


@pytest.mark.parametrize("name", ["bad name", "-leading", "trailing-", "double--hyphen", "under_score", "dot.name"])
def test_create_connection_refuses_bad_names(name):
    assert described(refused(name=name)) == (
        f"Payload validation error: 'String does not match pattern {NAME_PATTERN}: {name}' "
        "on property name (The name of the connection).",
        [
            {
                "field": "name",
                "code": "PATTERN",
                "message": f"String does not match pattern {NAME_PATTERN}: {name}",
            }
        ],
    )


@pytest.mark.parametrize(
    ("name", "code", "message"),
    [
        ("", "MIN_LENGTH", "String is too short (0 chars), minimum 1"),
        ("a" * 129, "MAX_LENGTH", "String is too long (129 chars), maximum 128"),
        (None, "INVALID_TYPE", "Expected type string but found type null"),
    ],
)
def test_create_connection_refuses_bad_name_lengths_and_types(name, code, message):
    assert described(refused(name=name)) == (
        f"Payload validation error: '{message}' on property name (The name of the connection).",
        [{"field": "name", "code": code, "message": message}],
    )


@pytest.mark.parametrize("strategy", ["ldap", "Auth0", "google-oauth2"])
def test_create_connection_refuses_unknown_strategy(strategy):
    message = f'No enum match for: "{strategy}"'
    assert described(refused(strategy=strategy)) == (
        f"Payload validation error: '{message}' on property strategy (The identity provider).",
        [{"field": "strategy", "code": "ENUM_MISMATCH", "message": message}],
    )


# --- create_connection: options ------------------------------------------------------------------


def test_password_policy_defaults_to_good_for_database_connections(make_connection):
    assert make_connection(name="db").options == {"passwordPolicy": "good"}


@pytest.mark.parametrize("level", ["none", "low", "fair", "good", "excellent", None])
def test_password_policy_given_is_kept(make_connection, level):
    assert make_connection(name="db", passwordPolicy=level).options == {"passwordPolicy": level}


@pytest.mark.parametrize("strategy", ["sms", "email"])
def test_passwordless_connections_get_no_password_policy(make_connection, strategy):
    assert make_connection(name=strategy, strategy=strategy).options == {}


def test_database_connection_keeps_every_known_option(make_connection):
    options = {
        **DATABASE_ONLY_OPTIONS,
        "passwordPolicy": "excellent",
        "password_dictionary": {"enable": True, "dictionary": ["x" * 50] * 200},
        "password_history": {"enable": False, "size": 24},
        "disable_signup": True,
        "brute_force_protection": False,
    }

    assert make_connection(name="db", **options).options == options


# (options, field, code, message, description of the property)
BAD_OPTIONS = [
    (
        {"unknown": 1},
        "options",
        "OBJECT_ADDITIONAL_PROPERTIES",
        "Additional properties not allowed: unknown",
        "Options for the connection",
    ),
    (
        {"validation": {"username": {"min": 1, "max": 15}, "email": {}}},
        "options.validation",
        "OBJECT_ADDITIONAL_PROPERTIES",
        "Additional properties not allowed: email",
        "Options for validation",
    ),
    (
        {"passwordPolicy": "strong"},
        "options.passwordPolicy",
        "ENUM_MISMATCH",
        'No enum match for: "strong"',
        "Password strength level",
    ),
    (
        {"passwordPolicy": "Good"},
        "options.passwordPolicy",
        "ENUM_MISMATCH",
        'No enum match for: "Good"',
        "Password strength level",
    ),
    (
        {"password_complexity_options": {"min_length": 0}},
        "options.password_complexity_options.min_length",
        "MINIMUM",
        "Value 0 is less than minimum 1",
        "Minimum password length; supersedes the policy's",
    ),
    (
        {"password_complexity_options": {"min_length": 129}},
        "options.password_complexity_options.min_length",
        "MAXIMUM",
        "Value 129 is greater than maximum 128",
        "Minimum password length; supersedes the policy's",
    ),
    (
        {"password_complexity_options": {"min_length": "8"}},
        "options.password_complexity_options.min_length",
        "INVALID_TYPE",
        "Expected type integer but found type string",
        "Minimum password length; supersedes the policy's",
    ),
    (
        {"password_complexity_options": {"min_length": 8.5}},
        "options.password_complexity_options.min_length",
        "INVALID_TYPE",
        "Expected type integer but found type number",
        "Minimum password length; supersedes the policy's",
    ),
    (
        {"validation": {"username": {"min": 5, "max": 4}}},
        "options.validation.username.min",
        "MAXIMUM",
        "Value 5 is greater than max 4",
        "Minimum username length",
    ),
    (
        {"validation": {"username": {"min": 0, "max": 4}}},
        "options.validation.username.min",
        "MINIMUM",
        "Value 0 is less than minimum 1",
        "Minimum username length",
    ),
    (
        {"validation": {"username": {"min": 1, "max": 129}}},
        "options.validation.username.max",
        "MAXIMUM",
        "Value 129 is greater than maximum 128",
        "Maximum username length",
    ),
    (
        {"password_dictionary": {"enable": True, "dictionary": ["x" * 51]}},
        "options.password_dictionary.dictionary",
        "MAX_LENGTH",
        "String is too long (51 chars), maximum 50",
        "Extra words to refuse",
    ),
    (
        {"password_dictionary": {"enable": True, "dictionary": ["x"] * 201}},
        "options.password_dictionary.dictionary",
        "ARRAY_LENGTH_LONG",
        "Array is too long (201), maximum 200",
        "Extra words to refuse",
    ),
    (
        {"password_dictionary": {"enable": True, "dictionary": "password"}},
        "options.password_dictionary.dictionary",
        "INVALID_TYPE",
        "Expected type array but found type string",
        "Extra words to refuse",
    ),
    (
        {"password_dictionary": {"enable": True, "dictionary": [1]}},
        "options.password_dictionary.dictionary",
        "INVALID_TYPE",
        "Expected type string but found type integer",
        "Extra words to refuse",
    ),
    (
        {"password_dictionary": {"enable": "yes"}},
        "options.password_dictionary.enable",
        "INVALID_TYPE",
        "Expected type boolean but found type string",
        "Refuse common passwords",
    ),
    (
        {"password_history": {"enable": True, "size": 25}},
        "options.password_history.size",
        "MAXIMUM",
        "Value 25 is greater than maximum 24",
        "How many passwords to remember",
    ),
    (
        {"requires_username": "yes"},
        "options.requires_username",
        "INVALID_TYPE",
        "Expected type boolean but found type string",
        "Users must have a username",
    ),
    (
        {"requires_username": 1},
        "options.requires_username",
        "INVALID_TYPE",
        "Expected type boolean but found type integer",
        "Users must have a username",
    ),
    (
        {"password_no_personal_info": True},
        "options.password_no_personal_info",
        "INVALID_TYPE",
        "Expected type object but found type boolean",
        "Refuse passwords that contain the user's personal data",
    ),
]


@pytest.mark.parametrize(("options", "field", "code", "message", "description"), BAD_OPTIONS)
def test_create_connection_refuses_bad_options(options, field, code, message, description):
    assert described(refused(options=options)) == (
        f"Payload validation error: '{message}' on property {field} ({description}).",
        [{"field": field, "code": code, "message": message}],
    )


@pytest.mark.parametrize(
    ("options", "field", "owner", "description"),
    [
        (
            {"validation": {"username": {"min": 1}}},
            "options.validation.username.max",
            "options.validation.username",
            "Username length limits",
        ),
        (
            {"password_dictionary": {"dictionary": []}},
            "options.password_dictionary.enable",
            "options.password_dictionary",
            "Password dictionary policy",
        ),
    ],
)
def test_create_connection_refuses_options_missing_a_required_property(options, field, owner, description):
    message = f"Missing required property: {field.rsplit('.', 1)[1]}"
    assert described(refused(options=options)) == (
        f"Payload validation error: '{message}' on property {owner} ({description}).",
        [{"field": field, "code": "OBJECT_MISSING_REQUIRED_PROPERTY", "message": message}],
    )


@pytest.mark.parametrize("options", ["good", ["passwordPolicy"], 1])
def test_create_connection_refuses_options_that_are_not_an_object(options):
    error = refused(options=options)

    assert [e.as_dict()["field"] for e in error.errors] == ["options"]
    assert error.errors[0].code == "INVALID_TYPE"


@pytest.mark.parametrize("strategy", ["sms", "email"])
@pytest.mark.parametrize("key", sorted(DATABASE_ONLY_OPTIONS))
def test_passwordless_connections_refuse_database_only_options(strategy, key):
    message = f"Additional properties not allowed: {key}"

    assert described(refused(name=strategy, strategy=strategy, options={key: DATABASE_ONLY_OPTIONS[key]})) == (
        f"Payload validation error: '{message}' on property options (Options for the connection).",
        [{"field": "options", "code": "OBJECT_ADDITIONAL_PROPERTIES", "message": message}],
    )


@pytest.mark.parametrize("strategy", ["sms", "email"])
def test_passwordless_connections_accept_their_options(make_connection, strategy):
    options = {"disable_signup": True, "brute_force_protection": False}

    assert make_connection(name=strategy, strategy=strategy, **options).options == options


# --- unknown connection in a create ----------------------------------------------------------------


def test_create_user_in_unknown_connection_is_refused(create, connection):
    response = create({"connection": "nope", "email": "chuck@example.com", "password": "Str0ng!Passw0rd"})

    assert response.status_code == 400
    assert response.json() == {
        "statusCode": 400,
        "error": "Bad Request",
        "message": "The connection does not exist.",
        "errorCode": "inexistent_connection",
        "errors": [],
    }
    assert not User.objects.exists()


def test_connection_names_are_matched_exactly(create, connection):
    response = create(
        {
            "connection": "username-password-authentication",
            "email": "c@example.com",
            "password": "Str0ng!Passw0rd",
        }
    )

    assert response.json()["errorCode"] == "inexistent_connection"


# --- manage.py create_connection --------------------------------------------------------------------


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_create_connection_command_prints_the_connection_as_json():
    printed = json.loads(run("create_connection", "sms", "--strategy", "sms"))

    stored = Connection.objects.get()
    assert printed == {
        "id": stored.id,
        "name": "sms",
        "strategy": "sms",
        "options": {},
        "enabled_clients": [],
        "realms": ["sms"],
        "is_domain_connection": False,
    }
    assert CONNECTION_ID.fullmatch(printed["id"])


def test_create_connection_command_sets_a_display_name_and_prints_it_as_the_api_does():
    printed = json.loads(run("create_connection", "db", "--display-name", "Our staff"))

    assert Connection.objects.get(name="db").display_name == "Our staff"
    assert printed["display_name"] == "Our staff"
    assert list(printed)[:3] == ["id", "name", "display_name"]  # where the API's body has it
    assert "metadata" not in printed  # none given: left out, as the API leaves it out


def test_create_connection_command_refuses_a_display_name_the_api_refuses():
    with pytest.raises(CommandError, match=r"String is too long \(129 chars\), maximum 128") as excinfo:
        run("create_connection", "db", "--display-name", "x" * 129)

    assert excinfo.value.returncode != 0
    assert not Connection.objects.exists()


def test_create_connection_command_defaults_to_a_database_connection():
    printed = json.loads(run("create_connection", "Username-Password-Authentication"))

    assert (printed["strategy"], printed["options"]) == ("auth0", {"passwordPolicy": "good"})


def test_create_connection_command_refuses_an_existing_name():
    run("create_connection", "db")

    with pytest.raises(CommandError, match="A connection with the same name already exists") as excinfo:
        run("create_connection", "db", "--strategy", "sms")

    assert excinfo.value.returncode != 0
    assert Connection.objects.get().strategy == "auth0"


def test_create_connection_command_if_missing_prints_the_existing_connection():
    first = json.loads(run("create_connection", "db"))

    again = json.loads(run("create_connection", "db", "--strategy", "sms", "--if-missing"))

    assert again == first
    assert Connection.objects.count() == 1


def test_create_connection_command_stores_database_options():
    run(
        "create_connection",
        "db",
        "--requires-username",
        "--password-policy",
        "excellent",
        "--min-length",
        "12",
    )

    assert Connection.objects.get(name="db").options == {
        "requires_username": True,
        "passwordPolicy": "excellent",
        "password_complexity_options": {"min_length": 12},
    }


def test_create_connection_command_stores_every_flag():
    run(
        "create_connection",
        "db",
        "--username-min",
        "3",
        "--username-max",
        "20",
        "--dictionary",
        "--no-personal-info",
        "--disable-signup",
    )

    assert Connection.objects.get(name="db").options == {
        "validation": {"username": {"min": 3, "max": 20}},
        "passwordPolicy": "good",
        "password_dictionary": {"enable": True, "dictionary": []},
        "password_no_personal_info": {"enable": True},
        "disable_signup": True,
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--min-length", "0"], "Value 0 is less than minimum 1"),
        (["--min-length", "129"], "Value 129 is greater than maximum 128"),
        (["--username-min", "20"], "Value 20 is greater than max 15"),
        (["--username-max", "129"], "Value 129 is greater than maximum 128"),
        (
            ["--strategy", "sms", "--requires-username"],
            "Additional properties not allowed: requires_username",
        ),
        (["--password-policy", "strong"], "invalid choice: 'strong'"),
        (["--strategy", "ldap"], "invalid choice: 'ldap'"),
    ],
)
def test_create_connection_command_refuses_bad_options(args, message):
    with pytest.raises(CommandError, match=re.escape(message)):
        run("create_connection", "db", *args)

    assert not Connection.objects.exists()


def test_create_connection_command_refuses_a_bad_name():
    with pytest.raises(CommandError, match="String does not match pattern"):
        run("create_connection", "bad name")

    assert not Connection.objects.exists()


@pytest.mark.parametrize("args", [["--username-min", "0"], ["--username-min", "0", "--username-max", "0"]])
def test_create_connection_command_refuses_zero_username_limits(args):
    with pytest.raises(CommandError, match="less than minimum 1"):
        run("create_connection", "db", "--requires-username", *args)


# --- manage.py issue_token ---------------------------------------------------------------------------


def test_issue_token_command_prints_a_signed_management_token():
    token = run("issue_token", "--scopes", "create:users read:users", "--expires-in", "60").strip()

    header = jwt.get_unverified_header(token)
    payload = jwt.decode(token, options={"verify_signature": False})
    assert header["alg"] == "RS256"
    assert header["kid"] == settings.JWT_SIGNING_KEY.kid
    assert header["kid"]
    assert payload["scope"] == "create:users read:users"
    assert payload["exp"] - payload["iat"] == 60
    assert payload["sub"].endswith("@clients")
    assert payload["sub"] == "manage-py@clients"
    assert payload["iss"] == settings.AUTH_ISSUER
    assert payload["aud"] == settings.MANAGEMENT_API_AUDIENCE


def test_issue_token_command_signature_verifies_with_the_public_key():
    token = run("issue_token", "--scopes", "create:users", "--client-id", "ops").strip()

    payload = jwt.decode(
        token,
        settings.JWT_SIGNING_KEY.public_pem,
        algorithms=["RS256"],
        audience=settings.MANAGEMENT_API_AUDIENCE,
        issuer=settings.AUTH_ISSUER,
    )
    assert payload["exp"] - payload["iat"] == settings.ACCESS_TOKEN_LIFETIME_SECONDS
    assert (payload["sub"], payload["azp"]) == ("ops@clients", "ops")


def test_issue_token_command_token_creates_users(api_client, connection):
    token = run("issue_token", "--scopes", "create:users").strip()
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

    response = api_client.post(
        "/api/v2/users",
        {"connection": connection.name, "email": "chuck@example.com", "password": "Str0ng!Passw0rd"},
        format="json",
    )

    assert response.status_code == 201, response.json()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--scopes", "create:users", "--expires-in", "0"],
            "--expires-in: The lifetime must be from 1 to 2592000 seconds (30 days).",
        ),
        (
            ["--scopes", "create:users", "--expires-in", "-5"],
            "--expires-in: The lifetime must be from 1 to 2592000 seconds (30 days).",
        ),
        # Beyond Auth0's 30 days; far enough out, the printed token was refused (401) by the server.
        (
            ["--scopes", "create:users", "--expires-in", "99999999999999999999"],
            "--expires-in: The lifetime must be from 1 to 2592000 seconds (30 days).",
        ),
        # The audit log and the log lines name this id: no empty, spaced, control or bidirectional text.
        *(
            (
                ["--scopes", "create:users", f"--client-id={client_id}"],
                "--client-id: The client id must be 1 to 64 letters, digits, dots, hyphens or underscores.",
            )
            for client_id in ("", "ops scripts", "ops\nINFO forged", "\u202eops", "x" * 65, "-ops")
        ),
        (["--scopes", "   "], "At least one scope is required."),
        ([], "the following arguments are required: --scopes"),
    ],
)
def test_issue_token_command_refuses_bad_arguments(args, message):
    with pytest.raises(CommandError, match=re.escape(message)) as excinfo:
        run("issue_token", *args)

    assert excinfo.value.returncode != 0
