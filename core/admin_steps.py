"""Shared pieces of the two-step admin add forms (connection first, strategy first)."""

from __future__ import annotations

from django.http import HttpRequest
from django.shortcuts import render
from django.urls import reverse


def render_choose_first(request: HttpRequest, model_admin: object, *, title: str, intro: str, form: object) -> object:
    """Step one of a two-step admin add form: pick what decides the fields of step two."""
    opts = model_admin.model._meta  # type: ignore[attr-defined]
    context = {
        **model_admin.admin_site.each_context(request),  # type: ignore[attr-defined]
        "opts": opts,
        "title": title,
        "intro": intro,
        "form": form,
        "changelist_url": reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"),
    }
    return render(request, "admin/choose_first.html", context)
