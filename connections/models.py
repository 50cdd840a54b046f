"""Connections: where users live. The strategy and options decide which fields a user may have."""

from __future__ import annotations

import secrets
import string
from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _

_ALPHANUMERIC = string.ascii_letters + string.digits


def prefixed_id(prefix: str) -> str:
    """``<prefix>_`` + 16 random alphanumerics: Auth0's id format for connections (``con_``) and jobs (``job_``)."""
    return f"{prefix}_" + "".join(secrets.choice(_ALPHANUMERIC) for _ in range(16))


def new_connection_id() -> str:
    """``con_`` + 16 alphanumerics, Auth0's connection id format."""
    return prefixed_id("con")


class Strategy(models.TextChoices):
    AUTH0 = "auth0", _("Database (auth0)")
    SMS = "sms", _("Passwordless SMS")
    EMAIL = "email", _("Passwordless e-mail")


# Auth0's connection name rule: letters and digits, single hyphens between them, at most 128 characters.
CONNECTION_NAME_PATTERN = r"^[a-zA-Z0-9](-[a-zA-Z0-9]|[a-zA-Z0-9])*$"
CONNECTION_NAME_MAX_LENGTH = 128
CONNECTION_DISPLAY_NAME_MAX_LENGTH = 128  # Auth0's CreateConnectionRequestContent: display_name maxLength 128

DEFAULT_USERNAME_MIN = 1
DEFAULT_USERNAME_MAX = 15


class LiveConnections(models.Manager["Connection"]):
    """``Connection.objects``, the default manager: the connections not being deleted.

    A connection whose deletion was accepted (``deletion_requested_at`` set: its users are being deleted in the
    background, ``connections.tasks``) is gone for every reader and writer, exactly as an unknown one is: the API's
    reads and changes, the admin's forms, the lookups of sign-up, password grants, imports and tickets, and the
    connections a client enables (Django builds related managers, ``client.connections``, on this one). Only its
    deletion reads it, through ``Connection.all_objects``; a user still reaches its connection (``user.connection``
    goes through the base manager, which filters nothing)."""

    def get_queryset(self) -> models.QuerySet[Connection]:
        return super().get_queryset().filter(deletion_requested_at__isnull=True)


class Connection(models.Model):
    id = models.CharField(
        verbose_name=_("id"), primary_key=True, max_length=20, default=new_connection_id, editable=False
    )
    name = models.CharField(verbose_name=_("name"), max_length=CONNECTION_NAME_MAX_LENGTH, unique=True)
    strategy = models.CharField(verbose_name=_("strategy"), max_length=16, choices=Strategy.choices)
    options = models.JSONField(verbose_name=_("options"), default=dict, blank=True)
    # Auth0's display_name and metadata: labels for the operator's tools, kept and answered as given (this service
    # shows no login page that would use the name). Empty and NULL: never given, left out of the API's body.
    display_name = models.CharField(
        verbose_name=_("display name"), max_length=CONNECTION_DISPLAY_NAME_MAX_LENGTH, blank=True, default=""
    )
    metadata = models.JSONField(verbose_name=_("metadata"), null=True, blank=True)
    created_at = models.DateTimeField(verbose_name=_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(verbose_name=_("updated at"), auto_now=True)
    # Set when the deletion of a connection with more users than CONNECTION_DELETE_SYNC_MAX_USERS was accepted (the
    # API's 202): from then on the connection is hidden (``LiveConnections``) while a task deletes its users, then
    # the row. Its name stays taken (the unique constraint) until the row goes, as Auth0 warns.
    deletion_requested_at = models.DateTimeField(
        verbose_name=_("deletion requested at"), null=True, blank=True, editable=False
    )

    # Every connection, those being deleted too: for their deletion and the admin's list only. Declared first but
    # not the default (``Meta.default_manager_name``): Django's own reads (related managers, forms) hide them.
    all_objects = models.Manager()
    objects = LiveConnections()

    class Meta:
        verbose_name = _("connection")
        verbose_name_plural = _("connections")
        default_manager_name = "objects"
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(strategy__in=Strategy.values),
                name="connections_connection_strategy_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(id__startswith="con_"),
                name="connections_connection_id_prefix",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.strategy})"

    # Small, read-only views of the options the validators need.
    @property
    def requires_username(self) -> bool:
        return bool(self.options.get("requires_username"))

    @property
    def username_length(self) -> tuple[int, int]:
        limits: dict[str, Any] = (self.options.get("validation") or {}).get("username") or {}
        return (
            int(limits.get("min", DEFAULT_USERNAME_MIN)),
            int(limits.get("max", DEFAULT_USERNAME_MAX)),
        )

    @property
    def signup_disabled(self) -> bool:
        return bool(self.options.get("disable_signup"))

    @property
    def being_deleted(self) -> bool:
        return self.deletion_requested_at is not None
