"""Errors of the logs API."""

from django.utils.translation import gettext_lazy as _

from core.errors import DomainError


class LogNotFound(DomainError):
    status = 404
    code = "inexistent_log"
    default_message = _("The log event does not exist.")
