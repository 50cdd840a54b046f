from django.apps import AppConfig


class CoreConfig(AppConfig):
    """What every domain app shares and no HTTP surface owns: the error base, the strict fields of request
    schemas and their messages, actors, the admin's two-step add form, and the translations command."""

    name = "core"
    verbose_name = "Core"
