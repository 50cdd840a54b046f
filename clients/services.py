"""Writes and checks of machine-to-machine clients.

Secrets are generated here, returned once to the caller, and stored only as bcrypt hashes; a caller may instead
fix a client's id and secret (``manage.py load_tenant``, for CI), and the secret is hashed the same way. Operator
tokens (``manage.py issue_token``) are minted here too, under the same scope check as a client's grants. Raises
``PayloadValidationError`` for unknown scopes or connections and a malformed fixed id or secret,
``ClientAlreadyExists`` for a fixed id that is taken and ``ClientNotFound`` for unknown ids.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Iterable

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from clients.errors import ClientAlreadyExists, ClientErrorCode, ClientNotFound
from clients.models import Client
from clients.scopes import parse_scopes, unknown_scopes
from clients.tokens import OPERATOR, issue_token
from connections.models import Connection
from core.actors import Actor
from core.errors import FieldCode, FieldError, PayloadValidationError
from core.hashing import BCRYPT_MAX_BYTES, bcrypt_hash, bcrypt_spend_one_check, bcrypt_verify
from core.schema import text_fault

logger = logging.getLogger(__name__)


# A fixed client id has the shape of a generated one (``models.new_client_id``: 32 letters and digits, Auth0's
# shape), which the table's check constraint also demands of every row.
CLIENT_ID_PATTERN = re.compile(r"[A-Za-z0-9]{32}")
# A fixed secret is bcrypt's input: at most 72 bytes. At least 16 characters keeps a CI secret out of reach of
# guessing (the token endpoint also limits failed authentications per client id and per address).
CLIENT_SECRET_MIN_LENGTH = 16


def _new_secret() -> tuple[str, str]:
    secret = secrets.token_urlsafe(48)  # 64 characters: within bcrypt's 72 bytes
    return secret, bcrypt_hash(secret)


def _checked_client_id(client_id: str) -> str:
    if not isinstance(client_id, str) or not CLIENT_ID_PATTERN.fullmatch(client_id):
        message = _("A client id is 32 letters (A-Z, a-z) and digits.")
        raise PayloadValidationError(message, errors=[FieldError("client_id", FieldCode.PATTERN, message)])
    return client_id


def _given_secret(secret: str) -> tuple[str, str]:
    """A secret the caller chose, checked and hashed; the messages never repeat it."""
    if not isinstance(secret, str):
        message = _("A client secret is a string.")
        raise PayloadValidationError(message, errors=[FieldError("client_secret", FieldCode.INVALID_TYPE, message)])
    fault = text_fault(secret)
    if fault is not None:
        raise PayloadValidationError(fault, errors=[FieldError("client_secret", FieldCode.INVALID_CHARACTERS, fault)])
    too_short = len(secret) < CLIENT_SECRET_MIN_LENGTH
    if too_short or len(secret.encode("utf-8")) > BCRYPT_MAX_BYTES:
        message = _("A client secret is %(min)d characters to %(max)d bytes long.") % {
            "min": CLIENT_SECRET_MIN_LENGTH,
            "max": BCRYPT_MAX_BYTES,
        }
        code = FieldCode.MIN_LENGTH if too_short else FieldCode.MAX_LENGTH
        raise PayloadValidationError(message, errors=[FieldError("client_secret", code, message)])
    return secret, bcrypt_hash(secret)


def _checked_name(name: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise PayloadValidationError(
            _("The client needs a name."),
            errors=[FieldError("name", FieldCode.MIN_LENGTH, _("The client needs a name."))],
        )
    return name.strip()


def _checked_scopes(scopes: Iterable[str] | str) -> list[str]:
    parsed = parse_scopes(scopes if isinstance(scopes, str) else list(scopes))
    unknown = unknown_scopes(parsed)
    if unknown:
        error = FieldError(
            "scopes", ClientErrorCode.UNKNOWN_SCOPE, _("Unknown scopes: %(scopes)s") % {"scopes": " ".join(unknown)}
        )
        raise PayloadValidationError(error.message, errors=[error])
    return parsed


# Auth0's longest access token lifetime ("Maximum value is 2,592,000 seconds (30 days)",
# https://auth0.com/docs/secure/tokens/access-tokens/update-access-token-lifetime). Longer ones are refused rather
# than printed: far enough out, `exp` no longer reads as a time and the server refuses the token (401).
MAX_OPERATOR_TOKEN_SECONDS = 2_592_000
# Who an operator token names (its `sub` before "@clients", its `azp`, the audit log's actor): Auth0's client ids
# are 32 letters and digits; "serve.sh" and "manage-py" need "." and "-". No spaces, controls or bidirectional
# marks, which would make the audit log and the server's log lines lie about who acted.
_OPERATOR_CLIENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def issue_operator_token(*, scopes: Iterable[str] | str, client_id: str, expires_in: int | None = None) -> str:
    """A signed management API token bound to no client (``gty: operator``), valid until it expires.

    ``scopes``: space-separated or a list, each one of ``clients.scopes.KNOWN_SCOPES``; ``client_id``: 1..64
    letters, digits, ``.``, ``_``, ``-`` (starting with a letter or digit); ``expires_in`` in seconds, 1 to
    ``MAX_OPERATOR_TOKEN_SECONDS`` (default ``ACCESS_TOKEN_LIFETIME_SECONDS``). Raises ``PayloadValidationError``:
    ``UNKNOWN_SCOPE`` for a scope this service does not know, as ``create_client`` does (such a token would be
    refused, 403, everywhere), ``MIN_LENGTH`` for no scope, ``PATTERN`` (``client_id``), ``MINIMUM``/``MAXIMUM``
    (``expires_in``).
    """
    checked = _checked_scopes(scopes)
    if not checked:
        error = FieldError("scopes", FieldCode.MIN_LENGTH, _("At least one scope is required."))
        raise PayloadValidationError(error.message, errors=[error])
    if not _OPERATOR_CLIENT_ID.fullmatch(client_id):
        error = FieldError(
            "client_id",
            FieldCode.PATTERN,
            _("The client id must be 1 to 64 letters, digits, dots, hyphens or underscores."),
        )
        raise PayloadValidationError(error.message, errors=[error])
    if expires_in is not None and not 0 < expires_in <= MAX_OPERATOR_TOKEN_SECONDS:
        error = FieldError(
            "expires_in",
            FieldCode.MINIMUM if expires_in <= 0 else FieldCode.MAXIMUM,
            _("The lifetime must be from 1 to %(max)d seconds (30 days).") % {"max": MAX_OPERATOR_TOKEN_SECONDS},
        )
        raise PayloadValidationError(error.message, errors=[error])
    return issue_token(client_id=client_id, scopes=checked, expires_in=expires_in, grant_type=OPERATOR)


def _connections(names: Iterable[str], *, lock: bool = False) -> list[Connection]:
    """The connections named, all of them, or ``PayloadValidationError`` naming the missing ones.

    With ``lock`` (inside the transaction that enables them) their rows are locked ``FOR NO KEY UPDATE``, in id
    order: a deletion of one of them under way (``FOR UPDATE``) is waited for and then seen as a missing name (400),
    where the client's new link to it failed its foreign key at commit (an IntegrityError, a 500); the lock does not
    conflict with the foreign-key checks of concurrent changes, and the order keeps two such changes from waiting on
    each other in a cycle."""
    wanted = list(dict.fromkeys(names))
    found_rows = Connection.objects.filter(name__in=wanted)
    if lock:
        found_rows = found_rows.select_for_update(no_key=True).order_by("pk")
    found = list(found_rows)
    missing = sorted(set(wanted) - {c.name for c in found})
    if missing:
        error = FieldError(
            "connections",
            ClientErrorCode.UNKNOWN_CONNECTION,
            _("Unknown connections: %(names)s") % {"names": ", ".join(missing)},
        )
        raise PayloadValidationError(error.message, errors=[error])
    return found


def create_client(
    *,
    name: str,
    scopes: Iterable[str] | str,
    connections: Iterable[str] = (),
    client_id: str | None = None,
    client_secret: str | None = None,
    actor: Actor,
) -> tuple[Client, str]:
    """Create a client; returns it with its plaintext secret, which is never retrievable again.

    ``client_id`` and ``client_secret`` fix the id (32 letters and digits) and the secret (16 characters to 72
    bytes, stored as its bcrypt hash) instead of generating them, so a CI run knows them in advance. Raises
    ``PayloadValidationError`` (fields ``name``, ``scopes``, ``connections``, ``client_id``, ``client_secret``)
    and ``ClientAlreadyExists`` (409) when the fixed id is taken: the primary key decides, not a prior lookup.
    The secret is hashed before the transaction: a bcrypt hash inside it would hold its locks (on SQLite the
    database-wide write lock) for tens of milliseconds.
    """
    clean_name = _checked_name(name)
    granted = _checked_scopes(scopes)
    enabled = _connections(connections)
    fixed = {} if client_id is None else {"client_id": _checked_client_id(client_id)}
    secret, digest = _new_secret() if client_secret is None else _given_secret(client_secret)
    with transaction.atomic():
        try:
            with transaction.atomic():
                client = Client.objects.create(
                    name=clean_name, scopes=granted, secret_hash=digest, secret_rotated_at=timezone.now(), **fixed
                )
        except IntegrityError as exc:
            raise ClientAlreadyExists() from exc
        if enabled:
            client.connections.set(_connections(connections, lock=True))  # still there, and held till commit
    logger.info("client created client_id=%s by %s", client.client_id, actor)
    return client, secret


@transaction.atomic
def update_client(
    *,
    client_id: str,
    name: str | None = None,
    scopes: Iterable[str] | str | None = None,
    connections: Iterable[str] | None = None,
    actor: Actor,
) -> Client:
    """Replace a client's name, granted scopes and/or enabled connections (by name); ``None`` keeps a part.

    Tokens already issued keep the scopes they carry until they expire, as Auth0's do after a grant changes.
    Raises ``ClientNotFound`` and ``PayloadValidationError`` (fields ``name``, ``scopes``, ``connections``).
    """
    try:
        # FOR NO KEY UPDATE: a connection's change linking this client checks its foreign key (FOR KEY SHARE)
        # meanwhile without waiting, so it and this change cannot wait on each other.
        client = Client.objects.select_for_update(no_key=True).get(pk=client_id)
    except Client.DoesNotExist as exc:
        raise ClientNotFound() from exc
    changed = []
    if name is not None:
        client.name = _checked_name(name)
        changed.append("name")
    if scopes is not None:
        client.scopes = _checked_scopes(scopes)
        changed.append("scopes")
    if connections is not None:
        client.connections.set(_connections(connections, lock=True))
        changed.append("connections")
    client.save(update_fields=["updated_at", *(f for f in changed if f != "connections")])
    logger.info("client updated client_id=%s fields=%s by %s", client_id, ",".join(changed), actor)
    return client


def rotate_client_secret(*, client_id: str, actor: Actor, secret: str | None = None) -> str:
    """A new secret (generated, or ``secret`` when the caller fixes it, checked as ``create_client`` checks it);
    the old one stops working and every token issued before is refused.

    The client's ``token_generation`` goes up by one in the same UPDATE (atomic in the database, so two concurrent
    rotations raise it twice); tokens carry the generation they were minted in and ``clients.tokens`` honours only
    the current one, so even a token minted in the same second, or on a host whose clock is behind, dies here.
    Raises ``ClientNotFound`` for an unknown id and ``PayloadValidationError`` for a ``secret`` of the wrong length.
    The secret is hashed before the one UPDATE, which needs no transaction around it (none is held across bcrypt).
    """
    secret, digest = _new_secret() if secret is None else _given_secret(secret)
    now = timezone.now()
    updated = Client.objects.filter(pk=client_id).update(
        secret_hash=digest,
        secret_rotated_at=now,
        token_generation=F("token_generation") + 1,
        updated_at=now,
    )
    if not updated:
        raise ClientNotFound()
    logger.info("client secret rotated client_id=%s by %s", client_id, actor)
    return secret


@transaction.atomic
def set_client_active(*, client_id: str, active: bool, actor: Actor) -> None:
    """Deactivated clients get no tokens, and their existing tokens are refused from the next request."""
    if not Client.objects.filter(pk=client_id).update(is_active=active, updated_at=timezone.now()):
        raise ClientNotFound()
    logger.info("client %s client_id=%s by %s", "activated" if active else "deactivated", client_id, actor)


def authenticate_client(*, client_id: str, secret: str) -> Client | None:
    """The active client these credentials belong to, or None. Costs one bcrypt check either way."""
    client = Client.objects.filter(pk=client_id).first() if client_id else None
    if client is None or len(secret.encode("utf-8")) > BCRYPT_MAX_BYTES:
        bcrypt_spend_one_check()  # same cost as a real check: no client-id oracle by timing
        return None
    if not bcrypt_verify(secret, client.secret_hash):
        return None
    return client if client.is_active else None
