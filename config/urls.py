"""Root URLs. No trailing slashes, as Auth0's API has none."""

from django.contrib import admin
from django.urls import path

from config.views import health
from users import views as user_views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("health", health, name="health"),
    path("api/v2/users", user_views.UserCollectionView.as_view(), name="users"),
]

handler400 = "config.views.bad_request"
handler403 = "config.views.permission_denied"
handler404 = "config.views.not_found"
handler500 = "config.views.server_error"
