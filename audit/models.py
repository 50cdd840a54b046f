"""The audit log: one row per change to the directory, written in the same transaction as the change.

Rows copy the user id, connection and actor as text rather than pointing at them, so an event outlives the
user or connection it speaks of (a deleted user's deletion stays on record). Never a password or secret.
"""

from __future__ import annotations

import secrets

from django.db import models
from django.utils.translation import gettext_lazy as _


def new_log_id() -> str:
    return secrets.token_hex(28)  # 56 hex characters, as Auth0's log ids


class EventType(models.TextChoices):
    """Auth0's log event type codes for what this service does."""

    SUCCESS_API_OPERATION = "sapi", _("Success API Operation")
    DELETED_USER = "du", _("Deleted User")
    SUCCESS_SIGNUP = "ss", _("Success Signup")
    FAILED_SIGNUP = "fs", _("Failed Signup")
    SUCCESS_VERIFICATION_EMAIL = "sv", _("Success Verification Email")
    VERIFICATION_EMAIL_REQUEST = "svr", _("Success Verification Email Request")
    SUCCESS_LOGIN = "s", _("Success Login")
    FAILED_LOGIN = "f", _("Failed Login")
    FAILED_LOGIN_INCORRECT_PASSWORD = "fp", _("Failed Login (Incorrect Password)")
    FAILED_LOGIN_INVALID_USERNAME = "fu", _("Failed Login (Invalid Email/Username)")
    # Password changes and tickets: Auth0's "Log Event Type Codes" (auth0.com/docs/logs/references/log-events-data).
    SUCCESS_CHANGE_PASSWORD = "scp", _("Success Change Password")
    FAILED_CHANGE_PASSWORD = "fcp", _("Failed Change Password")
    SUCCESS_CHANGE_PASSWORD_REQUEST = "scpr", _("Success Change Password Request")
    FAILED_CHANGE_PASSWORD_REQUEST = "fcpr", _("Failed Change Password Request")
    FAILED_VERIFICATION_EMAIL = "fv", _("Failed Verification Email")


class Event(models.Model):
    log_id = models.CharField(_("log id"), max_length=64, unique=True, default=new_log_id, editable=False)
    date = models.DateTimeField(_("date"), auto_now_add=True)
    type = models.CharField(_("type"), max_length=16, choices=EventType.choices)
    description = models.CharField(_("description"), max_length=500)
    actor_kind = models.CharField(_("actor kind"), max_length=16)
    actor_id = models.CharField(_("actor"), max_length=255)
    ip = models.CharField(_("IP address"), max_length=64, blank=True)
    user_agent = models.CharField(_("user agent"), max_length=512, blank=True)
    user_id = models.CharField(_("user id"), max_length=300, blank=True)
    user_name = models.CharField(_("user name"), max_length=300, blank=True)
    connection = models.CharField(_("connection"), max_length=128, blank=True)
    connection_id = models.CharField(_("connection id"), max_length=20, blank=True)
    details = models.JSONField(_("details"), default=dict, blank=True)

    class Meta:
        verbose_name = _("event")
        verbose_name_plural = _("events")
        ordering = ["-date", "-id"]
        # Every read of the log walks events in (date, id) order: a page of all events, the events after a
        # checkpoint ("(date, id) > (?, ?)", a range scan of the first index) and a user's events (the second).
        # They replace the single-column indexes on date and user_id, which are their prefixes.
        indexes = [
            models.Index(fields=["date", "id"], name="audit_event_date_id"),
            models.Index(fields=["user_id", "date", "id"], name="audit_event_user_date_id"),
            # The log search's common filters (``q=type:fp``, ``q=client_id:…``, ``audit.search``), each read in the
            # list's (date, id) order without a sort; they replace the single-column index on type.
            models.Index(fields=["type", "date", "id"], name="audit_event_type_date_id"),
            models.Index(fields=["actor_id", "date", "id"], name="audit_event_actor_date_id"),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(type__in=EventType.values), name="audit_event_type_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.description} {self.user_id}"
