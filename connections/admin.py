"""Connections in the Django admin: choose the strategy, then only its options, validated and saved by the
same services as the API; the list shows how many users each connection holds."""

from __future__ import annotations

import contextlib
from typing import Any

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _

from connections.admin_forms import ChooseStrategyForm, ConnectionForm, option_fields
from connections.errors import ConnectionNotFoundById
from connections.models import Connection, Strategy
from connections.services import delete_connection
from core.actors import Actor, admin_actor
from core.admin_steps import render_choose_first


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin):
    list_display = ("name", "strategy", "id", "user_count", "created_at")
    list_filter = ("strategy",)
    # The confirmation page of a deletion lists the connection's users: at most this many, then "...and N more"
    # (20,000 users were a 1.9 MB page); the summary above the list still counts them all.
    delete_confirmation_max_display = 100
    search_fields = ("name", "id")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Connection]:
        return super().get_queryset(request).annotate(_user_count=Count("users"))

    @admin.display(description=_("users"), ordering="_user_count")
    def user_count(self, obj: Connection) -> int:
        return obj._user_count  # type: ignore[attr-defined]

    def _strategy(self, request: HttpRequest, obj: Connection | None) -> str | None:
        if obj is not None:
            return obj.strategy
        strategy = request.GET.get("strategy")
        return strategy if strategy in Strategy.values else None

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: dict | None = None) -> HttpResponse:
        if self._strategy(request, None) is None:
            return render_choose_first(
                request,
                self,
                title=_("Choose a strategy"),
                intro=_("The strategy decides which options the connection has and which fields its users may have."),
                form=ChooseStrategyForm(),
            )
        return super().add_view(request, form_url, extra_context)

    def get_form(self, request: HttpRequest, obj: Connection | None = None, change: bool = False, **kwargs: Any) -> Any:
        # add_view asks for the strategy first; the fallback is get_fieldsets' own.
        strategy, actor = self._strategy(request, obj) or Strategy.AUTH0, admin_actor(request)

        class Form(ConnectionForm):
            def __init__(self, *args: Any, **kw: Any) -> None:
                super().__init__(*args, strategy=strategy, actor=actor, **kw)

        return Form

    def get_fieldsets(self, request: HttpRequest, obj: Connection | None = None) -> Any:
        strategy = self._strategy(request, obj)
        head = ["name"] if obj is None else ["name", "strategy", "id", "created_at", "updated_at"]
        return [(None, {"fields": head}), (_("Options"), {"fields": list(option_fields(strategy or "auth0"))})]

    def get_readonly_fields(self, request: HttpRequest, obj: Connection | None = None) -> tuple[str, ...]:
        return ("name", "strategy", "id", "created_at", "updated_at") if obj is not None else ()

    def save_form(self, request: HttpRequest, form: Any, change: bool) -> Connection:
        return form.saved or form.instance

    def save_model(self, request: HttpRequest, obj: Connection, form: Any, change: bool) -> None:
        """Saved by the service during validation."""

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        """Nothing related is edited here."""

    def delete_model(self, request: HttpRequest, obj: Connection) -> None:
        _delete(obj, admin_actor(request))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Connection]) -> None:
        for connection in queryset:
            _delete(connection, admin_actor(request))


def _delete(connection: Connection, actor: Actor) -> None:
    """Delete through the service; a connection deleted meanwhile (another operator, an API call, between the page's
    read and this deletion) is already what was asked for, not an error page."""
    with contextlib.suppress(ConnectionNotFoundById):
        delete_connection(connection_id=connection.pk, actor=actor)
