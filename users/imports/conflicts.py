"""Sorting out the imported users the unique constraints turned away, against the rows they met.

Auth0's job errors, as Auth0 words them (the codes: "Bulk User Imports", section "Retrieve failed entries",
https://auth0.com/docs/manage-users/user-migration/bulk-user-imports#retrieve-failed-entries; the messages as
Auth0's job errors endpoint answers them). These errors name no property, so they carry no ``path``:

- a row this run already wrote (created or updated since it started): ``DUPLICATED_USER`` "A user with this email
  was already provided." (or username, phone_number, user_id), the file names the user twice; Auth0's wording,
  quoted by an Auth0 engineer in community.auth0.com/t/102951;
- without ``upsert``, a row with the same e-mail, username, phone number or ``user_id``: ``DUPLICATED_USER`` "The
  user already exist and upsert parameter is false", Auth0's answer recorded by go-auth0
  (test/data/recordings/TestJobManager_ReadErrors.yaml) for a user whose e-mail exists, which the page's
  ``upsert`` row extends to any of the four ("pre-existing users that match on email address, user ID, phone, or
  username will fail");
- with ``upsert``, a row with the same e-mail: its upsertable attributes are replaced (metadata is not merged);
  ``CONFLICT`` when the file would change its username, phone number or ``user_id`` (not upsertable), or when
  they belong to another user (``CONFLICT_USERNAME`` for a username): Auth0's codes, our messages (Auth0
  documents none);
- a row identical to the user: skipped, which is what makes a killed import safe to run again (Auth0 has no
  such case: it reports ``DUPLICATED_USER``). A plain ``password`` is not compared (that would cost a bcrypt check
  a user): a user who has a password keeps it when nothing else differs (``load_tenant`` relies on it at every
  start). An upsert that changes the user otherwise sets a plain password that differs from the current one.

An upsert that replaces the password keeps the user's password history as a change through the API does
(``users.credentials.history``): the replaced credential is remembered, or the history forgotten with the policy off.
It leaves ``last_password_reset`` as it is, as Auth0's import does: Auth0 neither imports nor upserts that field
("User Profile Structure": Import? N, Upsert during import? N), and its import cannot replace a password at all
(``password_hash`` "can only be provided when the user is first imported"); the credentials an import gives are the
operator's, not a change or reset of the password by or for the user.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import connection as db
from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from connections.models import Connection
from connections.password_policy import password_history_size
from users.credentials.hashes import verify_stored_password
from users.credentials.history import remember_replaced
from users.errors import UserErrorCode
from users.imports.validation import JobError, RejectedUser
from users.imports.writer import Candidate, Writer
from users.models import User

# Auth0's messages, in Auth0's English whatever the language (clients match on them); see the module docstring.
EXISTS_WITHOUT_UPSERT = "The user already exist and upsert parameter is false"
ALREADY_PROVIDED = "A user with this %(key)s was already provided."

# What an upsert replaces: the profile, never the identifiers (Auth0 matches on e-mail and keeps the rest).
UPSERTABLE = (
    "email_verified",
    "phone_verified",
    "given_name",
    "family_name",
    "name",
    "nickname",
    "picture",
    "blocked",
    "user_metadata",
    "app_metadata",
)
# What "identical" compares, beside the password: everything the file can set.
_COMPARED = ("email", "username", "phone_number", *UPSERTABLE)
_JSON_FIELDS = frozenset(f.name for f in User._meta.concrete_fields if f.get_internal_type() == "JSONField")


@dataclass(eq=False)
class Outcome:
    """What the writer did with a batch, applied to the summary by the reading thread."""

    inserted: int = 0
    updated: int = 0
    skipped: int = 0
    rejected: list[RejectedUser] = field(default_factory=list)

    def reject(self, index: int, raw: Any, errors: list[JobError]) -> None:
        self.rejected.append(RejectedUser(index=index, raw=raw, errors=errors))


class Resolver:
    """Decides, for one import, what becomes of each user the constraints turned away.

    ``started`` is when the import began: rows created or updated since are this run's own.
    """

    def __init__(self, connection: Connection, writer: Writer, *, upsert: bool, started: datetime) -> None:
        self.connection = connection
        self.writer = writer
        self.upsert = upsert
        self.started = started
        self.jsonb = db.vendor == "postgresql"

    def resolve(self, rest: list[Candidate], now: datetime, out: Outcome) -> dict[str, list[str]]:
        """Sort out the users the constraints turned away; returns the ids inserted late and updated."""
        emails = {c.values["email"] for c in rest if c.values["email"]}
        usernames = {c.values["username"] for c in rest if c.values["username"]}
        phones = {c.values["phone_number"] for c in rest if c.values["phone_number"]}
        ids = {c.values["user_id"] for c in rest if c.data.get("user_id")}
        same_connection = Q(email__in=emails) | Q(username__in=usernames) | Q(phone_number__in=phones)
        found = User.objects.filter(Q(connection=self.connection) & same_connection | Q(user_id__in=ids))
        by: dict[str, dict[Any, User]] = {"email": {}, "username": {}, "phone_number": {}, "user_id": {}}
        for row in found:
            for key in ("email", "username", "phone_number"):
                if row.connection_id == self.connection.pk and getattr(row, key):
                    by[key][getattr(row, key)] = row
            by["user_id"][row.user_id] = row
        outcomes: dict[str, list[str]] = {"inserted": [], "updated": []}
        for candidate in rest:
            outcome = self._settle(candidate, by, now, out)
            if outcome in outcomes:
                outcomes[outcome].append(candidate.values["user_id"])
        return outcomes

    def _settle(self, candidate: Candidate, by: dict[str, dict[Any, User]], now: datetime, out: Outcome) -> str:
        values, data = candidate.values, candidate.data
        keys = ["email", "username", "phone_number"] + (["user_id"] if data.get("user_id") else [])
        looked_up = {key: by[key].get(values[key]) for key in keys if values[key]}
        matches = {key: row for key, row in looked_up.items() if row is not None}
        rows = {row.pk: row for row in matches.values()}
        if not rows:
            if "password" in data and candidate.bcrypt_hash is None:
                return self._insert_late(candidate, now, out)
            error = _conflict(UserErrorCode.CONFLICT, _("The user already exists."))
            out.reject(candidate.index, candidate.raw, [error])
            return "failed"
        ours = [key for key, row in matches.items() if row.created_at >= self.started or row.updated_at >= self.started]
        if ours:
            message = ALREADY_PROVIDED % {"key": ours[0]}
            out.reject(candidate.index, candidate.raw, [_conflict(UserErrorCode.DUPLICATED_USER, message)])
            return "failed"
        row = next(iter(rows.values()))
        if len(rows) == 1 and self._identical(row, candidate):
            out.skipped += 1
            return "skipped"
        if not self.upsert:
            error = _conflict(UserErrorCode.DUPLICATED_USER, EXISTS_WITHOUT_UPSERT)
            out.reject(candidate.index, candidate.raw, [error])
            return "failed"
        if "email" in matches and len(rows) == 1:
            changed = [key for key in ("username", "phone_number", "user_id") if key in data and key not in matches]
            if changed:
                message = _("An import cannot change %(fields)s of an existing user.") % {"fields": ", ".join(changed)}
                out.reject(candidate.index, candidate.raw, [_conflict(UserErrorCode.CONFLICT, message)])
                return "failed"
            if self._update(row, candidate, now):
                out.updated += 1
                return "updated"
            out.skipped += 1
            return "skipped"
        # Upsert matches on the e-mail only: another identifier that belongs to another user (or to a user
        # whose e-mail differs) cannot be taken.
        if "username" in matches and matches["username"].pk != getattr(matches.get("email"), "pk", None):
            message = _("A user with this username already exists in the connection.")
            error = _conflict(UserErrorCode.CONFLICT_USERNAME, message)
        else:
            error = _conflict(UserErrorCode.CONFLICT, _("The user already exists."))
        out.reject(candidate.index, candidate.raw, [error])
        return "failed"

    def _insert_late(self, candidate: Candidate, now: datetime, out: Outcome) -> str:
        """A user held back unhashed whose e-mail was freed meanwhile: hash it and try once more."""
        self.writer.hash_late(candidate)
        with transaction.atomic():
            if self.writer.insert([candidate], self.writer.rows([candidate], now)):
                out.inserted += 1
                return "inserted"
        out.reject(candidate.index, candidate.raw, [_conflict(UserErrorCode.CONFLICT, _("The user already exists."))])
        return "failed"

    def _differs(self, row: User, key: str, value: Any) -> bool:
        """Whether storing ``value`` under ``key`` would change what ``row`` holds.

        jsonb keeps a number as ``numeric`` and writes it back without an exponent, so on PostgreSQL a float
        such as ``1e23`` reads back as the integer 10**23 (which is not the float 1e23): a stored JSON value is
        compared with what jsonb makes of the file's (``_as_jsonb``), only when the plain comparison fails.
        """
        stored = getattr(row, key)
        if stored == value:
            return False
        return not (self.jsonb and key in _JSON_FIELDS and stored == _as_jsonb(value))

    def _identical(self, row: User, candidate: Candidate) -> bool:
        values, data = candidate.values, candidate.data
        if any(self._differs(row, f, values[f]) for f in _COMPARED):
            return False
        if data.get("user_id") and row.user_id != values["user_id"]:
            return False
        if "password" in data:  # a bcrypt hash of it cannot be compared without paying for bcrypt
            return row.password_hash is not None or row.custom_password_hash is not None
        return (row.password_hash, row.custom_password_hash) == (
            values["password_hash"],
            values["custom_password_hash"],
        )

    def _update(self, row: User, candidate: Candidate, now: datetime) -> bool:
        """Replace the upsertable attributes the file gives; False when nothing differs."""
        data, values = candidate.data, candidate.values
        changes: dict[str, Any] = {f: values[f] for f in UPSERTABLE if f in data}
        if "password" in data and self._same_password(row, data["password"]):
            pass  # a new hash of the current password is no change: the history keeps its older entries
        elif "password" in data or "password_hash" in data:
            changes.update(password_hash=values["password_hash"], custom_password_hash=None)
        elif "custom_password_hash" in data:
            changes.update(password_hash=None, custom_password_hash=values["custom_password_hash"])
        changes = {key: value for key, value in changes.items() if self._differs(row, key, value)}
        if not changes:
            return False
        if "password_hash" in changes or "custom_password_hash" in changes:
            changes["password_history"] = self._history_after_change(row)
        changes["updated_at"] = now
        User.objects.filter(pk=row.pk).update(**changes)
        for key, value in changes.items():
            setattr(row, key, value)  # a later user of the batch meeting this row sees it was this run's
        values["user_id"] = row.user_id
        return True

    def _same_password(self, row: User, password: str) -> bool:
        """Whether the file's plain ``password`` is the row's current one: one hash check, paid only by a user the
        upsert changes otherwise (a row that differs in nothing else is skipped, its password kept)."""
        return verify_stored_password(
            password, password_hash=row.password_hash, custom_password_hash=row.custom_password_hash
        )

    def _history_after_change(self, row: User) -> list[Any] | None:
        """The history once the upsert replaces the password, as a change through the API keeps it
        (``users.credentials.history``): the replaced credential, read under the row's lock so a concurrent
        password change is not lost from it. The file's password is not checked against it (an import sets the
        credentials the operator gives)."""
        locked = (
            User.objects.select_for_update(of=("self",))
            .filter(pk=row.pk)
            .values("password_hash", "custom_password_hash", "password_history")
            .get()
        )
        return remember_replaced(
            password_hash=locked["password_hash"],
            custom_password_hash=locked["custom_password_hash"],
            history=locked["password_history"],
            remembered=password_history_size(self.connection.options),
        )


def _as_jsonb(value: Any) -> Any:
    """``value`` as PostgreSQL gives it back from a jsonb column it was written to as ``json.dumps`` text.

    jsonb reads a number as ``numeric`` (exact decimal) and writes it without an exponent: ``1e+23`` comes back
    as ``100000000000000000000000``, an integer for Python, and 10**23 is not the float 1e23 (the float is
    99999999999999991611392). ``json.dumps`` writes a float with an exponent (``repr``) only from 1e16 up, and
    those all come back as integers; any other float comes back as the same float (``-0.0`` as ``0.0``, which
    Python counts equal). PostgreSQL documents the conversion in "JSON Types" (Table 8.23: number is numeric).
    """
    if type(value) is float:
        text = repr(value)
        return int(Decimal(text)) if "e+" in text else value
    if type(value) is dict:
        return {key: _as_jsonb(item) for key, item in value.items()}
    if type(value) is list:
        return [_as_jsonb(item) for item in value]
    return value


def _conflict(code: str, message: str) -> JobError:
    """A job error about the user as a whole: Auth0 gives these no ``path``."""
    return {"code": code, "message": message}
