"""``manage.py issue_token --scopes "create:users read:users"``: print a management API token."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from clients.scopes import KNOWN_SCOPES
from clients.services import issue_operator_token
from core.errors import PayloadValidationError


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
            "--expires-in",
            type=int,
            default=None,
            help=(
                "lifetime in seconds, at most 2592000 (30 days, Auth0's maximum; default ACCESS_TOKEN_LIFETIME_SECONDS)"
            ),
        )
        parser.add_argument(
            "--client-id",
            default="manage-py",
            help=("who the token names as its sub and azp: 1 to 64 letters, digits, '.', '-', '_' (default manage-py)"),
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        try:
            token = issue_operator_token(
                scopes=opts["scopes"], client_id=opts["client_id"], expires_in=opts["expires_in"]
            )
        except PayloadValidationError as exc:
            field = exc.errors[0].field if exc.errors else None
            if field == "scopes":
                raise CommandError(f"{exc.message} (known scopes: {' '.join(KNOWN_SCOPES)})") from exc
            raise CommandError(f"--{str(field).replace('_', '-')}: {exc.message}") from exc
        self.stdout.write(token)
