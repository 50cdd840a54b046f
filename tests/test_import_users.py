"""Bulk import (``users.imports`` and ``manage.py import_users``): Auth0's format, the API's rules, resumable."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import bcrypt
import pytest
from django.core.management import CommandError, call_command

from audit.models import Event
from connections.models import Connection
from connections.services import delete_connection
from core.actors import SYSTEM
from core.hashing import bcrypt_verify as verify_password
from tests.helpers import STRONG_PASSWORD, password_hash_of, stored_emails
from users.imports import (
    ImportConnectionError,
    ImportFileError,
    ImportSummary,
    RejectedUser,
    import_users,
)
from users.models import User
from users.profile import user_profile
from users.services import update_user

HASH = bcrypt.hashpw(b"Secret-123", bcrypt.gensalt(4)).decode()
OTHER_HASH = bcrypt.hashpw(b"Other-456", bcrypt.gensalt(4)).decode()


def _array(users: list[Any]) -> io.BytesIO:
    return io.BytesIO(json.dumps(users).encode())


def _lines(users: list[Any]) -> io.BytesIO:
    return io.BytesIO("\n".join(json.dumps(u) for u in users).encode())


@pytest.fixture
def run(connection: Connection) -> Callable[..., tuple[ImportSummary, list[RejectedUser]]]:
    """Import in the test's own transaction (the writer thread would use a connection of its own)."""

    def go(source: Any, *, into: Connection | None = None, **kwargs: Any) -> tuple[ImportSummary, list[RejectedUser]]:
        rejected: list[RejectedUser] = []
        if isinstance(source, list):
            source = _array(source)
        summary = import_users(
            source,
            connection=into or connection,
            actor=SYSTEM,
            on_reject=rejected.append,
            pipelined=False,
            **kwargs,
        )
        return summary, rejected

    return go


def _codes(rejected: list[RejectedUser]) -> list[list[tuple[str, str | None]]]:
    """Each error's code and path (``None`` for an error about the user as a whole: Auth0 gives those no path)."""
    return [[(e["code"], e.get("path")) for e in r.errors] for r in rejected]


# --- what gets stored ---------------------------------------------------------------------------------------


def test_imported_users_get_the_profile_a_create_would_give(run, connection):
    summary, rejected = run(
        [
            {"email": "Jane.Doe@Example.com", "password_hash": HASH, "given_name": "Jane", "user_metadata": {"a": 1}},
            {"email": "chuck@example.com", "email_verified": True, "user_id": "legacy-42", "blocked": True},
        ]
    )
    assert rejected == []
    assert summary.as_auth0() == {"failed": 0, "updated": 0, "inserted": 2, "total": 2}
    jane = User.objects.get(email="jane.doe@example.com")
    assert jane.connection == connection
    assert jane.user_id.startswith("auth0|") and len(jane.user_id) == len("auth0|") + 24
    assert (jane.name, jane.nickname, jane.given_name) == ("jane.doe@example.com", "jane.doe", "Jane")
    assert jane.picture is not None and jane.picture.startswith("https://s.gravatar.com/avatar/")
    assert jane.email_verified is False  # Auth0: false unless the file says otherwise
    assert jane.password_hash == HASH  # stored as it came
    assert verify_password("Secret-123", jane.password_hash)
    assert jane.user_metadata == {"a": 1}
    chuck = User.objects.get(email="chuck@example.com")
    assert chuck.user_id == "auth0|legacy-42"  # the strategy is prepended, as Auth0 does
    assert (chuck.email_verified, chuck.blocked, chuck.password_hash) == (True, True, None)


def test_each_batch_is_recorded_in_the_audit_log_with_its_users(run):
    run([{"email": f"u{i}@example.com"} for i in range(5)], batch_size=2)
    events = list(Event.objects.filter(description="Import users").order_by("id"))
    assert [len(e.details["inserted"]) for e in events] == [2, 2, 1]
    assert {uid for e in events for uid in e.details["inserted"]} == set(User.objects.values_list("user_id", flat=True))
    assert events[0].connection == "Username-Password-Authentication"


def test_json_lines_are_read_line_by_line_and_a_broken_line_is_rejected_alone(run):
    source = io.BytesIO(b'{"email": "a@example.com"}\n\n{"email": "b@exa\n{"email": "c@example.com"}\n')
    summary, rejected = run(source)
    assert stored_emails() == ["a@example.com", "c@example.com"]
    assert summary.as_auth0() == {"failed": 1, "updated": 0, "inserted": 2, "total": 3}
    assert rejected[0].errors == [{"code": "INVALID_JSON", "message": "Line 3 is not valid JSON.", "path": ""}]


def test_plain_passwords_are_hashed_with_bcrypt_and_never_stored(run):
    summary, _rejected = run([{"email": "p@example.com", "password": "Str0ng!Passw0rd"}])
    assert summary.inserted == 1
    stored = password_hash_of(User.objects.get())
    assert stored.startswith("$2b$") and verify_password("Str0ng!Passw0rd", stored)
    assert "Str0ng!Passw0rd" not in json.dumps(list(Event.objects.values("details", "description")))


def test_plain_passwords_must_pass_the_connections_policy(run, make_connection):
    strict = make_connection(name="Strict", passwordPolicy="excellent")
    summary, rejected = run([{"email": "w@example.com", "password": "weak"}], into=strict)
    assert summary.failed == 1 and not User.objects.exists()
    assert rejected[0].errors[0]["code"] == "PASSWORD_STRENGTH"
    assert rejected[0].errors[0]["path"] == "password"
    assert "password" not in rejected[0].user  # a rejected user is reported without its plain password


# --- the schema: every rule refuses ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        ({"email": "a@example.com", "scopes": ["x"]}, [("OBJECT_ADDITIONAL_PROPERTIES", "")]),
        ({"given_name": "No e-mail"}, [("OBJECT_REQUIRED", "email")]),
        ({"email": "not-an-email"}, [("FORMAT", "email")]),
        ({"email": 5}, [("INVALID_TYPE", "email")]),
        ({"email": "a@example.com", "email_verified": "true"}, [("INVALID_TYPE", "email_verified")]),
        ({"email": "a@example.com", "blocked": None}, [("INVALID_TYPE", "blocked")]),
        ({"email": "a@example.com", "given_name": ""}, [("MIN_LENGTH", "given_name")]),
        ({"email": "a@example.com", "family_name": "x" * 151}, [("MAX_LENGTH", "family_name")]),
        ({"email": "a@example.com", "name": "x" * 301}, [("MAX_LENGTH", "name")]),
        ({"email": "a@example.com", "nickname": "x" * 301}, [("MAX_LENGTH", "nickname")]),
        ({"email": "a@example.com", "picture": "javascript:alert(1)"}, [("FORMAT", "picture")]),
        ({"email": "a@example.com", "user_id": "has space"}, [("PATTERN", "user_id")]),
        ({"email": "a@example.com", "user_metadata": []}, [("INVALID_TYPE", "user_metadata")]),
        ({"email": "a@example.com", "app_metadata": {"bad": "\x00"}}, [("INVALID_CHARACTERS", "app_metadata.bad")]),
        ({"email": "a@example.com", "password_hash": "$1$md5crypt"}, [("FORMAT", "password_hash")]),
        ({"email": "a@example.com", "password_hash": 12}, [("INVALID_TYPE", "password_hash")]),
        ({"email": "a@example.com", "custom_password_hash": "md5"}, [("INVALID_TYPE", "custom_password_hash")]),
        ({"email": "a@example.com", "password": "x" * 73}, [("MAX_LENGTH", "password")]),
        (
            {"email": "a@example.com", "mfa_factors": [{"totp": {"secret": "x"}}]},
            [("MFA_FACTORS_FAILED", "mfa_factors")],
        ),
        (
            {"email": "a@example.com", "password": "Str0ng!Passw0rd", "password_hash": HASH},
            [("NOT_PASSED", "password_hash")],
        ),
        ("a@example.com", [("INVALID_TYPE", "")]),
        # the strategy's rules, as for POST /api/v2/users
        ({"email": "a@example.com", "username": "jane"}, [("USERNAME_NOT_ALLOWED", "username")]),
        ({"email": "a@example.com", "phone_number": "+14155550123"}, [("NOT_ALLOWED_FOR_STRATEGY", "phone_number")]),
    ],
)
def test_a_user_breaking_a_rule_is_rejected_with_its_code_and_path(run, user, expected):
    summary, rejected = run([user, {"email": "fine@example.com"}])
    assert _codes(rejected) == [expected]
    assert summary.as_auth0() == {"failed": 1, "updated": 0, "inserted": 1, "total": 2}
    assert list(User.objects.values_list("email", flat=True)) == ["fine@example.com"]


def test_a_connection_that_requires_usernames_requires_them_on_import(run, make_connection):
    named = make_connection(name="Named", requires_username=True)
    _summary, rejected = run(
        [
            {"email": "a@example.com"},
            {"email": "b@example.com", "username": "b@example.com"},
            {"email": "c@example.com", "username": "Carol"},
        ],
        into=named,
    )
    assert _codes(rejected) == [
        [("OBJECT_REQUIRED", "username")],
        [("USERNAME_IS_EMAIL", "username")],
    ]
    assert rejected[0].errors[0]["message"] == "Missing required property: username"
    assert User.objects.get().username == "carol"


@pytest.mark.parametrize("strategy", ["sms", "email"])
def test_only_database_connections_take_imports(run, make_connection, strategy):
    other = make_connection(name=f"Passwordless-{strategy}", strategy=strategy)
    with pytest.raises(ImportConnectionError, match=r"Connection must be a database connection\."):
        run([{"email": "a@example.com"}], into=other)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "Users file must not be empty."),
        (b"  \n ", "Users file must not be empty."),
        (b'"users"', "must be a JSON array of users or JSON lines"),
        (b'[{"email": "a@example.com"}, {"email": ', r"^The users file is not valid JSON after 1 user\.$"),
    ],
)
def test_a_file_that_is_not_users_is_refused_whole(run, content, message):
    with pytest.raises(ImportFileError, match=message):
        run(io.BytesIO(content))


def test_an_empty_array_imports_nothing(run):
    summary, rejected = run(io.BytesIO(b"\xef\xbb\xbf [ ]"))
    assert summary == ImportSummary() and rejected == []


# --- uniqueness, decided by the constraints ----------------------------------------------------------------


def test_a_user_named_twice_in_the_file_is_a_duplicate_in_any_batch(run):
    users = [{"email": "dup@example.com"}, {"email": "x@example.com"}, {"email": "DUP@example.com"}]
    _summary, rejected = run(users, batch_size=1)
    assert rejected[0].errors == [
        {"code": "DUPLICATED_USER", "message": "A user with this email was already provided."}
    ]
    assert rejected[0].index == 2
    _summary, rejected = run([{"email": "again@example.com"}, {"email": "Again@example.com"}])  # in one batch
    assert _codes(rejected) == [[("DUPLICATED_USER", None)]]
    assert User.objects.count() == 3


def test_two_users_with_one_user_id_keep_the_first(run):
    _summary, rejected = run([{"email": "a@example.com", "user_id": "u1"}, {"email": "b@example.com", "user_id": "u1"}])
    assert User.objects.get().email == "a@example.com"
    assert rejected[0].errors == [
        {"code": "DUPLICATED_USER", "message": "A user with this user_id was already provided."}
    ]
    assert rejected[0].index == 1


# Auth0's answer, recorded by go-auth0 (test/data/recordings/TestJobManager_ReadErrors.yaml): no path.
EXISTS = {"code": "DUPLICATED_USER", "message": "The user already exist and upsert parameter is false"}


def test_an_existing_different_user_is_auth0s_duplicated_user_without_upsert(run, make_connection):
    # "pre-existing users that match on email address, user ID, phone, or username will fail" (Bulk User Imports)
    named = make_connection(name="Named", requires_username=True)
    run([{"email": "a@example.com", "username": "alice", "given_name": "A", "user_id": "a1"}], into=named)
    _summary, rejected = run(
        [
            {"email": "a@example.com", "username": "alice", "given_name": "Changed"},
            {"email": "new@example.com", "username": "ALICE"},
            {"email": "other@example.com", "username": "other", "user_id": "a1"},
        ],
        into=named,
    )
    assert [r.as_auth0() for r in rejected] == [
        {"user": {"email": "a@example.com", "username": "alice", "given_name": "Changed"}, "errors": [EXISTS]},
        {"user": {"email": "new@example.com", "username": "ALICE"}, "errors": [EXISTS]},
        {"user": {"email": "other@example.com", "username": "other", "user_id": "a1"}, "errors": [EXISTS]},
    ]
    assert User.objects.get().given_name == "A"


def test_with_upsert_an_identifier_of_another_user_is_a_conflict(run, make_connection):
    named = make_connection(name="Named", requires_username=True)
    run([{"email": "a@example.com", "username": "alice"}, {"email": "b@example.com", "username": "bob"}], into=named)
    _summary, rejected = run(
        [{"email": "a@example.com", "username": "bob"}, {"email": "c@example.com", "username": "alice"}],
        into=named,
        upsert=True,
    )
    taken = {"code": "CONFLICT_USERNAME", "message": "A user with this username already exists in the connection."}
    assert [r.errors for r in rejected] == [[taken], [taken]]
    assert sorted(User.objects.values_list("email", "username")) == [
        ("a@example.com", "alice"),
        ("b@example.com", "bob"),
    ]


def test_the_same_email_in_another_connection_is_another_user(run, make_connection):
    run([{"email": "a@example.com"}])
    summary, _rejected = run([{"email": "a@example.com"}], into=make_connection(name="Other"))
    assert summary.inserted == 1 and User.objects.count() == 2


# --- resumable ----------------------------------------------------------------------------------------------


class _Killed(Exception):
    pass


def _kill_after_first_batch(summary: ImportSummary, bytes_read: int) -> None:
    raise _Killed


@pytest.mark.parametrize("upsert", [False, True])
def test_an_import_killed_midway_and_run_again_ends_with_every_user_once(run, upsert):
    users: list[dict[str, Any]] = [
        {"email": f"u{i}@example.com", "password_hash": HASH, "user_metadata": {"i": i}} for i in range(7)
    ]
    with pytest.raises(_Killed):
        run(users, batch_size=3, on_progress=_kill_after_first_batch)
    assert User.objects.count() == 3  # the first batch committed, nothing of the second
    summary, rejected = run(users, batch_size=3, upsert=upsert)
    assert rejected == []
    assert (summary.inserted, summary.skipped, summary.updated, summary.failed) == (4, 3, 0, 0)
    assert stored_emails() == sorted(u["email"] for u in users)


def test_a_connection_deleted_during_the_import_stops_it_at_the_next_batch(run, connection):
    """The next batch's users pointed at a connection gone: their foreign keys failed at commit (an IntegrityError, the
    job left to be retried); the batch now finds the connection gone first, as a job's checks would have."""

    def delete_the_connection(summary: ImportSummary, bytes_read: int) -> None:
        delete_connection(connection_id=connection.pk, actor=SYSTEM)

    users = [{"email": f"u{i}@example.com", "password_hash": HASH} for i in range(4)]
    with pytest.raises(ImportConnectionError, match=r"^The connection does not exist\.$"):
        run(users, batch_size=2, on_progress=delete_the_connection)
    assert not User.objects.exists()  # the first batch's went with the connection, the second's never came


def test_a_second_run_with_plain_passwords_skips_without_hashing_again(run, monkeypatch):
    users = [{"email": f"p{i}@example.com", "password": "Str0ng!Passw0rd"} for i in range(3)]
    run(users)
    hashes = dict(User.objects.values_list("email", "password_hash"))
    import users.imports.writer as importing

    monkeypatch.setattr(importing, "hash_password", lambda p: pytest.fail("hashed again"))
    summary, rejected = run(users)
    assert (summary.skipped, summary.inserted, rejected) == (3, 0, [])
    assert dict(User.objects.values_list("email", "password_hash")) == hashes


# --- upsert -------------------------------------------------------------------------------------------------


def test_upsert_replaces_the_upsertable_attributes_and_does_not_merge_metadata(run):
    run([{"email": "a@example.com", "given_name": "A", "user_metadata": {"keep": 1, "x": 1}, "password_hash": HASH}])
    before = User.objects.get()
    summary, rejected = run(
        [{"email": "A@example.com", "given_name": "Ann", "user_metadata": {"x": 2}, "password_hash": OTHER_HASH}],
        upsert=True,
    )
    assert (summary.updated, summary.inserted, rejected) == (1, 0, [])
    user = User.objects.get()
    assert (user.user_id, user.created_at) == (before.user_id, before.created_at)
    assert user.given_name == "Ann"
    assert user.user_metadata == {"x": 2}  # replaced, as Auth0's import does, not merged
    assert user.password_hash == OTHER_HASH
    assert user.updated_at > before.updated_at
    event = Event.objects.filter(description="Import users").latest("id")
    assert event.details == {"inserted": [], "updated": [before.user_id]}


def test_upsert_without_a_difference_is_not_an_update(run):
    run([{"email": "a@example.com", "given_name": "A"}])
    summary, _ = run([{"email": "a@example.com", "given_name": "A"}], upsert=True)
    assert (summary.updated, summary.skipped) == (0, 1)


def test_upsert_sets_a_new_plain_password_and_does_not_hash_the_current_one_anew(run):
    run([{"email": "a@example.com", "given_name": "A", "password": STRONG_PASSWORD}])
    stored = password_hash_of(User.objects.get())
    summary, rejected = run([{"email": "a@example.com", "given_name": "B", "password": STRONG_PASSWORD}], upsert=True)
    assert (summary.updated, rejected) == (1, [])
    assert password_hash_of(User.objects.get()) == stored  # the same password: no new hash, no history entry
    summary, rejected = run([{"email": "a@example.com", "given_name": "C", "password": "Other!Passw0rd"}], upsert=True)
    assert (summary.updated, rejected) == (1, [])
    assert verify_password("Other!Passw0rd", password_hash_of(User.objects.get()))


def test_upsert_of_a_plain_password_alone_keeps_the_users_own(run):
    """load_tenant imports its users with upsert at every start: a password the user changed since stays."""
    run([{"email": "a@example.com", "given_name": "A", "password": STRONG_PASSWORD}])
    stored = password_hash_of(User.objects.get())
    summary, _ = run([{"email": "a@example.com", "given_name": "A", "password": "Other!Passw0rd"}], upsert=True)
    assert (summary.updated, summary.skipped) == (0, 1)
    assert password_hash_of(User.objects.get()) == stored


def test_an_upsert_that_replaces_the_password_leaves_last_password_reset_as_it_is(run):
    """Auth0's bulk import never sets last_password_reset: the field is not imported nor upserted ("User Profile
    Structure": Import? N, Upsert during import? N), and its import cannot replace a password at all (password_hash
    and custom_password_hash "can only be provided when the user is first imported"). Ours may replace one on
    upsert (an extension): the credentials the operator gives, often the user's old ones from another system, not a
    change or reset of the password, so a password-age rule reading last_password_reset is not reset by a migration.
    """
    run([{"email": "a@example.com", "given_name": "A", "password_hash": HASH}])
    summary, rejected = run([{"email": "a@example.com", "password_hash": OTHER_HASH}], upsert=True)
    assert (summary.updated, rejected) == (1, [])
    user = User.objects.get()
    assert (user.password_hash, user.last_password_reset) == (OTHER_HASH, None)
    assert "last_password_reset" not in user_profile(user)

    changed = update_user(user_id=user.user_id, data={"password": STRONG_PASSWORD}, actor=SYSTEM)
    assert changed.last_password_reset is not None
    summary, rejected = run([{"email": "a@example.com", "given_name": "B", "password": "Other!Passw0rd"}], upsert=True)
    assert (summary.updated, rejected) == (1, [])
    user = User.objects.get()
    assert verify_password("Other!Passw0rd", password_hash_of(user))
    assert user.last_password_reset == changed.last_password_reset
    assert user_profile(user)["last_password_reset"] == user_profile(changed)["last_password_reset"]


def test_upsert_cannot_change_an_identifier(run, make_connection):
    named = make_connection(name="Named", requires_username=True)
    run([{"email": "a@example.com", "username": "alice"}], into=named)
    _summary, rejected = run([{"email": "a@example.com", "username": "alicia"}], into=named, upsert=True)
    assert _codes(rejected) == [[("CONFLICT", None)]]
    assert "username" in rejected[0].errors[0]["message"]
    assert User.objects.get().username == "alice"


def test_upsert_of_a_user_named_twice_still_reports_the_duplicate(run):
    run([{"email": "a@example.com", "given_name": "A"}])
    summary, rejected = run(
        [{"email": "a@example.com", "given_name": "B"}, {"email": "a@example.com", "given_name": "C"}], upsert=True
    )
    assert summary.updated == 1 and _codes(rejected) == [[("DUPLICATED_USER", None)]]
    assert User.objects.get().given_name == "B"


# --- dry run ------------------------------------------------------------------------------------------------


def test_a_dry_run_reports_everything_and_writes_nothing(run):
    run([{"email": "taken@example.com"}])
    users = [
        {"email": "new@example.com"},
        {"email": "taken@example.com", "given_name": "X"},
        {"email": "NEW@example.com"},
        {"email": "bad"},
    ]
    summary, rejected = run(users, dry_run=True, batch_size=1)
    assert summary.as_auth0() == {"failed": 3, "updated": 0, "inserted": 1, "total": 4}
    assert _codes(rejected) == [[("DUPLICATED_USER", None)], [("DUPLICATED_USER", None)], [("FORMAT", "email")]]
    assert [r.errors[0]["message"] for r in rejected[:2]] == [
        "The user already exist and upsert parameter is false",
        "A user with this email was already provided.",
    ]
    assert list(User.objects.values_list("email", flat=True)) == ["taken@example.com"]
    assert Event.objects.filter(description="Import users").count() == 1  # the setup's, none from the dry run


# --- the writer thread ---------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_pipelined_import_writes_from_its_own_connection(make_connection):
    connection = make_connection()
    users = [{"email": f"t{i}@example.com"} for i in range(25)] + [{"email": "t3@example.com"}]
    rejected: list[RejectedUser] = []
    summary = import_users(_lines(users), connection=connection, actor=SYSTEM, batch_size=4, on_reject=rejected.append)
    assert summary.as_auth0() == {"failed": 1, "updated": 0, "inserted": 25, "total": 26}
    assert _codes(rejected) == [[("DUPLICATED_USER", None)]]
    assert User.objects.count() == 25


# --- the command --------------------------------------------------------------------------------------------


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, Any], Path]:
    def go(name: str, content: Any) -> Path:
        path = tmp_path / name
        path.write_bytes(content if isinstance(content, bytes) else json.dumps(content).encode())
        return path

    return go


@pytest.mark.django_db(transaction=True)
def test_the_command_imports_reports_and_writes_a_rejects_file_that_can_be_run_again(make_connection, write, capsys):
    make_connection()
    path = write("users.json", [{"email": "ok@example.com"}, {"email": "fix-me", "given_name": "F"}])
    with pytest.raises(SystemExit) as exit_:
        call_command("import_users", str(path), "--connection", "Username-Password-Authentication", "--no-progress")
    assert exit_.value.code == 1
    out = capsys.readouterr().out
    assert "inserted 1" in out and "failed 1" in out and "users.rejects.json" in out
    rejects = path.with_name("users.rejects.json")
    assert rejects.stat().st_mode & 0o777 == 0o600
    entries = json.loads(rejects.read_text())
    assert entries == [
        {
            "user": {"email": "fix-me", "given_name": "F"},
            "errors": [
                {"code": "FORMAT", "message": "Object didn't pass validation for format email: fix-me", "path": "email"}
            ],
        }
    ]
    entries[0]["user"]["email"] = "fixed@example.com"
    rejects.write_text(json.dumps(entries))
    call_command("import_users", str(rejects), "--connection", "Username-Password-Authentication", "--no-progress")
    assert "inserted 1" in capsys.readouterr().out
    assert User.objects.get(email="fixed@example.com").given_name == "F"


@pytest.mark.django_db(transaction=True)
def test_the_command_keeps_json_lines_as_json_lines(make_connection, write, capsys):
    make_connection()
    path = write("users.jsonl", b'{"email": "a@example.com"}\n{"email": "a@example.com"}\n')
    with pytest.raises(SystemExit):
        call_command("import_users", str(path), "--connection", "Username-Password-Authentication", "--no-progress")
    lines = path.with_name("users.rejects.jsonl").read_text().splitlines()
    assert [json.loads(line)["errors"][0]["code"] for line in lines] == ["DUPLICATED_USER"]


@pytest.mark.django_db(transaction=True)
def test_the_rejects_file_holds_auth0s_job_errors(make_connection, write, capsys):
    make_connection()
    call_command(
        "import_users",
        str(write("first.json", [{"email": "taken@example.com"}])),
        "--connection",
        "Username-Password-Authentication",
        "--no-progress",
    )
    path = write("users.json", [{"email": "taken@example.com", "given_name": "T"}, {"email": "x@example.com"}])
    with pytest.raises(SystemExit):
        call_command("import_users", str(path), "--connection", "Username-Password-Authentication", "--no-progress")
    assert json.loads(path.with_name("users.rejects.json").read_text()) == [
        {"user": {"email": "taken@example.com", "given_name": "T"}, "errors": [EXISTS]}
    ]


@pytest.mark.django_db(transaction=True)
def test_the_command_dry_run_writes_nothing(make_connection, write, capsys):
    make_connection()
    path = write("users.json", [{"email": "a@example.com"}])
    call_command(
        "import_users", str(path), "--connection", "Username-Password-Authentication", "--dry-run", "--no-progress"
    )
    assert "would be inserted 1" in capsys.readouterr().out
    assert not User.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_command_refuses_what_it_cannot_use(make_connection, write):
    make_connection()
    path = write("users.json", [{"email": "a@example.com"}])
    with pytest.raises(CommandError, match="no connection named"):
        call_command("import_users", str(path), "--connection", "Nope", "--no-progress")
    with pytest.raises(CommandError, match="no such file"):
        call_command("import_users", str(path) + ".missing", "--connection", "Username-Password-Authentication")
    with pytest.raises(CommandError, match="must not be empty"):
        call_command("import_users", str(write("empty.json", b"")), "--connection", "Username-Password-Authentication")
    with pytest.raises(CommandError, match="--batch-size"):
        call_command("import_users", str(path), "--connection", "Username-Password-Authentication", "--batch-size", "0")
    assert not User.objects.exists()


# --- imported hashes at the next login ------------------------------------------------------------------------


def _legacy_hashes(password: str) -> list[dict[str, Any]]:
    import hashlib

    from django.contrib.auth.hashers import PBKDF2PasswordHasher

    salt = "NaCl-1234"
    return [
        {"password_hash": HASH},
        {"password_hash": PBKDF2PasswordHasher().encode(password, "djangosalt12", iterations=1000)},
        {
            "custom_password_hash": {
                "algorithm": "sha256",
                "hash": {"value": hashlib.sha256((salt + password).encode()).hexdigest(), "encoding": "hex"},
                "salt": {"value": salt, "position": "prefix"},
            }
        },
        {
            "custom_password_hash": {
                "algorithm": "md5",
                "hash": {"value": hashlib.md5(password.encode(), usedforsecurity=False).hexdigest(), "encoding": "hex"},
            }
        },
    ]


def test_imported_hashes_log_in_and_are_replaced_by_bcrypt(run):
    from users.credentials.login import log_in
    from users.credentials.passwords import is_current_bcrypt
    from users.errors import WrongCredentials

    users = [{"email": f"h{i}@example.com", **secret} for i, secret in enumerate(_legacy_hashes("Secret-123"))]
    summary, rejected = run(users)
    assert (summary.inserted, rejected) == (4, [])
    for user in User.objects.select_related("connection").order_by("email"):
        assert user.email is not None
        with pytest.raises(WrongCredentials):
            log_in(connection=user.connection, username=user.email, password="wrong", actor=SYSTEM)
        assert log_in(connection=user.connection, username=user.email, password="Secret-123", actor=SYSTEM) == user
        user.refresh_from_db()
        assert is_current_bcrypt(user.password_hash) and user.custom_password_hash is None
        assert verify_password("Secret-123", password_hash_of(user))


def test_a_hash_too_costly_to_verify_is_refused_on_import(run):
    slow = "$2b$16$" + "a" * 53
    summary, rejected = run([{"email": "slow@example.com", "password_hash": slow}])
    assert summary.failed == 1 and rejected[0].errors[0]["path"] == "password_hash"
    assert rejected[0].errors[0]["code"] == "MAXIMUM"


@pytest.mark.django_db(transaction=True)
def test_the_rejects_file_keeps_no_password_and_a_rerun_asks_for_it_back(make_connection, write, capsys):
    make_connection()
    secret = "Plain-Secret-1"
    lines = (
        b'{"email": "fix-me", "password": "' + secret.encode() + b'", "user_metadata": {"Pin_Token": "1"}}\n'
        b'{"email": "b@example.com", "Password": "' + secret.encode() + b'",}\n'
    )
    path = write("users.jsonl", lines)
    with pytest.raises(SystemExit):
        call_command("import_users", str(path), "--connection", "Username-Password-Authentication", "--no-progress")
    rejects = path.with_name("users.rejects.jsonl")
    text = rejects.read_text()
    assert secret not in text and secret not in capsys.readouterr().out
    first, second = (json.loads(line) for line in text.splitlines())
    assert first["user"] == {"email": "fix-me", "user_metadata": {}}
    assert first["removed"] == ["password", "user_metadata.Pin_Token"]
    assert second == {
        "user": {},
        "errors": [{"code": "INVALID_JSON", "message": "Line 2 is not valid JSON.", "path": ""}],
    }

    # Fixed but without its password: refused, never imported without it.
    first["user"]["email"] = "fixed@example.com"
    retry = write("retry.jsonl", json.dumps(first).encode() + b"\n")
    with pytest.raises(SystemExit):
        call_command("import_users", str(retry), "--connection", "Username-Password-Authentication", "--no-progress")
    [again] = [json.loads(line) for line in retry.with_name("retry.rejects.jsonl").read_text().splitlines()]
    assert again["errors"][0]["code"] == "SECRET_REMOVED"
    assert not User.objects.filter(email="fixed@example.com").exists()

    # With the secrets back, it goes in.
    first["user"].update(password=STRONG_PASSWORD, user_metadata={"Pin_Token": "1"})
    write("retry.jsonl", json.dumps(first).encode() + b"\n")
    call_command("import_users", str(retry), "--connection", "Username-Password-Authentication", "--no-progress")
    assert password_hash_of(User.objects.get(email="fixed@example.com")).startswith("$2b$")


@pytest.mark.django_db(transaction=True)
def test_the_command_refuses_a_rejects_file_behind_a_symlink_or_readable_by_others(make_connection, write, tmp_path):
    make_connection()
    path = write("users.json", [{"email": "fix-me", "password": STRONG_PASSWORD}])
    target = tmp_path / "elsewhere"
    target.write_text("")
    path.with_name("users.rejects.json").symlink_to(target)
    with pytest.raises(CommandError, match="symbolic link"):
        call_command("import_users", str(path), "--connection", "Username-Password-Authentication", "--no-progress")
    assert target.read_text() == ""

    loose = tmp_path / "loose.json"
    loose.write_text("")
    loose.chmod(0o644)
    with pytest.raises(CommandError, match="mode 0600"):
        call_command(
            "import_users", str(path), "--connection", "Username-Password-Authentication", "--rejects", str(loose)
        )
    assert loose.read_text() == ""

    private = tmp_path / "private.json"
    private.write_text("old")
    private.chmod(0o600)
    with pytest.raises(SystemExit):
        call_command(
            "import_users", str(path), "--connection", "Username-Password-Authentication", "--rejects", str(private)
        )
    assert json.loads(private.read_text())[0]["removed"] == ["password"]
    assert private.stat().st_mode & 0o777 == 0o600


def test_a_piped_array_keeps_a_lone_surrogate_for_the_validator(run):
    class Pipe(io.BytesIO):
        def seekable(self) -> bool:
            return False

    summary, rejected = run(Pipe(b'[{"email": "lone\\udc00@example.com"}, {"email": "ok@example.com"}]'))
    assert _codes(rejected) == [[("INVALID_CHARACTERS", "email")]]
    assert summary.inserted == 1


def test_an_array_with_a_number_out_of_range_stops_without_quoting_the_file(run):
    with pytest.raises(ImportFileError) as error:
        run(io.BytesIO(b'[{"email": "a@example.com"}, {"email": "b@example.com", "password": 1e400}]'))
    assert error.value.message == "The users file is not valid JSON after 1 user."


# --- attack1 (security test pass): each test below fails until its finding is fixed ---------------------------


def test_a_deeply_nested_array_item_is_read_in_flat_memory(run):
    # attack1: ijson.items keeps a prefix string per open level ("item.item.item…"), so memory grows with the
    # square of the depth: 20,000 levels (40 KB) peak at ~1 GB; a 200 KB job file (100,000 levels) got the
    # worker OOM-killed. The file's own size, not its depth, must bound memory.
    import tracemalloc

    depth = 20_000
    content = b"[" + b"[" * depth + b"]" * depth + b', {"email": "ok@example.com"}]'
    tracemalloc.start()
    try:
        summary, rejected = run(io.BytesIO(content))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert summary.inserted == 1 and len(rejected) == 1
    assert peak < 64 * 1024 * 1024, f"peak {peak / 2**20:.0f} MiB for a {len(content)} byte file"


@pytest.mark.django_db(transaction=True)
def test_the_command_never_truncates_a_file_with_other_hard_links(make_connection, write, tmp_path):
    # attack1: a private (0600) file reached through a second hard link passed the checks and was truncated.
    make_connection()
    path = write("users.json", [{"email": "fix-me"}])
    precious = tmp_path / "precious"
    precious.write_text("keep me")
    precious.chmod(0o600)
    (tmp_path / "rejects.json").hardlink_to(precious)
    with pytest.raises(CommandError):
        call_command(
            "import_users",
            str(path),
            "--connection",
            "Username-Password-Authentication",
            "--no-progress",
            "--rejects",
            str(tmp_path / "rejects.json"),
        )
    assert precious.read_text() == "keep me"


@pytest.mark.django_db(transaction=True)
def test_the_command_refuses_a_rejects_file_in_a_missing_directory_before_importing(make_connection, write, tmp_path):
    # attack1: only lstat() was checked up front; the import ran, then FileNotFoundError escaped as a traceback.
    make_connection()
    path = write("users.json", [{"email": "ok@example.com"}, {"email": "fix-me"}])
    with pytest.raises(CommandError):
        call_command(
            "import_users",
            str(path),
            "--connection",
            "Username-Password-Authentication",
            "--no-progress",
            "--batch-size",
            "1",
            "--rejects",
            str(tmp_path / "missing" / "rejects.json"),
        )
    assert not User.objects.exists()


# --- the edges of the attack1 fixes ---------------------------------------------------------------------------


@pytest.mark.parametrize("parser", ["yajl", "python"])
def test_a_user_nested_too_deeply_is_refused_for_its_depth_by_either_parser(run, parser):
    # A lone surrogate anywhere in the file sends it to ijson's Python backend; both build items alike.
    deep = b'{"email": "deep@example.com", "user_metadata": {"a": ' + b"[" * 5000 + b"]" * 5000 + b"}}"
    lone = b', {"email": "lone\\ud800@example.com"}' if parser == "python" else b""
    summary, rejected = run(io.BytesIO(b"[" + deep + b', {"email": "ok@example.com"}' + lone + b"]"))
    assert summary.inserted == 1
    assert rejected[0].errors[0]["code"] == "MAX_DEPTH"
    assert rejected[0].user["email"] == "deep@example.com"


@pytest.mark.parametrize("escape", [b"\\ud800", b"\\udc00", b"\\\\ud800\\udc00"])
@pytest.mark.parametrize("shift", range(14))
def test_a_lone_surrogate_escape_across_the_edge_of_a_scanned_window_is_found(run, escape, shift):
    # The scan reads the file in windows (the first ends at byte 4096, the size of the first read); an escape
    # cut by that edge must still be seen whole, or yajl reads the user with "?" (or fails the file).
    head = b'[{"email": "a@example.com", "name": "'
    padding = b"p" * (4096 - len(head) - shift)
    content = head + padding + escape + b'"}, {"email": "ok@example.com"}]'
    summary, rejected = run(io.BytesIO(content))
    assert summary.inserted == 1
    assert [e["code"] for e in rejected[0].errors] == ["INVALID_CHARACTERS"]


@pytest.mark.parametrize("removed", ["password", [1], [["password"]], None, {"password": 1}])
def test_a_rejects_entry_whose_removed_is_not_a_list_of_paths_is_refused(run, removed):
    entry = {"user": {"email": "a@example.com"}, "errors": [], "removed": removed}
    summary, rejected = run([entry, {"email": "ok@example.com"}])
    assert summary.inserted == 1 and not User.objects.filter(email="a@example.com").exists()
    assert rejected[0].errors == [
        {
            "code": "INVALID_TYPE",
            "message": '"removed" must list the paths of the keys left out, as strings.',
            "path": "",
        }
    ]


def test_a_secret_removed_error_never_quotes_what_removed_lists(run):
    entry = {"user": {"email": "a@example.com"}, "errors": [], "removed": ["Hunter2-Secret", "password"]}
    _summary, rejected = run([entry])
    [error] = rejected[0].errors
    assert error["code"] == "SECRET_REMOVED"
    assert "Hunter2" not in json.dumps(rejected[0].as_auth0())
    assert error["message"].startswith("2 keys listed under")


# attack3: on PostgreSQL jsonb keeps numbers as numeric and writes 1e308 back as a 309-digit integer (and 1e23 as
# 10**23, which is not the float 1e23), so a re-run of the same file (the documented way to resume an import)
# finds the row "different": DUPLICATED_USER without --upsert, "updated" with it. SQLite skips it as identical.
@pytest.mark.parametrize("number", [1e308, 1e23])
def test_a_second_run_skips_a_user_whose_metadata_holds_a_large_float(run, number):  # attack3
    users = [{"email": "a@example.com", "app_metadata": {"n": number}}]
    run(users)
    summary, rejected = run(users)
    assert _codes(rejected) == []
    assert (summary.inserted, summary.skipped, summary.updated, summary.failed) == (0, 1, 0, 0)
    # The same JSON number: jsonb gives 1e308 back as the integer 10**308, which Python never counts equal to the
    # float (exact comparison), though it reads back as the same double. No import can change what jsonb stores.
    metadata = User.objects.get().app_metadata
    assert metadata is not None and float(metadata["n"]) == number


def test_a_second_run_skips_a_user_whose_nested_floats_jsonb_rewrites_with_upsert_too(run):
    metadata = {"a": [1e16, -0.0, 1.5e300, {"b": 1e-7, "c": 12345678901234567890.0}], "d": 0.1}
    users = [{"email": "a@example.com", "user_metadata": metadata, "app_metadata": {"n": 1e23}}]
    run(users)
    summary, rejected = run(users, upsert=True)
    assert _codes(rejected) == []
    assert (summary.inserted, summary.skipped, summary.updated, summary.failed) == (0, 1, 0, 0)


def test_an_upsert_leaves_a_large_float_alone_when_another_attribute_of_the_row_changed(run):
    # The row differs (its name was edited since), so it is not identical; the file does not give a name, so
    # nothing it gives differs and the upsert has nothing to write (on PostgreSQL 1e23 reads back as 10**23).
    users = [{"email": "a@example.com", "app_metadata": {"n": 1e23}}]
    run(users)
    User.objects.update(name="Edited")
    summary, rejected = run(users, upsert=True)
    assert _codes(rejected) == []
    assert (summary.inserted, summary.skipped, summary.updated, summary.failed) == (0, 1, 0, 0)
    assert User.objects.get().name == "Edited"


def test_a_float_that_really_changed_is_still_updated(run):
    run([{"email": "a@example.com", "app_metadata": {"n": 1e23}}])
    summary, _rejected = run([{"email": "a@example.com", "app_metadata": {"n": 1.0000000000000001e23}}], upsert=True)
    assert (summary.skipped, summary.updated) == (0, 1)
    metadata = User.objects.get().app_metadata
    assert metadata is not None and float(metadata["n"]) == 1.0000000000000001e23


def test_an_integer_beyond_int64_reads_the_file_again_without_giving_a_user_twice(run):
    # yajl stops at 2**64 "integer overflow"; the file is read again by the Python backend, stepping over the
    # users already given: the first batch is committed by then, and giving a user twice would refuse it as
    # DUPLICATED_USER (or insert it twice). Positions in errors and the bytes counted stay those of the file.
    users = [
        {"email": "a@example.com"},
        {"email": "not-an-email"},
        {"email": "b@example.com"},
        {"email": "big@example.com", "app_metadata": {"n": 2**64, "m": -(2**63)}},
        {"email": "c@example.com"},
        {"email": "b@example.com"},
    ]
    source = _array(users)
    size = len(source.getvalue())
    progress: list[int] = []
    summary, rejected = run(source, batch_size=2, on_progress=lambda _summary, read: progress.append(read))
    assert (summary.total, summary.inserted, summary.failed) == (6, 4, 2)
    assert [(r.index, _codes([r])[0][0][0]) for r in rejected] == [(1, "FORMAT"), (5, "DUPLICATED_USER")]
    assert User.objects.get(email="big@example.com").app_metadata == {"n": 2**64, "m": -(2**63)}
    assert progress == sorted(progress) and progress[-1] == size


def test_an_array_that_breaks_after_an_integer_beyond_int64_names_the_users_read(run):
    text = json.dumps([{"email": "a@example.com"}, {"email": "b@example.com", "app_metadata": {"n": 2**64}}])
    with pytest.raises(ImportFileError) as caught:
        run(io.BytesIO(text.encode()[:-1] + b", {]"), batch_size=1)
    assert caught.value.message == "The users file is not valid JSON after 2 users."
    assert User.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_the_rejects_file_keeps_a_user_of_exponent_numbers_whole_and_as_small_as_sent(make_connection, write, capsys):
    # The job's report shortens such a user (jobs.report: PostgreSQL would store each 1e308 as 309 digits); the
    # rejects file is written by Python, which writes 1e308 back as 1e+308, and is meant to be fixed and run again.
    make_connection()
    user = b'{"email":"x","user_metadata":{"n":[' + b",".join([b"1e308"] * 80_000) + b"]}}"
    path = write("users.json", b"[" + user + b"]")
    with pytest.raises(SystemExit):
        call_command("import_users", str(path), "--connection", "Username-Password-Authentication", "--no-progress")
    rejects = path.with_name("users.rejects.json")
    assert rejects.stat().st_size < 2 * len(user)
    [entry] = json.loads(rejects.read_text())
    assert entry["user"] == {"email": "x", "user_metadata": {"n": [1e308] * 80_000}}
    assert [error["code"] for error in entry["errors"]] == ["FORMAT", "METADATA_TOO_LARGE"]
