"""``manage.py deactivate_client CLIENT_ID [--activate]``: refuse (or allow again) a client's tokens."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from clients.errors import ClientNotFound
from clients.services import set_client_active
from core.actors import Actor


class Command(BaseCommand):
    help = "Deactivate a client: it gets no new tokens and its existing tokens are refused at once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("client_id", help="the client's id (create_client printed it)")
        parser.add_argument("--activate", action="store_true", help="allow the client's tokens again instead")

    def handle(self, *args: Any, **opts: Any) -> None:
        try:
            set_client_active(
                client_id=opts["client_id"],
                active=opts["activate"],
                actor=Actor(kind="system", id="manage.py deactivate_client"),
            )
        except ClientNotFound as exc:
            raise CommandError(f"No client with id {opts['client_id']}") from exc
        self.stdout.write(f"{opts['client_id']} {'activated' if opts['activate'] else 'deactivated'}")
