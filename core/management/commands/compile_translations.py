"""``manage.py compile_translations``: build the ``.mo`` files from ``locale/*/LC_MESSAGES/*.po``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from core.translations import compile_catalogues


class Command(BaseCommand):
    help = "Compile translation catalogues with polib (Django's compilemessages needs GNU gettext)."

    def handle(self, *args: Any, **opts: Any) -> None:
        written = compile_catalogues([Path(p) for p in settings.LOCALE_PATHS])
        for path in written:
            self.stdout.write(f"compiled {path}")
