"""The rate-limit store of an install without Redis: one row per limited identity, shared by every process.

A row holds one number, the bucket's theoretical arrival time (GCRA, see ``ratelimits.buckets``); a row whose
time has passed means a full bucket, exactly like no row, so such rows are deleted whenever convenient.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Bucket(models.Model):
    # "<scope>:<sha256 of the identity>": no client id, address or username is stored in clear.
    key = models.CharField(_("key"), max_length=100, primary_key=True)
    # Epoch milliseconds when the bucket is full again.
    tat = models.BigIntegerField(_("full again at (epoch ms)"), db_index=True)

    class Meta:
        verbose_name = _("rate-limit bucket")
        verbose_name_plural = _("rate-limit buckets")

    def __str__(self) -> str:
        return self.key
