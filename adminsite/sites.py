"""The admin site: the product's name in the header and the title, "API docs" where Django links to a public site,
and the dashboard (``adminsite.dashboard``) on the index."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin import helpers
from django.core.exceptions import BadRequest, ValidationError
from django.db import connections as databases
from django.db import router
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponseBase
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from adminsite import dashboard

PRODUCT_NAME = "userdir"

# Strings of Django's admin that Django's own Japanese catalogues leave untranslated (the date filter's label, the
# actions menu's empty choice), listed so that ``makemessages`` puts them in ours, which Django reads first.
DJANGO_GAPS = (gettext_noop("Filter by %(field_name)s"), gettext_noop("- Select an option -"))


class CheckedSelection:
    """A ``ModelAdmin`` mixin: the ids an action is posted for (``_selected_action``) must be ids the model's
    primary key can hold, else the request is 400.

    Django's ``response_action`` filters ``pk__in`` on the posted values as they come: a value that is no number
    (``abc``, ``1.0``) for an integer key, one beyond the database's integer range (SQLite cannot even bind it), or
    a NUL byte (PostgreSQL's text cannot hold it) ended the page with a 500. The admin's own pages never post such a
    value; a hand-made request gets a clear 400 instead."""

    model: type[Model]

    def response_action(
        self, request: HttpRequest, queryset: QuerySet[Any], *args: Any, **kwargs: Any
    ) -> HttpResponseBase | None:
        key = self.model._meta.pk
        assert key is not None
        for value in request.POST.getlist(helpers.ACTION_CHECKBOX_NAME):
            try:
                if "\x00" in value:
                    raise ValidationError("NUL")
                python = key.to_python(value)
                if isinstance(python, int):
                    ops = databases[router.db_for_read(self.model)].ops
                    low, high = ops.integer_field_range(key.get_internal_type())
                    if (low is not None and python < low) or (high is not None and python > high):
                        raise ValidationError("out of range")
            except ValidationError:
                raise BadRequest(_("The selected items are not valid ids.")) from None
        response: HttpResponseBase | None = super().response_action(  # type: ignore[misc]
            request, queryset, *args, **kwargs
        )
        return response


class UserdirAdminSite(admin.AdminSite):
    site_header = PRODUCT_NAME
    site_title = PRODUCT_NAME
    index_title = _("Directory administration")
    # The service has no public site of its own; its browsable API reference is the useful place to go.
    site_url = "/api/v2/docs"
    index_template = "adminsite/index.html"

    def register(self, model_or_iterable: Any, admin_class: Any = None, **options: Any) -> None:
        """Django's ``register``, every model's admin (ours, Django's users and groups, django-tasks-db's tasks)
        with ``CheckedSelection`` before its own class."""
        admin_class = admin_class or admin.ModelAdmin
        if not issubclass(admin_class, CheckedSelection):
            admin_class = type(
                admin_class.__name__, (CheckedSelection, admin_class), {"__module__": admin_class.__module__}
            )
        super().register(model_or_iterable, admin_class, **options)

    def index(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> TemplateResponse:
        """The app list with the dashboard's figures (a handful of aggregate queries, whatever the table sizes)."""
        return super().index(request, {**(extra_context or {}), "dashboard": dashboard.build()})
