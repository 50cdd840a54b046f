from django.apps import AppConfig


class ProjectConfig(AppConfig):
    """Project-wide pieces that belong to no domain app (management commands such as compile_translations)."""

    name = "config"
    verbose_name = "Project"

    def ready(self) -> None:
        from config import openapi  # noqa: F401 - registers the drf-spectacular extensions
