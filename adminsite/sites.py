"""The admin site: the product's name in the header and the title, "API docs" where Django links to a public site,
and the dashboard (``adminsite.dashboard``) on the index."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from adminsite import dashboard

PRODUCT_NAME = "userdir"

# Strings of Django's admin that Django's own Japanese catalogues leave untranslated (the date filter's label, the
# actions menu's empty choice), listed so that ``makemessages`` puts them in ours, which Django reads first.
DJANGO_GAPS = (gettext_noop("Filter by %(field_name)s"), gettext_noop("- Select an option -"))


class UserdirAdminSite(admin.AdminSite):
    site_header = PRODUCT_NAME
    site_title = PRODUCT_NAME
    index_title = _("Directory administration")
    # The service has no public site of its own; its browsable API reference is the useful place to go.
    site_url = "/api/v2/docs"
    index_template = "adminsite/index.html"

    def index(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> TemplateResponse:
        """The app list with the dashboard's figures (a handful of aggregate queries, whatever the table sizes)."""
        return super().index(request, {**(extra_context or {}), "dashboard": dashboard.build()})
