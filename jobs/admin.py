"""Jobs in the admin: read-only, to follow imports and read their outcome. The uploaded file is not shown
(it may hold passwords), only its size."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from jobs.models import Job


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ("id", "type", "status", "connection_name", "external_id", "created_at", "finished_at", "attempts")
    list_filter = ("status", "type", "connection_name")
    search_fields = ("id", "external_id", "created_by", "connection_name")
    date_hierarchy = "created_at"
    exclude = ("users_file",)
    readonly_fields = [f.name for f in Job._meta.fields if f.name != "users_file"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Job | None = None) -> bool:
        return False
