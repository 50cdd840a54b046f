"""Logs endpoints of the management API (mounted under /api/v2/)."""

from django.urls import path

from audit import views

urlpatterns = [
    path("logs", views.LogCollectionView.as_view(), name="logs"),
    path("logs/<str:log_id>", views.LogDetailView.as_view(), name="log-detail"),
]
