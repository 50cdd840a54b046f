"""A user's password history (``User.password_history``): what the connection's ``password_history`` policy remembers.

The entries are the credentials a password change replaced, newest first: a ``password_hash`` string, or an
imported ``custom_password_hash`` object when that was what the login checked (``verify_stored_password`` checks it
before ``password_hash``). Every path that replaces a password keeps the history the same way (``remember_replaced``):
the API's PATCH, the reset page and the admin through ``users.services.update_user``, an import with upsert through
``users.imports.conflicts``. The policy's ``size`` counts the current password, so ``size - 1`` earlier ones are
kept; a change made while the policy is off forgets them all, so the history never has a gap (a password set while
nothing was recorded) once the policy is on again.
"""

from __future__ import annotations

from typing import Any

from users.credentials.hashes import verify_stored_password


def current_credential(*, password_hash: str | None, custom_password_hash: dict | None) -> str | dict | None:
    """The stored credential the login checks: the imported custom hash when there is one, else ``password_hash``."""
    if custom_password_hash is not None:
        return custom_password_hash
    return password_hash or None


def remember_replaced(
    *, password_hash: str | None, custom_password_hash: dict | None, history: list[Any] | None, remembered: int
) -> list[Any] | None:
    """The history after the current credential is replaced: it joins the front, and ``remembered - 1`` are kept
    (``remembered`` is ``connections.password_policy.password_history_size``). ``None`` with the policy off."""
    if remembered <= 0:
        return None
    replaced = current_credential(password_hash=password_hash, custom_password_hash=custom_password_hash)
    earlier = [replaced] if replaced is not None else []
    return [*earlier, *(history or [])][: remembered - 1] or None


def reuses_password(
    password: str,
    *,
    password_hash: str | None,
    custom_password_hash: dict | None,
    history: list[Any] | None,
    remembered: int,
) -> bool:
    """Whether ``password`` is the current password or one of the ``remembered - 1`` before it.

    Each check is a hash verification (bcrypt: tens of milliseconds), so at most Auth0's 24 are made.
    """
    if remembered <= 0:
        return False
    current = current_credential(password_hash=password_hash, custom_password_hash=custom_password_hash)
    return any(_matches(password, entry) for entry in [current, *(history or [])[: remembered - 1]])


def _matches(password: str, entry: object) -> bool:
    if isinstance(entry, str):
        return verify_stored_password(password, password_hash=entry, custom_password_hash=None)
    if isinstance(entry, dict):
        return verify_stored_password(password, password_hash=None, custom_password_hash=entry)
    return False
