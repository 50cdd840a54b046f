"""``manage.py purge_idempotency_keys``: delete expired keys (run it daily; expired keys are also replaced on reuse)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.utils import timezone

from idempotency.models import IdempotencyRecord


class Command(BaseCommand):
    help = "Delete idempotency records past their expiry."

    def handle(self, *args: Any, **opts: Any) -> None:
        deleted, _rows = IdempotencyRecord.objects.filter(expires_at__lte=timezone.now()).delete()
        self.stdout.write(f"deleted {deleted} expired idempotency records")
