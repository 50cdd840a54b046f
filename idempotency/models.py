"""Idempotency keys: the first answer to a keyed request, kept so a retry gets it back instead of a second
create. One row per (caller, endpoint, key); the unique constraint is what makes two concurrent requests with
one key run the operation once."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class IdempotencyRecord(models.Model):
    caller = models.CharField(_("caller"), max_length=200)
    endpoint = models.CharField(_("endpoint"), max_length=100)
    key = models.CharField(_("key"), max_length=255)
    request_hash = models.CharField(_("request hash"), max_length=64)
    # Null while the first request is still running; then its answer.
    status_code = models.PositiveSmallIntegerField(_("status code"), null=True, blank=True)
    # The answer's body and Content-Type exactly as they were sent (UTF-8 text; empty for a bodiless answer), so a
    # replay is byte for byte the first answer: a jsonb column would reorder the keys of a JSON object.
    response_body = models.TextField(_("response body"), blank=True)
    content_type = models.CharField(_("content type"), max_length=200, blank=True)
    location = models.CharField(_("location"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires at"), db_index=True)

    class Meta:
        verbose_name = _("idempotency record")
        verbose_name_plural = _("idempotency records")
        constraints = [
            models.UniqueConstraint(fields=["caller", "endpoint", "key"], name="idempotency_record_unique_per_caller"),
        ]

    def __str__(self) -> str:
        return f"{self.endpoint} {self.key}"
