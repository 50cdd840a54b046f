"""Writes and checks of machine-to-machine clients.

Secrets are generated here, returned once to the caller, and stored only as bcrypt hashes. Operator tokens
(``manage.py issue_token``) are minted here too, under the same scope check as a client's grants. Raises
``PayloadValidationError`` for unknown scopes or connections and ``ClientNotFound`` for unknown ids.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from clients.errors import ClientErrorCode, ClientNotFound
from clients.models import Client
from clients.scopes import parse_scopes, unknown_scopes
from clients.tokens import OPERATOR, issue_token
from connections.models import Connection
from core.actors import Actor
from core.errors import FieldCode, FieldError, PayloadValidationError
from core.hashing import BCRYPT_MAX_BYTES, bcrypt_hash, bcrypt_spend_one_check, bcrypt_verify

logger = logging.getLogger(__name__)


def _new_secret() -> tuple[str, str]:
    secret = secrets.token_urlsafe(48)  # 64 characters: within bcrypt's 72 bytes
    return secret, bcrypt_hash(secret)


def _checked_scopes(scopes: Iterable[str] | str) -> list[str]:
    parsed = parse_scopes(scopes if isinstance(scopes, str) else list(scopes))
    unknown = unknown_scopes(parsed)
    if unknown:
        error = FieldError(
            "scopes", ClientErrorCode.UNKNOWN_SCOPE, _("Unknown scopes: %(scopes)s") % {"scopes": " ".join(unknown)}
        )
        raise PayloadValidationError(error.message, errors=[error])
    return parsed


def issue_operator_token(*, scopes: Iterable[str] | str, client_id: str, expires_in: int | None = None) -> str:
    """A signed management API token bound to no client (``gty: operator``), valid until it expires.

    ``scopes``: space-separated or a list, each one of ``clients.scopes.KNOWN_SCOPES``; ``expires_in`` in seconds
    (default ``ACCESS_TOKEN_LIFETIME_SECONDS``). Raises ``PayloadValidationError`` (``UNKNOWN_SCOPE``) for a scope
    this service does not know, as ``create_client`` does: such a token would be refused (403) everywhere.
    """
    checked = _checked_scopes(scopes)
    if not checked:
        error = FieldError("scopes", FieldCode.MIN_LENGTH, _("At least one scope is required."))
        raise PayloadValidationError(error.message, errors=[error])
    return issue_token(client_id=client_id, scopes=checked, expires_in=expires_in, grant_type=OPERATOR)


def _connections(names: Iterable[str]) -> list[Connection]:
    wanted = list(dict.fromkeys(names))
    found = list(Connection.objects.filter(name__in=wanted))
    missing = sorted(set(wanted) - {c.name for c in found})
    if missing:
        error = FieldError(
            "connections",
            ClientErrorCode.UNKNOWN_CONNECTION,
            _("Unknown connections: %(names)s") % {"names": ", ".join(missing)},
        )
        raise PayloadValidationError(error.message, errors=[error])
    return found


@transaction.atomic
def create_client(
    *, name: str, scopes: Iterable[str] | str, connections: Iterable[str] = (), actor: Actor
) -> tuple[Client, str]:
    """Create a client; returns it with its plaintext secret, which is never retrievable again."""
    if not name or not name.strip():
        raise PayloadValidationError(
            _("The client needs a name."),
            errors=[FieldError("name", FieldCode.MIN_LENGTH, _("The client needs a name."))],
        )
    granted = _checked_scopes(scopes)
    enabled = _connections(connections)
    secret, digest = _new_secret()
    client = Client.objects.create(
        name=name.strip(), scopes=granted, secret_hash=digest, secret_rotated_at=timezone.now()
    )
    client.connections.set(enabled)
    logger.info("client created client_id=%s by %s", client.client_id, actor)
    return client, secret


@transaction.atomic
def rotate_client_secret(*, client_id: str, actor: Actor) -> str:
    """A new secret; the old one stops working and every token issued before is refused.

    The client's ``token_generation`` goes up by one in the same UPDATE (atomic in the database, so two concurrent
    rotations raise it twice); tokens carry the generation they were minted in and ``clients.tokens`` honours only
    the current one, so even a token minted in the same second, or on a host whose clock is behind, dies here.
    Raises ``ClientNotFound`` for an unknown id.
    """
    secret, digest = _new_secret()
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
