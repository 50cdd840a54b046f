"""Machine-to-machine clients in the Django admin.

Creating a client (or rotating its secret) shows the secret once, on the page that answers the POST, and
never again: only its bcrypt hash is stored. The secret is not put in a flash message: Django's default message
storage keeps messages in a signed but readable cookie, so the secret would travel back with every request
until shown (and sit in the browser's cookie store). The admin's views send ``Cache-Control: no-store``.
Rotation and (de)activation are actions that call the same services the management commands call.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin.options import csrf_protect_m
from django.db import router, transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.functional import Promise
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from clients.models import Client
from clients.scopes import SCOPE_DESCRIPTIONS
from clients.services import create_client, rotate_client_secret, set_client_active, update_client
from core.actors import admin_actor
from core.admin_lookups import HiddenFieldLookups


class ClientForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=[(scope, f"{scope} ({text})") for scope, text in SCOPE_DESCRIPTIONS.items()],
        widget=forms.CheckboxSelectMultiple,
        required=False,
        label=_("Granted scopes"),
        help_text=Client._meta.get_field("scopes").help_text,
    )

    class Meta:
        model = Client
        fields = ("name", "scopes", "connections", "is_active")


@admin.register(Client)
class ClientAdmin(HiddenFieldLookups, admin.ModelAdmin):
    hidden_lookups = ("secret_hash",)
    form = ClientForm
    # What fits a 1280-pixel screen beside the filter; the scopes themselves are on the change page.
    list_display = ("name", "client_id", "is_active", "scope_count", "created_at")
    list_filter = ("is_active",)
    search_fields = ("name", "client_id")
    readonly_fields = ("client_id", "secret_rotated_at", "token_generation", "created_at", "updated_at")
    filter_horizontal = ("connections",)
    actions = ("rotate_secret", "deactivate", "activate")

    @admin.display(description=_("Scopes"))
    def scope_count(self, obj: Client) -> str:
        """How many scopes the client holds; each one in the cell's tooltip."""
        return format_html('<span title="{}">{}</span>', " ".join(obj.scopes), len(obj.scopes))

    def get_readonly_fields(self, request: HttpRequest, obj: Client | None = None) -> tuple[str, ...]:
        return self.readonly_fields if obj else ()

    def get_fields(self, request: HttpRequest, obj: Client | None = None) -> Any:
        fields = ["name", "scopes", "connections", "is_active"]
        return [*fields, *self.readonly_fields] if obj else fields

    @csrf_protect_m
    def changeform_view(
        self, request: HttpRequest, object_id: str | None = None, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        """Django's, without the transaction Django opens around an add's POST: ``create_client`` hashes the new
        secret before its own transaction, and inside Django's its locks (on SQLite the database-wide write lock)
        would be held across that hash. A change's POST hashes nothing and keeps Django's transaction."""
        if object_id is None or request.method in ("GET", "HEAD", "OPTIONS", "TRACE"):
            return self._changeform_view(request, object_id, form_url, extra_context)  # type: ignore[attr-defined]
        with transaction.atomic(using=router.db_for_write(self.model)):
            return self._changeform_view(request, object_id, form_url, extra_context)  # type: ignore[attr-defined]

    def save_model(self, request: HttpRequest, obj: Client, form: forms.ModelForm, change: bool) -> None:
        if change:
            self._update(request, obj, form)
            return
        # The form's choices already restrict scopes and connections to valid ones.
        client, secret = create_client(
            name=form.cleaned_data["name"],
            scopes=form.cleaned_data["scopes"],
            connections=[c.name for c in form.cleaned_data["connections"]],
            actor=admin_actor(request),
        )
        # Keep the created row on the form so the admin redirects to it and saves nothing twice.
        form.instance = client
        obj.pk = client.pk
        obj.client_id = client.client_id
        obj._state.adding = False
        if not form.cleaned_data.get("is_active", True):
            # Its own commit after create_client's (no transaction spans them: changeform_view); the secret is shown
            # only once both are done, so nobody can use the client while it is briefly active.
            set_client_active(client_id=client.client_id, active=False, actor=admin_actor(request))
        # Kept on this request only, for response_add to render; never stored, never in a message.
        request._new_client_secret = (client, secret)  # type: ignore[attr-defined]

    def response_add(self, request: HttpRequest, obj: Client, post_url_continue: str | None = None) -> HttpResponse:
        shown = getattr(request, "_new_client_secret", None)
        if shown is None:
            return super().response_add(request, obj, post_url_continue)
        return self._secrets_page(request, [shown], title=_("Client created"))

    def _secrets_page(
        self, request: HttpRequest, shown: list[tuple[Client, str]], *, title: str | Promise
    ) -> HttpResponse:
        """The page that shows new secrets once: rendered in the response, stored nowhere."""
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": title,
            "shown": shown,
        }
        return TemplateResponse(request, "admin/clients/client/secrets.html", context)

    def _update(self, request: HttpRequest, obj: Client, form: forms.ModelForm) -> None:
        """A change goes through the services the API and the commands use (``update_client``,
        ``set_client_active``), so their checks and log lines apply here too; only what the form changed is passed."""
        actor = admin_actor(request)
        data = form.cleaned_data
        changed = set(form.changed_data)
        client = update_client(
            client_id=obj.client_id,
            name=data["name"] if "name" in changed else None,
            scopes=data["scopes"] if "scopes" in changed else None,
            connections=[c.name for c in data["connections"]] if "connections" in changed else None,
            actor=actor,
        )
        if "is_active" in changed:
            set_client_active(client_id=obj.client_id, active=data["is_active"], actor=actor)
        client.refresh_from_db()
        form.instance = client

    def save_related(self, request: HttpRequest, form: forms.ModelForm, formsets: Any, change: bool) -> None:
        """Nothing: ``create_client`` and ``update_client`` set the connections themselves."""

    @admin.action(description=_("Rotate the secret of the selected clients"))
    def rotate_secret(self, request: HttpRequest, queryset: QuerySet[Client]) -> HttpResponse:
        shown = [
            (client, rotate_client_secret(client_id=client.client_id, actor=admin_actor(request)))
            for client in queryset.order_by("name", "pk")
        ]
        return self._secrets_page(request, shown, title=_("New client secrets"))

    @admin.action(description=_("Deactivate the selected clients (their tokens stop working)"))
    def deactivate(self, request: HttpRequest, queryset: QuerySet[Client]) -> None:
        self._set_active(request, queryset, active=False)

    @admin.action(description=_("Activate the selected clients"))
    def activate(self, request: HttpRequest, queryset: QuerySet[Client]) -> None:
        self._set_active(request, queryset, active=True)

    def _set_active(self, request: HttpRequest, queryset: QuerySet[Client], *, active: bool) -> None:
        count = 0
        for client in queryset:
            set_client_active(client_id=client.client_id, active=active, actor=admin_actor(request))
            count += 1
        self.message_user(
            request,
            ngettext("%(count)d client updated.", "%(count)d clients updated.", count) % {"count": count},
        )
