"""Plain helpers the test files share: common values, the management API's URLs, and its error bodies written out
whole (``{statusCode, error, message, errorCode, errors}``) so a contract test compares the entire body.

Fixtures live in ``tests/conftest.py``; these are functions and constants, imported where a test needs them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from users.models import User

STRONG_PASSWORD = "Str0ng!Passw0rd"

# The connections ``tests.conftest.user_connections`` makes (names as Auth0's examples spell them).
DB = "Username-Password-Authentication"  # passwordPolicy "good" (the default)
OTHER_DB = "Other-DB"
USERNAME_DB = "with-username"  # requires_username, usernames 3..15
SMS = "sms"
EMAIL = "email"

# --- URLs (literal, as Auth0 documents them: the tests go through the real ones) --------------------------------

USERS = "/api/v2/users"
USERS_BY_EMAIL = "/api/v2/users-by-email"
CONNECTIONS = "/api/v2/connections"
VERIFICATION_JOB = "/api/v2/jobs/verification-email"
SIGNUP = "/dbconnections/signup"
V1_USERS = "/v1/users"


def user_url(user_id: str) -> str:
    """``/api/v2/users/{id}`` with the id percent-encoded whole (``|`` and ``/`` too), as the SDKs send it."""
    return f"{USERS}/{quote(user_id, safe='')}"


def connection_url(connection_id: str) -> str:
    return f"{CONNECTIONS}/{connection_id}"


# --- the management API's error bodies ------------------------------------------------------------------------

REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    503: "Service Unavailable",
}


def management_error(
    status: int, message: str, code: str, errors: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The whole management error envelope."""
    reason = REASONS[status]
    return {"statusCode": status, "error": reason, "message": message, "errorCode": code, "errors": errors or []}


# Auth0's refusal of a password the connection's password history remembers (PasswordHistoryError).
PASSWORD_REUSED = management_error(
    400,
    "PasswordHistoryError: Password has previously been used",
    "invalid_password",
    [{"field": "password", "code": "password_history", "message": "Password has previously been used"}],
)


def invalid_body(*errors: tuple[str | None, str, str], message: str | None = None) -> dict[str, Any]:
    """A 400 ``invalid_body`` listing ``(field, code, text)`` problems; by default its message is their texts
    joined by `` (also) `` (the strategy checks' form)."""
    joined = " (also) ".join(text for _field, _code, text in errors)
    problems = [{"field": field, "code": code, "message": text} for field, code, text in errors]
    return management_error(400, joined if message is None else message, "invalid_body", problems)


def query_error(field: str | None, code: str, text: str, description: str | None = None) -> dict[str, Any]:
    """A 400 ``invalid_query_string`` for one problem, worded as Auth0's z-schema errors are."""
    where = f" on property {field} ({description})" if field else ""
    problems = [{"field": field, "code": code, "message": text}]
    return management_error(400, f"Query validation error: '{text}'{where}.", "invalid_query_string", problems)


def forbidden(scope: str) -> dict[str, Any]:
    return management_error(403, f"Insufficient scope, expected any of: {scope}", "insufficient_scope")


MISSING_TOKEN = management_error(401, "Missing authentication", "missing_authentication")
USER_NOT_FOUND = management_error(404, "The user does not exist.", "inexistent_user")
USER_EXISTS = management_error(409, "The user already exists.", "auth0_idp_error")
CONNECTION_NOT_FOUND = management_error(404, "The connection does not exist", "inexistent_connection")


# --- users --------------------------------------------------------------------------------------------------


OLD_TIME = datetime(2020, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)


def backdate(user_id: str, created_at: datetime = OLD_TIME) -> None:
    """Move a user's timestamps into the past (the clock cannot be trusted to tick between requests)."""
    User.objects.filter(user_id=user_id).update(created_at=created_at, updated_at=created_at)


def password_hash_of(user: User) -> str:
    """The user's stored ``password_hash``; fails the test when there is none (the callers gave the user a password
    or a bcrypt hash: ``None`` would be a passwordless user, or one still holding a custom hash)."""
    assert user.password_hash is not None, f"{user.user_id} has no password_hash"
    return user.password_hash


def stored_emails() -> list[str]:
    """Every user's e-mail, sorted; fails the test when a user has none (the callers imported or created users by
    e-mail only)."""
    emails = []
    for user_id, email in User.objects.values_list("user_id", "email"):
        assert email is not None, f"{user_id} has no e-mail"
        emails.append(email)
    return sorted(emails)


def listed_ids(response: Any) -> list[str]:
    """The user ids of a 200 list answer, in order."""
    assert response.status_code == 200, response.json()
    return [user["user_id"] for user in response.json()]


def run_import_job(api: Any, connection_id: str, users: list[Any], *, upsert: bool = False) -> str:
    """Upload ``users`` as a ``users.json`` import job into the connection, run the worker once; the job's id."""
    import json

    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.core.management import call_command

    upload = SimpleUploadedFile("users.json", json.dumps(users).encode(), content_type="application/json")
    response = api.post(
        "/api/v2/jobs/users-imports",
        {"connection_id": connection_id, "users": upload, **({"upsert": "true"} if upsert else {})},
        format="multipart",
    )
    assert response.status_code == 202, response.json()
    call_command("run_jobs", "--once")
    return str(response.json()["id"])


def orm_inserts_built(monkeypatch: Any) -> list[Any]:
    """From now on, the model of every INSERT the ORM builds (its compiler's ``as_sql``), in a list the caller
    reads: a path meant to write its rows without the ORM's statement building leaves it empty."""
    from django.db.models.sql.compiler import SQLInsertCompiler

    built: list[Any] = []
    real_as_sql = SQLInsertCompiler.as_sql

    def counting_as_sql(self: SQLInsertCompiler, *args: Any, **kwargs: Any) -> Any:
        built.append(self.query.model)
        return real_as_sql(self, *args, **kwargs)

    monkeypatch.setattr(SQLInsertCompiler, "as_sql", counting_as_sql)
    return built
