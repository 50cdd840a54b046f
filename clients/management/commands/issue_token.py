"""``manage.py issue_token --scopes "create:users read:users"``: print a management API token."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from clients.tokens import OPERATOR, issue_token


class Command(BaseCommand):
    help = (
        "Print a signed operator token for the management API (ops scripts, local use). Not bound to a "
        "client: it is valid until it expires, so keep --expires-in short outside development."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--scopes", required=True, help='space-separated, e.g. "create:users"')
        parser.add_argument("--expires-in", type=int, default=None, help="seconds (default 86400)")
        parser.add_argument("--client-id", default="manage-py", help="recorded as sub/azp")

    def handle(self, *args: Any, **opts: Any) -> None:
        expires_in = opts["expires_in"]
        if expires_in is not None and expires_in <= 0:
            raise CommandError("--expires-in must be a positive number of seconds")
        scopes = opts["scopes"].split()
        if not scopes:
            raise CommandError("--scopes needs at least one scope")
        token = issue_token(client_id=opts["client_id"], scopes=scopes, expires_in=expires_in, grant_type=OPERATOR)
        self.stdout.write(token)
