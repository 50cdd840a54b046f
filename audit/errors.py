"""Errors of the logs API (stable codes, Auth0's messages)."""

from __future__ import annotations

from enum import StrEnum

from django.utils.translation import gettext_lazy as _

from core.errors import DomainError, ErrorCode


class AuditErrorCode(StrEnum):
    """The codes this app answers with."""

    INEXISTENT_LOG = "inexistent_log"


class LogNotFound(DomainError):
    status = 404
    code = AuditErrorCode.INEXISTENT_LOG
    default_message = _("The log event does not exist.")


class CheckpointNotFound(DomainError):
    """``from`` names no event. Auth0's log ids are ordered, so any id marks a place in its log; ours are random
    (``audit.models.new_log_id``), so only an event's own id does, and an unknown one is refused rather than read
    as "the beginning" or "the end", either of which would silently replay or skip events."""

    status = 400
    code = ErrorCode.INVALID_QUERY_STRING
    default_message = _("No log event has the id given in 'from': use the log_id of an event as the checkpoint.")
