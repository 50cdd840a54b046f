"""Directory users in the Django admin: read-only for now, so operators can see what the API did.

The password hash is not a field here at all. Creating and editing users in the admin (through
``users.services``) is a later issue; until then the admin cannot bypass the API's rules.
"""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from users.models import User

_SHOWN = (
    "user_id",
    "connection",
    "email",
    "email_verified",
    "username",
    "phone_number",
    "phone_verified",
    "given_name",
    "family_name",
    "name",
    "nickname",
    "picture",
    "user_metadata",
    "app_metadata",
    "blocked",
    "created_at",
    "updated_at",
)


@admin.register(User)
class UserAdmin(admin.ModelAdmin):
    list_display = (
        "user_id",
        "email",
        "username",
        "phone_number",
        "connection",
        "blocked",
        "created_at",
    )
    list_filter = ("connection", "blocked", "email_verified")
    search_fields = ("user_id", "email", "username", "phone_number")
    list_select_related = ("connection",)
    fields = _SHOWN
    readonly_fields = _SHOWN

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        return False
