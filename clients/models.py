"""Machine-to-machine clients: a client id, a bcrypt-hashed secret, granted scopes, enabled connections."""

from __future__ import annotations

import secrets
import string

from django.db import models
from django.db.models.functions import Length
from django.db.models.lookups import Exact

from connections.models import Connection

_ALPHANUMERIC = string.ascii_letters + string.digits


def new_client_id() -> str:
    """32 alphanumerics, as Auth0's client ids."""
    return "".join(secrets.choice(_ALPHANUMERIC) for _ in range(32))


class Client(models.Model):
    client_id = models.CharField(primary_key=True, max_length=32, default=new_client_id, editable=False)
    name = models.CharField(max_length=255)
    # Only the bcrypt hash is stored; the secret itself is shown once, at creation or rotation.
    secret_hash = models.CharField(max_length=255, editable=False)
    scopes = models.JSONField(default=list, blank=True, help_text="Granted management API scopes.")
    is_active = models.BooleanField(default=True)
    connections = models.ManyToManyField(
        Connection, related_name="clients", blank=True, help_text="Connections enabled for sign-up."
    )
    # Tokens issued before this moment are refused: rotating a leaked secret also retires its tokens.
    secret_rotated_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Exact(Length("client_id"), 32), name="clients_client_id_length"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.client_id})"
