from pathlib import Path

from django.apps import AppConfig
from django.conf import settings


class CoreConfig(AppConfig):
    """What every domain app shares and no HTTP surface owns: the error base, the strict fields of request
    schemas and their messages, actors, the admin's two-step add form, and the translations command."""

    name = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        """Compile any missing or stale message catalogue before the first request, however the process was
        started (``gunicorn config.wsgi`` directly, ``manage.py``, the job worker): ``core.translations``.

        It runs before any request activates a language, so the first catalogue Django loads for one already
        sees a substitute directory put in ``LOCALE_PATHS`` here (a read-only install).
        """
        from django.db.backends.signals import connection_created
        from django.db.models import CharField

        from core.jsonsearch import register_sqlite_function
        from core.search import FoldedLower, Wildcard, register_sqlite_lower
        from core.translations import ensure_compiled

        # The JSON searches' SQLite twin of PostgreSQL's jsonpath (core.jsonsearch), on every new connection.
        connection_created.connect(register_sqlite_function, dispatch_uid="core.jsonsearch.sqlite_function")
        # PostgreSQL's lower() on SQLite, whose own folds ASCII only (core.search.fold_case).
        connection_created.connect(register_sqlite_lower, dispatch_uid="core.search.sqlite_lower")
        # The search's text lookups (core.search): name__lower="jane" (both sides folded), email__wildcard=(None,
        # "@example.com").
        CharField.register_lookup(FoldedLower)
        CharField.register_lookup(Wildcard)

        current = [Path(p) for p in settings.LOCALE_PATHS]
        data_dir = getattr(settings, "DATA_DIR", None)
        fallbacks = [Path(data_dir) / "locale"] if data_dir else []
        paths = ensure_compiled(current, fallbacks)
        if paths != current:
            settings.LOCALE_PATHS = [str(p) for p in paths]
