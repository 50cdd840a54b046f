"""Logging a directory user in with a password: the check behind Auth0's password grants (``api.oauth.token``).

``log_in`` finds the user by e-mail or username in a connection and checks the password against whatever hash
is stored (bcrypt, or an imported format: ``users.credentials.hashes``); a success with anything but bcrypt at
``settings.BCRYPT_ROUNDS`` re-hashes the password with bcrypt. Raises ``WrongCredentials`` (403
``invalid_grant``) or ``UserBlocked`` (401 ``unauthorized``); every attempt is an audit event (``s``, ``fp``,
``fu`` or ``f``, as Auth0's log event types).

A correct password counts as a login, for a blocked user too: ``logins_count`` goes up by one and ``last_login``
and ``last_ip`` are set (Auth0: "If a user is blocked and logs in, the blocked session is counted in logins_count and
updates the last_login value", "User Search Query Syntax", searchable fields), by one ``UPDATE`` computing the count in
the database (``F("logins_count") + 1``), so concurrent logins never lose one.
"""

from __future__ import annotations

import enum
import logging

from django.db import transaction
from django.db.models import F, Q

from audit.models import EventType
from audit.services import record_event, record_failure
from connections.models import Connection
from core.actors import Actor
from core.hashing import bcrypt_spend_one_check
from users.credentials.hashes import verify_stored_password
from users.credentials.passwords import BCRYPT_MAX_BYTES, hash_password, is_current_bcrypt
from users.emails import email_lookup_key
from users.errors import UserBlocked, WrongCredentials
from users.models import User
from users.profile import now_ms

logger = logging.getLogger(__name__)


class _Outcome(enum.Enum):
    OK = enum.auto()
    WRONG_PASSWORD = enum.auto()
    NO_PASSWORD = enum.auto()
    BLOCKED = enum.auto()


def log_in(*, connection: Connection, username: str, password: str, actor: Actor) -> User:
    """The user of ``connection`` whose e-mail or username is ``username``, if ``password`` is theirs.

    Raises ``WrongCredentials`` for an unknown user, a wrong password or a user without a password (one
    answer for all, in about the same time), ``UserBlocked`` for a blocked user with the right password.
    After a success with anything but bcrypt at ``settings.BCRYPT_ROUNDS`` (an imported custom hash, a Django
    format, another bcrypt cost), the password is re-hashed with bcrypt and ``custom_password_hash`` cleared,
    by a conditional UPDATE that only applies if the stored hash is still the one verified.
    """
    match = Q(username=username.lower())
    # An e-mail is compared in its stored form: a text that is no acceptable address (a Kelvin sign for "K")
    # must not log in as the address it lower-cases to.
    email = email_lookup_key(username)
    if email is not None:
        match |= Q(email=email)
    user = User.objects.select_related("connection").filter(match, connection=connection).order_by("id").first()
    if user is None:
        bcrypt_spend_one_check()
        record_failure(
            type=EventType.FAILED_LOGIN_INVALID_USERNAME,
            description="Wrong email or password.",
            actor=actor,
            user_name=username[:300],
            connection_name=connection.name,
            connection_id=connection.pk,
        )
        raise WrongCredentials()
    outcome = _check_password(user=user, password=password, actor=actor)
    if outcome is _Outcome.BLOCKED:
        raise UserBlocked()
    if outcome is not _Outcome.OK:
        raise WrongCredentials()
    return user


def _check_password(*, user: User, password: str, actor: Actor) -> _Outcome:
    stored_hash, stored_custom = user.password_hash, user.custom_password_hash
    if not stored_hash and stored_custom is None:
        bcrypt_spend_one_check()  # as long as a real check: no telling users without a password apart
        record_failure(type=EventType.FAILED_LOGIN, description="No password is set", actor=actor, user=user)
        return _Outcome.NO_PASSWORD
    if not verify_stored_password(password, password_hash=stored_hash, custom_password_hash=stored_custom):
        record_failure(
            type=EventType.FAILED_LOGIN_INCORRECT_PASSWORD,
            description="Wrong email or password.",
            actor=actor,
            user=user,
        )
        return _Outcome.WRONG_PASSWORD
    # The password is checked first, so a wrong guess never learns that the account is blocked.
    if user.blocked:
        with transaction.atomic():
            _count_login(user=user, actor=actor)
            record_failure(type=EventType.FAILED_LOGIN, description="user is blocked", actor=actor, user=user)
        return _Outcome.BLOCKED

    new_hash = None
    if stored_custom is not None or not is_current_bcrypt(stored_hash):
        if len(password.encode("utf-8")) <= BCRYPT_MAX_BYTES:
            new_hash = hash_password(password)  # before the transaction: no lock is held while hashing
        else:
            logger.warning("password over bcrypt's 72 bytes: imported hash kept user_id=%s", user.user_id)
    _record_login(user=user, stored_hash=stored_hash, stored_custom=stored_custom, new_hash=new_hash, actor=actor)
    return _Outcome.OK


@transaction.atomic
def _record_login(
    *, user: User, stored_hash: str | None, stored_custom: dict | None, new_hash: str | None, actor: Actor
) -> None:
    _count_login(user=user, actor=actor)
    rehashed = False
    if new_hash is not None:
        # Only if the row still holds the hash just verified: a password changed meanwhile is never overwritten.
        unchanged = Q(password_hash=stored_hash) if stored_hash is not None else Q(password_hash__isnull=True)
        if stored_custom is not None:
            unchanged &= Q(custom_password_hash=stored_custom)
        else:
            unchanged &= Q(custom_password_hash__isnull=True)
        rehashed = bool(
            User.objects.filter(unchanged, pk=user.pk).update(password_hash=new_hash, custom_password_hash=None)
        )
        if rehashed:
            user.password_hash, user.custom_password_hash = new_hash, None
    record_event(
        type=EventType.SUCCESS_LOGIN,
        description="Successful login",
        actor=actor,
        user=user,
        details={"rehashed": rehashed},
    )


def _count_login(*, user: User, actor: Actor) -> None:
    """One more login for ``user``: the count incremented in the database, ``last_login`` now, ``last_ip`` the
    caller's address (kept when the caller has none); ``user`` gets the stored values. Raises ``WrongCredentials``
    when the user was deleted since it was read (alone, or with its connection): there is no such user any more."""
    changes: dict[str, object] = {"logins_count": F("logins_count") + 1, "last_login": now_ms()}
    if actor.ip:
        changes["last_ip"] = actor.ip[:45]
    if not User.objects.filter(pk=user.pk).update(**changes):
        raise WrongCredentials()
    user.refresh_from_db(fields=["logins_count", "last_login", "last_ip"])
