"""Directory users in the Django admin, held to exactly the API's rules.

Adding asks for the connection first, then shows only the fields its strategy allows and runs the same
schema, strategy and password-policy checks and the same ``create_user`` service; each refusal is shown on
its field, and the admin then lands on the created user. Changing goes through ``update_user``; blocking is
an action; deleting goes through ``delete_user`` so it is on record. The password hash is never shown.
"""

from __future__ import annotations

import json
import smtplib
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.options import csrf_protect_m
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from connections.models import Connection
from core.actors import admin_actor
from core.admin_lookups import HiddenFieldLookups
from core.admin_steps import render_choose_first
from core.errors import DomainError
from core.search import InvalidQuery
from users import tickets
from users.admin_forms import ChooseConnectionForm, UserAddForm, UserChangeForm, fields_for, takes_password
from users.models import User
from users.search import user_filter
from users.services import delete_user, update_user

_READ_ONLY = (
    "user_id",
    "connection",
    "identities",
    "created_at",
    "updated_at",
    "last_login",
    "last_ip",
    "logins_count",
    "last_password_reset",
)


@admin.register(User)
class UserAdmin(HiddenFieldLookups, admin.ModelAdmin):
    hidden_lookups = ("password_hash", "custom_password_hash", "password_history")
    # Four columns that fit a 1280-pixel screen beside the filters; the rest is on the change page.
    list_display = ("user", "connection_name", "status", "created_at")
    list_display_links = ("user",)
    list_filter = ("connection", "blocked", "email_verified")
    # The search box takes the API's ``q`` (users.search): get_search_results. search_fields only makes Django show
    # the box.
    search_fields = ("user_id",)
    search_help_text = _(
        "Lucene syntax, as the API's q: a whole e-mail, name, username, phone number or user id; "
        'name:john*, email:*@example.com, app_metadata.plan:"gold", logins_count:[10 TO *], NOT blocked:true.'
    )
    list_select_related = ("connection",)
    readonly_fields = _READ_ONLY
    actions = ("block", "unblock", "send_password_reset", "invitation_links")

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[User], search_term: str
    ) -> tuple[QuerySet[User], bool]:
        """The users the search box's text matches, read as the API's ``q`` (``users.search.user_filter``); a query
        the search refuses shows its reason above an empty list rather than failing or listing everyone."""
        if not search_term.strip():
            return queryset, False
        try:
            search = user_filter(search_term)
        except InvalidQuery as refusal:
            self.message_user(
                request, _("The search was not run: %(reason)s") % {"reason": refusal.message}, messages.ERROR
            )
            return queryset.none(), False
        return queryset.filter(search), False

    # --- which connection, which fields ----------------------------------------------------------------

    def _chosen_connection(self, request: HttpRequest) -> Connection | None:
        pk = request.GET.get("connection")
        return Connection.objects.filter(pk=pk).first() if pk else None

    def _connection_to_add_to(self, request: HttpRequest) -> Connection:
        """The chosen connection of step two; add_view shows step one when there is none, so only a request made
        by hand past it gets the 404."""
        connection = self._chosen_connection(request)
        if connection is None:
            raise Http404
        return connection

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: dict | None = None) -> HttpResponse:
        if self._chosen_connection(request) is None:
            return render_choose_first(
                request,
                self,
                title=_("Choose a connection"),
                intro=_("A user lives in one connection; its strategy decides which fields the user may have."),
                form=ChooseConnectionForm(),
            )
        return super().add_view(request, form_url, extra_context)

    def get_form(self, request: HttpRequest, obj: User | None = None, change: bool = False, **kwargs: Any) -> Any:
        actor = admin_actor(request)
        if obj is None:
            connection = self._connection_to_add_to(request)

            class AddForm(UserAddForm):
                def __init__(self, *args: Any, **kw: Any) -> None:
                    super().__init__(*args, connection=connection, actor=actor, **kw)

            return AddForm

        class ChangeForm(UserChangeForm):
            def __init__(self, *args: Any, **kw: Any) -> None:
                super().__init__(*args, actor=actor, **kw)

        return ChangeForm

    def get_fieldsets(self, request: HttpRequest, obj: User | None = None) -> Any:
        if obj is None:
            connection = self._connection_to_add_to(request)
            return [(connection.name, {"fields": fields_for(connection)})]
        # Only the fields the user's strategy uses (an SMS user has no e-mail to verify).
        editable = [f for f in fields_for(obj.connection) if f not in ("password", "verify_email")]
        if takes_password(obj.connection):
            editable.append("new_password")
        return [(None, {"fields": _READ_ONLY}), (_("Profile"), {"fields": editable})]

    def get_readonly_fields(self, request: HttpRequest, obj: User | None = None) -> tuple[str, ...]:
        return _READ_ONLY if obj is not None else ()

    @admin.display(description=_("User"), ordering="email")
    def user(self, obj: User) -> str:
        """The user's e-mail, phone number, username or name (the first it has), its user id beneath."""
        shown = obj.email or obj.phone_number or obj.username or obj.name or obj.user_id
        return format_html('{}<span class="quiet-id">{}</span>', shown, obj.user_id)

    @admin.display(description=_("Connection"), ordering="connection__name")
    def connection_name(self, obj: User) -> str:
        return obj.connection.name

    @admin.display(description=_("Status"), ordering="blocked")
    def status(self, obj: User) -> str:
        """ "Blocked" as a badge, so a block (or unblock) shows in the list at once."""
        if obj.blocked:
            return format_html('<span class="badge-blocked">{}</span>', _("Blocked"))
        return str(_("Active"))

    @admin.display(description=_("identities"))
    def identities(self, obj: User) -> str:
        identity = {"connection": obj.connection.name, "user_id": obj.identity_user_id, "provider": obj.provider}
        return format_html("<code>{}</code>", json.dumps([{**identity, "isSocial": False}]))

    # --- the services do the writing ---------------------------------------------------------------------

    @csrf_protect_m
    def changeform_view(
        self, request: HttpRequest, object_id: str | None = None, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        """Django's, without the transaction Django opens around a POST. The forms' validation calls
        ``create_user`` / ``update_user``, which hash the password (and check the password history) before their
        own transaction: inside Django's, its locks (on SQLite the database-wide write lock) would be held across
        that work. Nothing Django writes afterwards (the admin's LogEntry) needs to share their transaction."""
        return self._changeform_view(request, object_id, form_url, extra_context)  # type: ignore[attr-defined]

    def save_form(self, request: HttpRequest, form: Any, change: bool) -> User:
        return form.updated or form.instance if change else form.created

    def save_model(self, request: HttpRequest, obj: User, form: Any, change: bool) -> None:
        """Already saved by ``create_user`` / ``update_user`` during validation."""

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        """Users have no related objects edited here."""

    def response_add(self, request: HttpRequest, obj: User, post_url_continue: str | None = None) -> HttpResponse:
        self.message_user(request, _("The user %(user)s was created.") % {"user": obj.user_id}, messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:users_user_change", args=[obj.pk]))

    def delete_model(self, request: HttpRequest, obj: User) -> None:
        delete_user(user_id=obj.user_id, actor=admin_actor(request))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        for user in queryset:
            delete_user(user_id=user.user_id, actor=admin_actor(request))

    @admin.action(description=_("Block the selected users"))
    def block(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        self._set_blocked(request, queryset, blocked=True)

    @admin.action(description=_("Unblock the selected users"))
    def unblock(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        self._set_blocked(request, queryset, blocked=False)

    def _set_blocked(self, request: HttpRequest, queryset: QuerySet[User], *, blocked: bool) -> None:
        count = 0
        for user in queryset:
            update_user(user_id=user.user_id, data={"blocked": blocked}, actor=admin_actor(request))
            count += 1
        self.message_user(
            request, ngettext("%(count)d user updated.", "%(count)d users updated.", count) % {"count": count}
        )

    @admin.action(description=_("Send password reset e-mail to the selected users"))
    def send_password_reset(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        """Mail each selected user a password-change link (the API's ticket); users without passwords or e-mail
        are skipped and named."""
        sent, skipped = 0, []
        for user in queryset.select_related("connection"):
            try:
                tickets.send_password_reset(user=user, actor=admin_actor(request))
            except DomainError:
                skipped.append(user.user_id)
                continue
            except (OSError, smtplib.SMTPException):
                self.message_user(
                    request, _("The mail server did not accept the e-mail. Try again later."), messages.ERROR
                )
                return
            sent += 1
        self.message_user(
            request,
            ngettext("%(count)d password reset e-mail sent.", "%(count)d password reset e-mails sent.", sent)
            % {"count": sent},
        )
        if skipped:
            self.message_user(
                request,
                _("Skipped (no e-mail address or no password on their connection): %(users)s")
                % {"users": ", ".join(skipped)},
                messages.WARNING,
            )

    @admin.action(description=_("Copy invitation links for the selected users"))
    def invitation_links(self, request: HttpRequest, queryset: QuerySet[User]) -> HttpResponse:
        """A password-change link per selected user, shown once on the page that answers the action (never in a
        message: Django keeps messages in a readable cookie), for the operator to send as an invitation."""
        shown, skipped = [], []
        for user in queryset.select_related("connection"):
            try:
                shown.append(
                    (
                        user,
                        tickets.create_password_change_ticket(
                            data={"user_id": user.user_id}, actor=admin_actor(request)
                        ),
                    )
                )
            except DomainError:
                skipped.append(user)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Invitation links"),
            "shown": shown,
            "skipped": skipped,
        }
        response = TemplateResponse(request, "admin/users/user/invitation_links.html", context)
        response["Cache-Control"] = "no-store"
        response["Referrer-Policy"] = "no-referrer"
        return response
