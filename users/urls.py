"""Users endpoints of the management API (mounted under /api/v2/)."""

from django.urls import path

from users import verification_views, views

urlpatterns = [
    path(
        "jobs/verification-email",
        verification_views.VerificationEmailJobView.as_view(),
        name="jobs-verification-email",
    ),
    path("users", views.UserCollectionView.as_view(), name="users"),
    path("users/<path:user_id>", views.UserDetailView.as_view(), name="user-detail"),
    path("users-by-email", views.UsersByEmailView.as_view(), name="users-by-email"),
]
