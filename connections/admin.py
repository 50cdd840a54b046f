"""Connections in the Django admin: choose the strategy, then only its options, validated and saved by the
same services as the API; the list shows how many users each connection holds.

Deleting goes through ``connections.services.delete_connection``, as the API's DELETE does: a connection with more
than ``CONNECTION_DELETE_SYNC_MAX_USERS`` users is then deleted in the background (``connections.deletion``). Such a
connection stays in the list, marked as being deleted, its users counted down as they go, until its row goes; it
cannot be changed (its page sends the operator back to the list), and deleting it again is no error (it resumes a
deletion whose task gave up). Its confirmation page counts the objects that go with it instead of listing them
(reading a few hundred thousand users for the page took longer than the deletion may in a request)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import quote, unquote
from django.db.models import CASCADE, Count, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.text import capfirst
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from connections.admin_forms import ChooseStrategyForm, ConnectionForm, option_fields
from connections.errors import ConnectionNotFoundById
from connections.models import Connection, Strategy
from connections.services import ConnectionDeletion, delete_connection
from core.actors import Actor, admin_actor
from core.admin_steps import render_choose_first


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin):
    list_display = ("name", "display_name", "strategy", "id", "user_count", "created_at", "being_deleted")
    list_filter = ("strategy",)
    # The confirmation page of a deletion lists the connection's users: at most this many, then "...and N more"
    # (20,000 users were a 1.9 MB page); the summary above the list still counts them all.
    delete_confirmation_max_display = 100
    search_fields = ("name", "display_name", "id")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Connection]:
        # Every connection, those being deleted too (``Connection.objects`` hides them).
        queryset = Connection.all_objects.annotate(_user_count=Count("users"))
        ordering = self.get_ordering(request)
        return queryset.order_by(*ordering) if ordering else queryset

    @admin.display(description=_("users"), ordering="_user_count")
    def user_count(self, obj: Connection) -> int:
        return obj._user_count  # type: ignore[attr-defined]

    @admin.display(description=_("being deleted"), boolean=True, ordering="deletion_requested_at")
    def being_deleted(self, obj: Connection) -> bool:
        return obj.being_deleted

    def has_change_permission(self, request: HttpRequest, obj: Connection | None = None) -> bool:
        return (obj is None or not obj.being_deleted) and super().has_change_permission(request, obj)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        connection = Connection.all_objects.filter(pk=unquote(object_id)).first()
        if connection is not None and connection.being_deleted:
            message = gettext("The connection “%(name)s” is being deleted: it cannot be changed.")
            self.message_user(request, message % {"name": connection.name}, messages.WARNING)
            return HttpResponseRedirect(reverse("admin:connections_connection_changelist"))
        return super().change_view(request, object_id, form_url, extra_context)

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
        head = (
            ["name", "display_name", "metadata"]
            if obj is None
            else ["name", "display_name", "strategy", "id", "metadata", "created_at", "updated_at"]
        )
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
            if _delete(connection, admin_actor(request)) is ConnectionDeletion.STARTED:
                self.message_user(request, _being_deleted(connection.name), messages.INFO)

    def response_delete(self, request: HttpRequest, obj_display: str, obj_id: Any) -> HttpResponse:
        """Django's answer ("… was deleted successfully"), but for a connection now being deleted in the background,
        which is said so."""
        connection = Connection.all_objects.filter(pk=obj_id, deletion_requested_at__isnull=False).first()
        if connection is None:
            return super().response_delete(request, obj_display, obj_id)
        self.message_user(request, _being_deleted(connection.name), messages.INFO)
        return HttpResponseRedirect(reverse("admin:connections_connection_changelist"))

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> tuple[list[Any], dict[Any, int], set[Any], list]:
        """Django's confirmation (every object that goes, by a collector that reads them all), but for connections
        with more than ``CONNECTION_DELETE_SYNC_MAX_USERS`` users between them (one large one, or many selected small
        ones, which the collector read all the same): each connection is listed, and the objects going with them only
        counted, model by model, with the permissions Django asks for."""
        connections = list(objs)
        threshold = int(settings.CONNECTION_DELETE_SYNC_MAX_USERS)
        if sum(_users_of(connection) for connection in connections) <= threshold:
            return super().get_deleted_objects(objs, request)
        listed: list[Any] = [_link(connection) for connection in connections]
        counts: dict[Any, int] = {Connection._meta.verbose_name_plural: len(connections)}
        perms_needed: set[Any] = set()
        pks = [connection.pk for connection in connections]
        for relation in Connection._meta.related_objects:
            if relation.many_to_many or relation.on_delete is not CASCADE:
                continue
            model = relation.related_model
            count = model._base_manager.filter(**{f"{relation.field.name}__in": pks}).count()
            if not count:
                continue
            counts[model._meta.verbose_name_plural] = count
            listed.append(f"{capfirst(model._meta.verbose_name_plural)}: {count}")
            if self.admin_site.is_registered(model) and not self.admin_site.get_model_admin(
                model
            ).has_delete_permission(request):
                perms_needed.add(model._meta.verbose_name)
        return listed, counts, perms_needed, []


def _users_of(connection: Connection) -> int:
    counted = getattr(connection, "_user_count", None)  # the admin's queryset counts them
    return connection.users.count() if counted is None else int(counted)


def _link(connection: Connection) -> Any:
    label = capfirst(Connection._meta.verbose_name)
    try:
        url = reverse("admin:connections_connection_change", args=(quote(connection.pk),))
    except NoReverseMatch:  # pragma: no cover - the admin is registered above
        return f"{label}: {connection}"
    return format_html('{}: <a href="{}">{}</a>', label, url, str(connection))


def _being_deleted(name: str) -> str:
    return gettext(
        "The connection “%(name)s” is being deleted: its users are deleted in the background, then the connection."
    ) % {"name": name}


def _delete(connection: Connection, actor: Actor) -> ConnectionDeletion:
    """Delete through the service; a connection deleted meanwhile (another operator, an API call, between the page's
    read and this deletion) is already what was asked for, not an error page."""
    try:
        return delete_connection(connection_id=connection.pk, actor=actor)
    except ConnectionNotFoundById:
        return ConnectionDeletion.DELETED
