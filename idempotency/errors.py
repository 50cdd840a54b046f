"""Errors of ``Idempotency-Key`` handling (stable codes)."""

from __future__ import annotations

from enum import StrEnum

from core.errors import DomainError


class IdempotencyErrorCode(StrEnum):
    """The codes this app answers with."""

    INVALID_IDEMPOTENCY_KEY = "invalid_idempotency_key"
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
    IDEMPOTENCY_REQUEST_IN_PROGRESS = "idempotency_request_in_progress"


class InvalidIdempotencyKey(DomainError):
    status = 400
    code = IdempotencyErrorCode.INVALID_IDEMPOTENCY_KEY


class IdempotencyKeyReused(DomainError):
    status = 422
    code = IdempotencyErrorCode.IDEMPOTENCY_KEY_REUSED


class IdempotencyInProgress(DomainError):
    status = 409
    code = IdempotencyErrorCode.IDEMPOTENCY_REQUEST_IN_PROGRESS
