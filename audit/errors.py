"""Errors of the logs API (stable codes, Auth0's messages)."""

from __future__ import annotations

from enum import StrEnum

from django.utils.translation import gettext_lazy as _

from core.errors import DomainError


class AuditErrorCode(StrEnum):
    """The codes this app answers with."""

    INEXISTENT_LOG = "inexistent_log"


class LogNotFound(DomainError):
    status = 404
    code = AuditErrorCode.INEXISTENT_LOG
    default_message = _("The log event does not exist.")
