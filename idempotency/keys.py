"""``Idempotency-Key`` for the create endpoints (beyond Auth0).

A retry with the same key and body from the same caller gets the first answer (status, and body and
``Content-Type`` byte for byte) and creates nothing; the same key with another body is 422
``idempotency_key_reused``; while the first request runs, a second one is 409 ``idempotency_request_in_progress``
with ``Retry-After: 1``. Keys expire after ``IDEMPOTENCY_KEY_TTL_SECONDS``. A request that ends in a 5xx, or whose
process died (its claim is older than ``IDEMPOTENCY_LOCK_SECONDS``), does not hold its key: the retry runs again,
and the database's unique constraints still stop a second user.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpResponse, QueryDict
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _
from rest_framework.request import Request
from rest_framework.response import Response

from core.schema import text_fault
from idempotency.errors import IdempotencyInProgress, IdempotencyKeyReused, InvalidIdempotencyKey
from idempotency.models import IdempotencyRecord

HEADER = "HTTP_IDEMPOTENCY_KEY"


def keyed_digest(purpose: str, value: Any) -> str:
    """HMAC-SHA256 (hex) of ``value``'s canonical JSON, keyed from ``SECRET_KEY`` and ``purpose``.

    The canonical form sorts object keys and escapes everything outside ASCII (``ensure_ascii``), so any parsed
    JSON value, lone surrogates and NUL included, has one form and encodes. Raises nothing for parsed JSON or
    form data.
    """
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return salted_hmac(f"idempotency.keys.{purpose}", canonical, algorithm="sha256").hexdigest()


def _fingerprint(request: Request) -> str:
    """The request (method, path, body) as a keyed digest: equal bodies give equal fingerprints.

    A form and a JSON body are told apart; a form keeps every value of a repeated field, in order.
    """
    data = request.data
    body = ["form", {key: data.getlist(key) for key in data}] if isinstance(data, QueryDict) else ["json", data]
    return keyed_digest("fingerprint", [request.method, request.path, body])


def _storable_text(content: bytes) -> str | None:
    """The rendered body as text a column can hold, or None: bytes that are not UTF-8 (no text column takes
    them) or text ``core.schema.text_fault`` refuses (a NUL: PostgreSQL's text columns refuse it) are answered
    but not kept."""
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return text if text_fault(text) is None else None


def _claim(caller: str, endpoint: str, key: str, fingerprint: str) -> IdempotencyRecord | HttpResponse | None:
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
            return _replay(existing)
    return None


def _replay(record: IdempotencyRecord) -> HttpResponse:
    """The kept answer, its body and ``Content-Type`` exactly as first sent (none for a bodiless answer)."""
    response = HttpResponse(record.response_body.encode("utf-8"), status=record.status_code)
    if record.content_type:
        response["Content-Type"] = record.content_type
    else:
        del response["Content-Type"]
    response["Idempotent-Replayed"] = "true"
    if record.location:
        response["Location"] = record.location
    return response


def idempotent(endpoint: str, caller: Callable[[Request], str]) -> Callable[..., Any]:
    """Decorate a view's ``post``: honour ``Idempotency-Key`` when the request carries one."""

    def decorate(handler: Callable[..., Response]) -> Callable[..., HttpResponse]:
        @functools.wraps(handler)
        def wrapper(view: Any, request: Request, *args: Any, **kwargs: Any) -> HttpResponse:
            key = request.META.get(HEADER)
            if key is None:
                return handler(view, request, *args, **kwargs)
            if not 1 <= len(key) <= 255 or not key.isascii() or not key.isprintable():
                raise InvalidIdempotencyKey(_("Idempotency-Key must be 1 to 255 printable ASCII characters."))
            try:
                claim = _claim(caller(request), endpoint, key, _fingerprint(request))
            except IdempotencyInProgress as exc:
                # The first request is about to finish (or, if its process died, to be given up after
                # IDEMPOTENCY_LOCK_SECONDS): tell the client when to try again (RFC 9110 §10.2.3).
                in_progress = view.handle_exception(exc)
                in_progress["Retry-After"] = "1"
                return in_progress
            if isinstance(claim, HttpResponse):
                return claim
            try:
                response = handler(view, request, *args, **kwargs)
            except Exception as exc:
                try:
                    response = view.handle_exception(exc)  # renders domain errors; re-raises real bugs
                except Exception:
                    if claim is not None:
                        IdempotencyRecord.objects.filter(pk=claim.pk).delete()
                    raise
            try:
                # Rendered here as DRF's dispatch would (finalizing twice changes nothing), so what is kept is
                # the exact bytes the client gets.
                response = view.finalize_response(request, response, *args, **kwargs)
                if hasattr(response, "render"):
                    response.render()
            except Exception:
                if claim is not None:
                    IdempotencyRecord.objects.filter(pk=claim.pk).delete()
                raise
            body = _storable_text(response.content)
            if claim is None:
                return response
            if response.status_code >= 500 or body is None:
                IdempotencyRecord.objects.filter(pk=claim.pk).delete()
                return response
            IdempotencyRecord.objects.filter(pk=claim.pk).update(
                status_code=response.status_code,
                response_body=body,
                content_type=response.get("Content-Type", ""),
                location=response.get("Location", "")[:500],
            )
            return response

        return wrapper

    return decorate
