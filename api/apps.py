from django.apps import AppConfig
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class ApiConfig(AppConfig):
    """Every HTTP surface of the service (``api.urls``); no models."""

    name = "api"
    verbose_name = "API"

    def ready(self) -> None:
        from api import openapi  # noqa: F401 - registers the drf-spectacular extensions
        from api.throttling import parse_rate

        for name in ("MANAGEMENT_API_RATE_LIMIT", "SIGNUP_RATE_LIMIT"):
            try:  # refuse to start rather than fail every request later
                parse_rate(getattr(settings, name))
            except ValueError as exc:
                raise ImproperlyConfigured(f"{name}: {exc}") from exc
