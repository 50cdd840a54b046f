from django.apps import AppConfig
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class ClientsConfig(AppConfig):
    name = "clients"
    verbose_name = "Machine-to-machine clients"

    def ready(self) -> None:
        from config.throttling import parse_rate

        try:  # refuse to start rather than fail every request later
            parse_rate(settings.MANAGEMENT_API_RATE_LIMIT)
        except ValueError as exc:
            raise ImproperlyConfigured(f"MANAGEMENT_API_RATE_LIMIT: {exc}") from exc
