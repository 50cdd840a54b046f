"""``manage.py issue_token --scopes "create:users read:users"``: print a management API token."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from clients.scopes import KNOWN_SCOPES
from clients.services import issue_operator_token
from core.errors import DomainError


class Command(BaseCommand):
    help = (
        "Print a signed operator token for the management API (ops scripts, local use). Not bound to a "
        "client: it is valid until it expires, so keep --expires-in short outside development."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--scopes",
            required=True,
            help=f'space-separated, e.g. "create:users read:users"; any of: {" ".join(KNOWN_SCOPES)}',
        )
        parser.add_argument(
            "--expires-in", type=int, default=None, help="lifetime in seconds (default ACCESS_TOKEN_LIFETIME_SECONDS)"
        )
        parser.add_argument(
            "--client-id", default="manage-py", help="who the token names as its sub and azp (default manage-py)"
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        expires_in = opts["expires_in"]
        if expires_in is not None and expires_in <= 0:
            raise CommandError("--expires-in must be a positive number of seconds")
        try:
            token = issue_operator_token(scopes=opts["scopes"], client_id=opts["client_id"], expires_in=expires_in)
        except DomainError as exc:
            raise CommandError(f"{exc.message} (known scopes: {' '.join(KNOWN_SCOPES)})") from exc
        self.stdout.write(token)
