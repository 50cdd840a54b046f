"""``manage.py create_connection NAME --strategy ... [--display-name TEXT]``: make a connection, print it as JSON
(the API's body: ``display_name`` only when one was given)."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from connections.models import DEFAULT_USERNAME_MAX, DEFAULT_USERNAME_MIN, Connection, Strategy
from connections.password_policy import LEVELS
from connections.services import connection_as_json, create_connection
from core.actors import Actor
from core.errors import DomainError


class Command(BaseCommand):
    help = "Create a connection and print it as JSON."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="the connection's name, e.g. Username-Password-Authentication")
        parser.add_argument(
            "--strategy",
            choices=Strategy.values,
            default=Strategy.AUTH0,
            help="auth0: e-mail and password (the default); sms: phone number; email: e-mail, no password",
        )
        parser.add_argument(
            "--display-name",
            default="",
            help="Auth0's display_name: a label for your tools, up to 128 characters (none by default)",
        )
        parser.add_argument(
            "--requires-username", action="store_true", help="users of an auth0 connection need a username"
        )
        parser.add_argument("--username-min", type=int, help=f"shortest username (default {DEFAULT_USERNAME_MIN})")
        parser.add_argument("--username-max", type=int, help=f"longest username (default {DEFAULT_USERNAME_MAX})")
        parser.add_argument("--password-policy", choices=LEVELS, help="Auth0's passwordPolicy (default good)")
        parser.add_argument(
            "--min-length",
            type=int,
            help="the shortest password, overriding the policy's (password_complexity_options.min_length)",
        )
        parser.add_argument("--dictionary", action="store_true", help="refuse common passwords (password_dictionary)")
        parser.add_argument(
            "--no-personal-info",
            action="store_true",
            help="refuse passwords containing the name, username or e-mail (password_no_personal_info)",
        )
        parser.add_argument(
            "--disable-signup", action="store_true", help="refuse public sign-ups (/dbconnections/signup)"
        )
        parser.add_argument(
            "--if-missing",
            action="store_true",
            help="exit 0 and print the existing connection when the name is taken",
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        options: dict[str, Any] = {}
        if opts["requires_username"]:
            options["requires_username"] = True
        if opts["username_min"] is not None or opts["username_max"] is not None:
            low, high = opts["username_min"], opts["username_max"]
            options["validation"] = {
                "username": {
                    "min": low if low is not None else DEFAULT_USERNAME_MIN,
                    "max": high if high is not None else DEFAULT_USERNAME_MAX,
                }
            }
        if opts["password_policy"]:
            options["passwordPolicy"] = opts["password_policy"]
        if opts["min_length"] is not None:
            options["password_complexity_options"] = {"min_length": opts["min_length"]}
        if opts["dictionary"]:
            options["password_dictionary"] = {"enable": True, "dictionary": []}
        if opts["no_personal_info"]:
            options["password_no_personal_info"] = {"enable": True}
        if opts["disable_signup"]:
            options["disable_signup"] = True

        if opts["if_missing"]:
            # A connection being deleted holds its name until its row goes: creating one would be a conflict, and
            # scripts/serve.sh, which runs this before it starts the worker that finishes the deletion, could then
            # never start. It is shown as it is, with a warning; the first run after its deletion makes a new one.
            existing = Connection.all_objects.filter(name=opts["name"]).first()
            if existing is not None:
                if existing.being_deleted:
                    self.stderr.write(
                        f"The connection {existing.name} ({existing.pk}) is being deleted: it is unknown to every "
                        "caller until the worker (manage.py run_jobs) has deleted its users; run this again then to "
                        "make a new one."
                    )
                self.stdout.write(json.dumps(connection_as_json(existing), indent=2))
                return
        try:
            connection = create_connection(
                name=opts["name"],
                strategy=opts["strategy"],
                options=options,
                display_name=opts["display_name"],
                actor=Actor(kind="system", id="manage.py create_connection"),
            )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(json.dumps(connection_as_json(connection), indent=2))
