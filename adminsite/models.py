"""The operators' own accounts under their own names.

Operators sign in with Django's ``auth.User``; the directory's people are ``users.User``. Both would be listed as
"Users" in the admin, so operators' accounts and groups are shown through these proxies (no table of their own)
as "Operators" and "Operator groups".
"""

from __future__ import annotations

from django.contrib.auth.models import Group, User
from django.utils.translation import gettext_lazy as _


class Operator(User):
    class Meta:
        proxy = True
        verbose_name = _("operator")
        verbose_name_plural = _("operators")


class OperatorGroup(Group):
    class Meta:
        proxy = True
        verbose_name = _("operator group")
        verbose_name_plural = _("operator groups")
