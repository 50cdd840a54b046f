"""The audit log in the admin: read-only, filterable, searchable."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from audit.models import Event


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ("date", "type", "description", "user_id", "connection", "actor_kind", "actor_id", "ip")
    list_filter = ("type", "actor_kind", "connection")
    search_fields = ("user_id", "user_name", "actor_id", "description", "log_id")
    date_hierarchy = "date"
    readonly_fields = [f.name for f in Event._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Event | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Event | None = None) -> bool:
        return False
