"""``manage.py discard_held_events ID [ID ...]``: delete for good outbox rows the fan-out held.

For a held row that can never succeed (its renderer no longer exists, its values are invalid for good), which
``release_held_events`` would only see held again. Irreversible: the rows' events are never delivered. Hence
explicit ids only (``release_held_events`` with no argument lists the held rows), no ``--all``. Rows not held (their
events are waiting to be delivered) are left alone; each discarded row is recorded in the audit log
(``events.services.discard_held_events``). Exits non-zero when no row was discarded.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.actors import Actor
from events.services import discard_held_events


class Command(BaseCommand):
    help = (
        "Delete held outbox rows for good: their events are never delivered, and this cannot be undone. Only held"
        " rows named by id are deleted (list them with release_held_events); waiting rows are left alone. Each"
        " discarded row is recorded in the audit log."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "ids",
            nargs="+",
            type=int,
            help="the held rows to discard (their ids, as the log and release_held_events name them)",
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        outcome = discard_held_events(ids=opts["ids"], actor=Actor(kind="system", id="manage.py discard_held_events"))
        for row in outcome.discarded:
            events = "malformed events" if row.events is None else f"{row.events} event(s) lost"
            purpose = f" (purpose {row.purpose})" if row.purpose else ""
            self.stdout.write(f"discarded {row.id}\t{row.type}{purpose}\t{events}\t{row.held_reason}")
        for pk in outcome.not_held:
            self.stderr.write(f"not discarded {pk}: not held (waiting for the fan-out; its events will be delivered)")
        for pk in outcome.not_found:
            self.stderr.write(f"not discarded {pk}: no such row")
        if not outcome.discarded:
            raise CommandError("no held row discarded")
        self.stdout.write(f"discarded {len(outcome.discarded)} held row(s)")
