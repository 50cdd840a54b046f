"""Writes of directory users. Every entry point (REST view, sign-up, admin form, import) calls these.

``create_user`` raises ``ConnectionNotFound`` (400 ``inexistent_connection``), ``PayloadValidationError``
(400 ``invalid_body``: a field the strategy refuses or lacks, or ``InvalidMetadata``: metadata Auth0 would not
store), ``PasswordPolicyError`` (400) and
``UserAlreadyExists`` (409 ``auth0_idp_error``). ``update_user`` raises ``UserNotFound`` (404) and, for an identifier
another user holds, ``IdentifierTaken`` (400 ``auth0_idp_error``) instead of the create's 409.
Logging in is ``users.credentials.login``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import phonenumbers
from django.db import IntegrityError, transaction
from django.db.models.functions import Lower
from django.utils.translation import gettext as _

from audit.models import EventType
from audit.services import record_event
from connections.errors import ConnectionNotFound
from connections.models import Connection
from connections.password_policy import check_password, password_history_error, password_history_size
from connections.selectors import get_connection
from connections.strategies import check_update_fields, check_user_fields
from core.actors import Actor
from core.db import insert
from core.errors import FieldError, PayloadValidationError
from events.models import EventType as StreamEventType
from users.credentials.history import remember_replaced, reuses_password
from users.credentials.passwords import hash_password
from users.emails import fold_email
from users.errors import IdentifierTaken, UserAlreadyExists, UserErrorCode, UserNotFound
from users.fields import METADATA_FIELDS, PROFILE_FIELDS
from users.identifiers import full_user_id, new_object_id
from users.metadata import check_field_names, check_metadata_fields, check_metadata_size
from users.models import User
from users.profile import default_picture, now_ms
from users.selectors import get_user
from users.serializers import NewUser, UserChanges, UserInput
from users.streams import emit_user_event
from users.verification import schedule_verification_email, should_send_on_create

logger = logging.getLogger(__name__)


def is_unique_violation(exc: IntegrityError) -> bool:
    """A unique constraint (not a foreign key or check) refused the row, on PostgreSQL or SQLite."""
    cause = exc.__cause__
    if getattr(cause, "sqlstate", None) == "23505":
        return True
    return "UNIQUE constraint failed" in str(exc)


def _canonical_phone(phone_number: str | None) -> str | None:
    if phone_number is None:
        return None
    number = phonenumbers.parse(phone_number, None)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def create_user(
    *,
    data: NewUser,
    actor: Actor,
    event: tuple[EventType, str] = (EventType.SUCCESS_API_OPERATION, "Create a User"),
) -> User:
    """Create one user from a validated body (``NewUser``: what ``CreateUserRequestSerializer`` accepts).

    The strategy rules and password policy are checked here so no caller can skip them; the bcrypt hash
    is computed before the transaction so the write lock is held for the insert alone. Uniqueness is left
    to the database constraints: a lost race surfaces as ``UserAlreadyExists``, never as a duplicate. Metadata Auth0
    would not store (a name with ``.`` or ``$``, a reserved ``app_metadata`` name, over 16 MB) is ``InvalidMetadata``
    (400 ``invalid_body``, ``users.metadata``), checked first like the rest of the body.
    """
    check_metadata_fields(data)
    connection = get_connection(name=data["connection"])
    check_user_fields(connection, data)

    password = data.get("password")
    if password is not None:
        check_password_policy(connection=connection, data=data)
    password_hash = hash_password(password) if password is not None else None
    values = new_user_values(strategy=connection.strategy, data=data, password_hash=password_hash, now=now_ms())
    user = User(connection=connection, **values)
    send_verification = bool(user.email) and should_send_on_create(
        email_verified=data.get("email_verified"), verify_email=data.get("verify_email")
    )
    _insert(user, connection, send_verification=send_verification, actor=actor, event=event)
    logger.info("user created user_id=%s connection=%s by %s", user.user_id, connection.name, actor)
    return user


def check_password_policy(*, connection: Connection, data: UserInput) -> None:
    """The connection's password policy applied to ``data["password"]``, with the user's own details."""
    check_password(
        data["password"],
        options=connection.options,
        user_info={
            "email": fold_email(data["email"]) if data.get("email") is not None else None,
            "username": data["username"].lower() if data.get("username") is not None else None,
            "name": data.get("name"),
            "nickname": data.get("nickname"),
            "user_metadata": data.get("user_metadata"),
        },
    )


def new_user_values(
    *,
    strategy: str,
    data: UserInput,
    password_hash: str | None = None,
    custom_password_hash: dict[str, Any] | None = None,
    now: datetime,
) -> dict[str, Any]:
    """The stored values of a new user (all but the connection), with Auth0's defaults filled in.

    Shared by ``create_user`` and the bulk importer (which writes plain rows, not model instances), so both
    store exactly the same thing for the same input.
    """
    email = fold_email(data["email"]) if data.get("email") is not None else None
    username = data["username"].lower() if data.get("username") is not None else None
    phone_number = _canonical_phone(data.get("phone_number"))
    local_id = data.get("user_id") or new_object_id(now)
    identifier = email or phone_number or username or ""
    name = data.get("name") or identifier
    nickname = data.get("nickname") or (email.split("@", 1)[0] if email else identifier)
    return {
        "user_id": full_user_id(strategy, local_id),
        "email": email,
        "email_verified": bool(data.get("email_verified", False)),
        "username": username,
        "phone_number": phone_number,
        "phone_verified": bool(data.get("phone_verified", False)),
        "given_name": data.get("given_name"),
        "family_name": data.get("family_name"),
        "name": name,
        "nickname": nickname,
        "picture": data.get("picture") or default_picture(email=email, name=name),
        "user_metadata": data.get("user_metadata"),
        "app_metadata": data.get("app_metadata"),
        "blocked": data.get("blocked"),
        "password_hash": password_hash,
        "custom_password_hash": custom_password_hash,
        "password_history": None,
        "last_password_reset": None,  # set by the first password change
        # Never logged in (users.credentials.login counts the logins).
        "last_login": None,
        "last_ip": None,
        "logins_count": 0,
        "created_at": now,
        "updated_at": now,
    }


def _insert(
    user: User, connection: Connection, *, send_verification: bool, actor: Actor, event: tuple[EventType, str]
) -> None:
    # No savepoint around the insert (two fewer statements per create): a refused insert rolls the whole
    # transaction back, and the reason is worked out after it, outside.
    inserted = False
    try:
        with transaction.atomic():
            insert(user)
            inserted = True
            record_event(type=event[0], description=event[1], actor=actor, user=user)
            emit_user_event(StreamEventType.USER_CREATED, user)
            if send_verification:
                schedule_verification_email(user)
    except IntegrityError as exc:
        if not inserted and is_unique_violation(exc):
            raise UserAlreadyExists() from exc
        # Deleted while we were hashing: the foreign key is checked at COMMIT (Django creates it deferred).
        if not Connection.objects.filter(pk=connection.pk).exists():
            raise ConnectionNotFound() from exc
        raise


def _merge_metadata(current: dict[str, Any] | None, change: dict[str, Any] | None) -> dict[str, Any] | None:
    """Auth0's rule: merged at the top level, a ``null`` value removes its key, ``{}`` clears everything."""
    if change is None or change == {}:
        return None
    merged = dict(current or {})
    for key, value in change.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged or None


# The stored credential a reuse check looked at: password hash, imported custom hash, password history.
Credentials = tuple[str | None, dict | None, list | None]

# How many concurrent password changes a change checks its password against again, outside the transaction, before
# it does that check under the row lock instead (see ``update_user``).
_RECHECKS_OUTSIDE = 2


@dataclass(frozen=True)
class _NewPassword:
    """A new password that passed the policy and the reuse check, and its bcrypt hash, all made outside any
    transaction; ``checked`` is the stored credential the reuse check saw."""

    password_hash: str
    checked: Credentials


def _credentials(user: User) -> Credentials:
    return (user.password_hash, user.custom_password_hash, user.password_history)


def update_user(
    *,
    user_id: str,
    data: UserChanges,
    actor: Actor,
    event: tuple[EventType, str] = (EventType.SUCCESS_API_OPERATION, "Update a User"),
    in_transaction: Callable[[], object] | None = None,
) -> User:
    """Apply a validated body (``UserChanges``: what ``UpdateUserRequestSerializer`` accepts) to a user.

    The same strategy rules and password policy as a create; a changed e-mail or phone number is
    unverified again unless the body says otherwise, and a changed e-mail gets a verification mail only
    with ``verify_email: true``. An e-mail, username or phone number another user of the connection holds is
    ``IdentifierTaken`` (400 ``auth0_idp_error``, "The specified new email already exists": Auth0 answers a
    change with 400 where a create gets 409), decided by the unique constraints, so concurrent changes get it too.
    The metadata names sent follow ``users.metadata`` (checked first, like the rest of the body), and so does the
    size of the merged metadata. Raises ``UserNotFound``, ``PayloadValidationError`` (``InvalidMetadata`` among
    them), ``PasswordPolicyError``, ``IdentifierTaken``, and whatever ``in_transaction`` raises.

    A new password's expensive work runs before the transaction, so no lock is held meanwhile (on SQLite the
    database-wide write lock): the policy, the reuse check against the password history (up to 24 hash checks)
    and the bcrypt hash. The transaction then locks the row, so concurrent metadata merges cannot lose each other's
    keys, and compares the stored password and history with what the reuse check saw: when a concurrent change
    committed in between (the same new password sent twice at once), the transaction is rolled back and the reuse
    check made again, outside, against what is stored now. Only a change that loses such a race ``_RECHECKS_OUTSIDE``
    times in a row makes that check under the lock. Call it outside any transaction: inside one, every lock taken
    before is held across the hashing.

    ``event`` (type, description) names the audit entry: the API's PATCH is Auth0's ``sapi`` "Update a User"; the
    password-reset page (``users.tickets.reset_password``) sets the password through this same function and records
    Auth0's ``scp`` instead. ``in_transaction`` runs first inside the transaction, before the row is written (the
    reset page claims its ticket there, so a refused change leaves the ticket unused); it runs again when the
    transaction is retried.
    """
    sent: Mapping[str, Any] = data  # read field by field
    for field in METADATA_FIELDS:
        if sent.get(field):
            check_field_names(field, sent[field])
    user = get_user(user_id=user_id)
    connection = user.connection
    if data.get("connection") is not None and data["connection"] != connection.name:
        error = FieldError(
            "connection", UserErrorCode.CONNECTION_MISMATCH, _("The user does not belong to that connection.")
        )
        raise PayloadValidationError(error.message, errors=[error])
    check_update_fields(connection, data)

    new_password = None
    if data.get("password") is not None:
        profile = {field: getattr(user, field) for field in ("email", "username", "name", "nickname")}
        profile.update({k: v for k, v in data.items() if k in profile})
        check_password(
            data["password"],
            options=connection.options,
            user_info={
                **profile,
                "user_metadata": (
                    _merge_metadata(user.user_metadata, data["user_metadata"])
                    if "user_metadata" in data
                    else user.user_metadata
                ),
            },
        )
        checked = _credentials(user)
        _refuse_reuse(checked, data["password"], connection)
        new_password = _NewPassword(password_hash=hash_password(data["password"]), checked=checked)

    for attempt in range(_RECHECKS_OUTSIDE + 1):
        with transaction.atomic():
            if in_transaction is not None:
                in_transaction()
            locked = _lock_user(user.pk)
            stored = _credentials(locked)
            if new_password is None or stored == new_password.checked or attempt == _RECHECKS_OUTSIDE:
                user = _apply_changes(locked, data, new_password, actor, event)
                break
            # A concurrent change committed after the reuse check (the same new password sent twice at once): this
            # transaction is given up (with what ``in_transaction`` did) and the check made again with none open,
            # against what is stored now. The hash made before still holds: it does not depend on it.
            transaction.set_rollback(True)
        assert new_password is not None  # only a password change gives its transaction up
        _refuse_reuse(stored, data["password"], connection)
        new_password = replace(new_password, checked=stored)
    logger.info("user updated user_id=%s fields=%s by %s", user.user_id, sorted(set(data)), actor)
    return user


def _refuse_reuse(stored: Credentials, password: str, connection: Connection) -> None:
    """``PasswordHistoryError`` when ``password`` is the stored current password or one of the ``size - 1`` before it
    (``users.credentials.history``; nothing is checked with the policy off)."""
    if _reuses_password(stored, password, password_history_size(connection.options)):
        raise password_history_error()


def _reuses_password(stored: Credentials, password: str, remembered: int) -> bool:
    """Whether ``password`` is the user's current password or one of the ``remembered - 1`` before it
    (``users.credentials.history``)."""
    password_hash, custom_password_hash, history = stored
    return reuses_password(
        password,
        password_hash=password_hash,
        custom_password_hash=custom_password_hash,
        history=history,
        remembered=remembered,
    )


def _lock_user(pk: int) -> User:
    """The user's row, locked until the caller's transaction ends. Raises ``UserNotFound`` (deleted meanwhile)."""
    try:
        # Only the user's row: locking its connection too would make every update in a connection wait on the others.
        return User.objects.select_for_update(of=("self",)).select_related("connection").get(pk=pk)
    except User.DoesNotExist as exc:
        raise UserNotFound() from exc


def _apply_changes(
    user: User,
    changed: UserChanges,
    new_password: _NewPassword | None,
    actor: Actor,
    event: tuple[EventType, str] = (EventType.SUCCESS_API_OPERATION, "Update a User"),
) -> User:
    """Inside the caller's transaction, ``user`` locked (``_lock_user``): apply the changes and record them."""
    data: Mapping[str, Any] = changed  # read field by field below
    changes: dict[str, Any] = {}
    if "email" in data:
        email = fold_email(data["email"]) if data["email"] is not None else None
        if email != user.email:
            changes["email"] = email
            changes["email_verified"] = False
    if "username" in data:
        changes["username"] = data["username"].lower() if data["username"] is not None else None
    if "phone_number" in data:
        phone = _canonical_phone(data["phone_number"])
        if phone != user.phone_number:
            changes["phone_number"] = phone
            changes["phone_verified"] = False
    for field in (*PROFILE_FIELDS, "blocked", "email_verified", "phone_verified"):
        if field in data:
            changes[field] = data[field]
    for field in METADATA_FIELDS:
        if field in data:
            changes[field] = _merge_metadata(getattr(user, field), data[field])
    if any(field in changes for field in METADATA_FIELDS):
        # Measured on the merged result, under the row lock: the body alone is always far below the limit.
        check_metadata_size(
            changes.get("user_metadata", user.user_metadata), changes.get("app_metadata", user.app_metadata)
        )
    if new_password is not None:
        changes["password_hash"] = new_password.password_hash
        # An imported hash of another scheme is checked before password_hash (verify_stored_password): left in
        # place, it would keep the old password working and refuse the new one.
        changes["custom_password_hash"] = None
        remembered = password_history_size(user.connection.options)
        stored = _credentials(user)
        if stored != new_password.checked and _reuses_password(stored, data["password"], remembered):
            # Concurrent changes won the race more often than update_user checks again outside a transaction:
            # checked under the lock, which only such a change pays for.
            raise password_history_error()
        # The replaced credential joins the history, read under the row lock so concurrent changes keep both; a
        # change with the policy off forgets the history (users.credentials.history).
        changes["password_history"] = remember_replaced(
            password_hash=user.password_hash,
            custom_password_hash=user.custom_password_hash,
            history=user.password_history,
            remembered=remembered,
        )
    changes["updated_at"] = now_ms()
    if new_password is not None:
        changes["last_password_reset"] = changes["updated_at"]
    for field, value in changes.items():
        setattr(user, field, value)
    try:
        with transaction.atomic():
            user.save(update_fields=list(changes))
    except IntegrityError as exc:
        if is_unique_violation(exc):
            raise IdentifierTaken(_taken_identifier(user, changes)) from exc
        raise
    fields = sorted(set(data) - {"password"}) + (["password"] if "password" in data else [])
    record_event(
        type=event[0],
        description=event[1],
        actor=actor,
        user=user,
        details={"fields": fields},
    )
    emit_user_event(StreamEventType.USER_UPDATED, user)
    if data.get("verify_email") and "email" in changes and user.email and not user.email_verified:
        schedule_verification_email(user)  # Auth0 mails a changed address only when asked to
    return user


def _taken_identifier(user: User, changes: Mapping[str, Any]) -> str:
    """Which changed identifier the database refused: the first of e-mail, username and phone number that another
    user of the connection holds now.

    Asked after the refusal, so the unique constraint alone decides whether there is a conflict (a concurrent change
    that won is committed by then, and visible); this only names it. Compared as the constraints compare.
    """
    others = User.objects.filter(connection_id=user.connection_id).exclude(pk=user.pk)
    changed = [field for field in ("email", "username", "phone_number") if changes.get(field) is not None]
    for field in changed:
        value = changes[field]
        holders = (
            others.filter(phone_number=value)
            if field == "phone_number"
            else others.annotate(folded=Lower(field)).filter(folded=value.lower())
        )
        if holders.exists():
            return field
    return changed[0] if changed else "email"  # the holder is gone again: name the first candidate


@transaction.atomic
def delete_user(*, user_id: str, actor: Actor) -> bool:
    """Delete the user if it exists; returns whether one was deleted (the API answers 204 either way).

    The row is locked before its ``user.deleted`` event is written: a concurrent change holding the lock commits
    its event first, so a stream never gets the user's ``user.updated`` after its ``user.deleted``."""
    user = User.objects.select_for_update(of=("self",)).select_related("connection").filter(user_id=user_id).first()
    if user is None:
        return False
    record_event(type=EventType.DELETED_USER, description="Delete a User", actor=actor, user=user)
    emit_user_event(StreamEventType.USER_DELETED, user)  # the profile as it was, before the row goes
    deleted, _rows = User.objects.filter(pk=user.pk).delete()
    if deleted:
        logger.info("user deleted user_id=%s by %s", user_id, actor)
    return bool(deleted)
