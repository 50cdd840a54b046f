"""Jobs in the admin: read-only, to follow imports and read their outcome. The uploaded file is not shown
(it may hold passwords), only its size."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from core.admin_lookups import HiddenFieldLookups
from jobs.models import Job


@admin.register(Job)
class JobAdmin(HiddenFieldLookups, admin.ModelAdmin):
    hidden_lookups = ("users_file",)  # plain passwords until the job ends
    # What fits a 1280-pixel screen beside the filters (one job type so far, attempts and the rest on the job's page).
    list_display = ("job", "status", "connection_name", "created_at", "finished_at")
    list_display_links = ("job",)
    list_filter = ("status", "type", "connection_name")
    search_fields = ("id", "external_id", "created_by", "connection_name")
    date_hierarchy = "created_at"
    exclude = ("users_file",)
    readonly_fields = [f.name for f in Job._meta.fields if f.name != "users_file"]

    @admin.display(description=_("Job"), ordering="id")
    def job(self, obj: Job) -> str:
        """The job's id, and beneath it the caller's ``external_id`` when it gave one."""
        if obj.external_id:
            return format_html('{}<span class="quiet-id">{}</span>', obj.id, obj.external_id)
        return obj.id

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Job | None = None) -> bool:
        return False
