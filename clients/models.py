"""Machine-to-machine clients: a client id, a bcrypt-hashed secret, granted scopes, enabled connections."""

from __future__ import annotations

import secrets
import string

from django.db import models
from django.db.models.functions import Length
from django.db.models.lookups import Exact
from django.utils.translation import gettext_lazy as _

from connections.models import Connection

_ALPHANUMERIC = string.ascii_letters + string.digits


def new_client_id() -> str:
    """32 alphanumerics, as Auth0's client ids."""
    return "".join(secrets.choice(_ALPHANUMERIC) for _ in range(32))


class Client(models.Model):
    client_id = models.CharField(
        verbose_name=_("client id"), primary_key=True, max_length=32, default=new_client_id, editable=False
    )
    name = models.CharField(verbose_name=_("name"), max_length=255)
    # Only the bcrypt hash is stored; the secret itself is shown once, at creation or rotation.
    secret_hash = models.CharField(verbose_name=_("secret hash"), max_length=255, editable=False)
    scopes = models.JSONField(
        verbose_name=_("scopes"),
        default=list,
        blank=True,
        help_text=_(
            "What the client's tokens may do in the management API (POST /oauth/token, client credentials). A "
            "change applies to tokens issued after it; tokens already issued keep their scopes until they expire "
            "or the secret is rotated."
        ),
    )
    is_active = models.BooleanField(verbose_name=_("active"), default=True)
    connections = models.ManyToManyField(
        Connection,
        verbose_name=_("connections"),
        related_name="clients",
        blank=True,
        help_text=_(
            "The connections this client's applications may use: public sign-up (POST /dbconnections/signup), "
            "password logins (the password grant's realm) and password-change requests. Management API calls are "
            "not limited by this list, only by the scopes."
        ),
    )
    # When the secret last changed (shown in the admin; also the rule for tokens minted before generations).
    secret_rotated_at = models.DateTimeField(
        verbose_name=_("secret rotated at"),
    )
    # Raised by one on every rotation and carried by each token as its ``gen`` claim: a token of another generation
    # is refused, so a rotation retires every earlier token whatever the clocks say.
    token_generation = models.PositiveIntegerField(verbose_name=_("token generation"), default=0, editable=False)
    created_at = models.DateTimeField(verbose_name=_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(verbose_name=_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("client")
        verbose_name_plural = _("clients")
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Exact(Length("client_id"), 32), name="clients_client_id_length"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.client_id})"
