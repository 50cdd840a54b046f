"""OAuth 2.0: the token endpoint and the published signing keys (mounted at the root)."""

from django.urls import path

from api.oauth import token

urlpatterns = [
    path("oauth/token", token.TokenView.as_view(), name="oauth-token"),
    path(".well-known/jwks.json", token.JwksView.as_view(), name="jwks"),
]
