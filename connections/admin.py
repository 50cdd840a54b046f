"""Connections in the Django admin: options validated as the API validates them (``Connection.clean``)."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from connections.models import Connection


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin):
    list_display = ("name", "strategy", "id", "user_count", "created_at")
    list_filter = ("strategy",)
    search_fields = ("name", "id")
    readonly_fields = ("id", "created_at", "updated_at")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Connection]:
        return super().get_queryset(request).annotate(_user_count=Count("users"))

    @admin.display(description="users", ordering="_user_count")
    def user_count(self, obj: Connection) -> int:
        return obj._user_count  # type: ignore[attr-defined]
