from django.apps import AppConfig
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _


class ClientsConfig(AppConfig):
    name = "clients"
    verbose_name = _("Machine-to-machine clients")

    def ready(self) -> None:
        from config.throttling import parse_rate

        for name in ("MANAGEMENT_API_RATE_LIMIT", "SIGNUP_RATE_LIMIT"):
            try:  # refuse to start rather than fail every request later
                parse_rate(getattr(settings, name))
            except ValueError as exc:
                raise ImproperlyConfigured(f"{name}: {exc}") from exc
