"""Connections endpoints of the management API (mounted under /api/v2/)."""

from django.urls import path

from connections import views

urlpatterns = [
    path("connections", views.ConnectionCollectionView.as_view(), name="connections"),
    path("connections/<str:connection_id>", views.ConnectionDetailView.as_view(), name="connection-detail"),
]
