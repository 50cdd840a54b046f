"""Root URLs. No trailing slashes, as Auth0's API has none."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularJSONAPIView, SpectacularSwaggerView

from config.views import health

urlpatterns = [
    path("admin/", admin.site.urls),
    path("health", health, name="health"),
    path("api/v2/openapi.json", SpectacularJSONAPIView.as_view(), name="openapi"),
    path("api/v2/docs", SpectacularSwaggerView.as_view(url_name="openapi"), name="api-docs"),
    path("api/v2/", include("users.urls")),
    path("api/v2/", include("connections.urls")),
    path("api/v2/", include("audit.urls")),
    path("api/v2/", include("jobs.urls")),
    path("", include("clients.urls")),
    path("", include("users.public_urls")),
]

handler400 = "config.views.bad_request"
handler403 = "config.views.permission_denied"
handler404 = "config.views.not_found"
handler500 = "config.views.server_error"
