"""Shared pieces of the two-step admin add forms (connection first, strategy first)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.functional import Promise


def render_choose_first(
    request: HttpRequest,
    model_admin: admin.ModelAdmin[Any],
    *,
    title: str | Promise,
    intro: str | Promise,
    form: forms.Form,
) -> HttpResponse:
    """Step one of a two-step admin add form: pick what decides the fields of step two."""
    opts = model_admin.model._meta
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": opts,
        "title": title,
        "intro": intro,
        "form": form,
        "changelist_url": reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"),
    }
    return render(request, "admin/choose_first.html", context)
