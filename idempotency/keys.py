"""``Idempotency-Key`` for the create endpoints (beyond Auth0).

A retry with the same key and body from the same caller gets the first answer (status and body) and creates
nothing; the same key with another body is 422 ``idempotency_key_reused``; while the first request runs, a
second one is 409 ``idempotency_request_in_progress``. Keys expire after ``IDEMPOTENCY_KEY_TTL_SECONDS``. A
request that ends in a 5xx, or whose process died (its claim is older than ``IDEMPOTENCY_LOCK_SECONDS``), does
not hold its key: the retry runs again, and the database's unique constraints still stop a second user.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework.request import Request
from rest_framework.response import Response

from config.errors import DomainError
from idempotency.models import IdempotencyRecord

HEADER = "HTTP_IDEMPOTENCY_KEY"


class InvalidIdempotencyKey(DomainError):
    status = 400
    code = "invalid_idempotency_key"


class IdempotencyKeyReused(DomainError):
    status = 422
    code = "idempotency_key_reused"


class IdempotencyInProgress(DomainError):
    status = 409
    code = "idempotency_request_in_progress"


def _fingerprint(request: Request) -> str:
    body = request.data if isinstance(request.data, dict) else dict(request.data.lists())
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(f"{request.method} {request.path}\n{canonical}".encode()).hexdigest()


def _claim(caller: str, endpoint: str, key: str, fingerprint: str) -> IdempotencyRecord | Response | None:
    """Insert our claim, or answer from (or about) the earlier request with this key."""
    now = timezone.now()
    for _attempt in range(2):
        try:
            with transaction.atomic():
                return IdempotencyRecord.objects.create(
                    caller=caller,
                    endpoint=endpoint,
                    key=key,
                    request_hash=fingerprint,
                    expires_at=now + timedelta(seconds=settings.IDEMPOTENCY_KEY_TTL_SECONDS),
                )
        except IntegrityError:
            existing = IdempotencyRecord.objects.filter(caller=caller, endpoint=endpoint, key=key).first()
            if existing is None:
                continue  # deleted meanwhile: claim again
            abandoned = existing.status_code is None and existing.created_at < now - timedelta(
                seconds=settings.IDEMPOTENCY_LOCK_SECONDS
            )
            if existing.expires_at <= now or abandoned:
                IdempotencyRecord.objects.filter(pk=existing.pk).delete()
                continue
            if existing.request_hash != fingerprint:
                raise IdempotencyKeyReused(_("This Idempotency-Key was used with a different request body.")) from None
            if existing.status_code is None:
                raise IdempotencyInProgress(
                    _("A request with this Idempotency-Key is still being processed. Retry shortly.")
                ) from None
            headers = {"Idempotent-Replayed": "true"}
            if existing.location:
                headers["Location"] = existing.location
            return Response(existing.response_body, status=existing.status_code, headers=headers)
    return None


def idempotent(endpoint: str, caller: Callable[[Request], str]) -> Callable[..., Any]:
    """Decorate a view's ``post``: honour ``Idempotency-Key`` when the request carries one."""

    def decorate(handler: Callable[..., Response]) -> Callable[..., Response]:
        @functools.wraps(handler)
        def wrapper(view: Any, request: Request, *args: Any, **kwargs: Any) -> Response:
            key = request.META.get(HEADER)
            if key is None:
                return handler(view, request, *args, **kwargs)
            if not 1 <= len(key) <= 255 or not key.isascii() or not key.isprintable():
                raise InvalidIdempotencyKey(_("Idempotency-Key must be 1 to 255 printable ASCII characters."))
            claim = _claim(caller(request), endpoint, key, _fingerprint(request))
            if isinstance(claim, Response):
                return claim
            try:
                response = handler(view, request, *args, **kwargs)
            except Exception as exc:
                try:
                    response = view.handle_exception(exc)  # renders domain errors; re-raises real bugs
                except Exception:
                    IdempotencyRecord.objects.filter(pk=getattr(claim, "pk", None)).delete()
                    raise
            if claim is None or response.status_code >= 500:
                IdempotencyRecord.objects.filter(pk=getattr(claim, "pk", None)).delete()
                return response
            IdempotencyRecord.objects.filter(pk=claim.pk).update(
                status_code=response.status_code,
                response_body=response.data,
                location=response.get("Location", "")[:500],
            )
            return response

        return wrapper

    return decorate
