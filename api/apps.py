from django.apps import AppConfig
from django.core.exceptions import ImproperlyConfigured


class ApiConfig(AppConfig):
    """Every HTTP surface of the service (``api.urls``); no models."""

    name = "api"
    verbose_name = "API"

    def ready(self) -> None:
        from api import openapi  # noqa: F401 - registers the drf-spectacular extensions
        from api.throttling import check_rate_settings

        try:  # every rate setting, however a request reads it: refuse to start rather than fail requests later
            check_rate_settings()
        except ValueError as exc:
            raise ImproperlyConfigured(str(exc)) from exc
