"""Connections endpoints of the management API (mounted under /api/v2/)."""

urlpatterns: list = []
