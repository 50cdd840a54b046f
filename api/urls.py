"""Every HTTP surface of the service, one URL module per wire contract. No trailing slashes, as Auth0's have none."""

from django.urls import include, path
from drf_spectacular.views import SpectacularJSONAPIView

from api.views import ApiDocsView, health

urlpatterns = [
    path("health", health, name="health"),
    path("api/v2/openapi.json", SpectacularJSONAPIView.as_view(), name="openapi"),
    path("api/v2/docs", ApiDocsView.as_view(url_name="openapi"), name="api-docs"),
    path("api/v2/", include("api.management.urls")),
    path("", include("api.oauth.urls")),
    path("", include("api.authentication.urls")),
    path("", include("api.v1.urls")),
]
