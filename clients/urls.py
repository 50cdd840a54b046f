"""OAuth token endpoint and the published signing keys (mounted at the root)."""

from django.urls import path

from clients import views

urlpatterns = [
    path("oauth/token", views.TokenView.as_view(), name="oauth-token"),
    path(".well-known/jwks.json", views.JwksView.as_view(), name="jwks"),
]
