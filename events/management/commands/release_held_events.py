"""``manage.py release_held_events [ID ...] [--all]``: let the fan-out try again outbox rows it held.

The fan-out holds a row whose events cannot be made (its renderer raised) and logs an ERROR naming it, so that the
other rows go on (``events.fanout``). Once the cause is fixed, this releases the rows named (or ``--all``, or with
neither, lists the held rows and releases nothing); the worker fans them out at its next look.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.actors import Actor
from events.models import PendingEvents
from events.services import release_held_events


class Command(BaseCommand):
    help = "Release outbox rows the fan-out held (their events could not be made), or list them."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("ids", nargs="*", type=int, help="the held rows to release (their ids, as the log names)")
        parser.add_argument("--all", action="store_true", help="release every held row")

    def handle(self, *args: Any, **opts: Any) -> None:
        if opts["all"] and opts["ids"]:
            raise CommandError("give ids or --all, not both")
        if not opts["all"] and not opts["ids"]:
            held = PendingEvents.objects.filter(held_at__isnull=False).order_by("pk")
            for row in held.only("pk", "type", "held_at", "held_reason"):
                self.stdout.write(f"{row.pk}\t{row.type}\t{row.held_at}\t{row.held_reason}")
            if not held.exists():
                self.stdout.write("no held rows")
            return
        released = release_held_events(
            ids=None if opts["all"] else opts["ids"], actor=Actor(kind="system", id="manage.py release_held_events")
        )
        self.stdout.write(f"released {released} held row(s)")
