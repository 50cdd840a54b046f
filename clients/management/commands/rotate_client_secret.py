"""``manage.py rotate_client_secret CLIENT_ID``: print a new secret; the old one and its tokens die."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from clients.errors import ClientNotFound
from clients.services import rotate_client_secret
from core.actors import Actor


class Command(BaseCommand):
    help = "Rotate a client's secret and print the new one (shown only this once)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("client_id", help="the client's id (create_client printed it)")

    def handle(self, *args: Any, **opts: Any) -> None:
        try:
            secret = rotate_client_secret(
                client_id=opts["client_id"], actor=Actor(kind="system", id="manage.py rotate_client_secret")
            )
        except ClientNotFound as exc:
            raise CommandError(f"No client with id {opts['client_id']}") from exc
        self.stdout.write(secret)
