"""Users endpoints of the management API (mounted under /api/v2/)."""

from django.urls import path

from users import views

urlpatterns = [
    path("users", views.UserCollectionView.as_view(), name="users"),
]
