"""``manage.py create_client NAME --scopes "..." [--connections A,B]``: print the client and secret."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from clients.scopes import KNOWN_SCOPES
from clients.services import create_client
from core.actors import Actor
from core.errors import DomainError


class Command(BaseCommand):
    help = "Create a machine-to-machine client. The secret is printed once and never stored in clear."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help='a name for people, e.g. "Ops scripts" (the admin lists clients by it)')
        parser.add_argument(
            "--scopes",
            required=True,
            help=f'the scopes the client may ask for, space-separated, e.g. "create:users read:users"; any of: '
            f"{' '.join(KNOWN_SCOPES)}",
        )
        parser.add_argument(
            "--connections",
            default="",
            help="connections it may sign users up to and log them in with, comma-separated names",
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        names = [n.strip() for n in opts["connections"].split(",") if n.strip()]
        try:
            client, secret = create_client(
                name=opts["name"],
                scopes=opts["scopes"],
                connections=names,
                actor=Actor(kind="system", id="manage.py create_client"),
            )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(
            json.dumps(
                {
                    "client_id": client.client_id,
                    "client_secret": secret,
                    "audience": settings.MANAGEMENT_API_AUDIENCE,
                    "token_endpoint": f"{settings.PUBLIC_BASE_URL}/oauth/token",
                },
                indent=2,
            )
        )
