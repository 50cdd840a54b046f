"""``manage.py load_tenant FILE`` (or ``--from-env``): make the directory hold a tenant in the Deploy CLI's format.

Prints one line per kind (created, updated, unchanged), then what was skipped; exits 1 with a one-line error
naming the place in the file when anything is wrong, and then nothing has changed. Keyword mappings come, lowest
first, from ``--config`` (a Deploy CLI ``config.json``: its ``AUTH0_KEYWORD_REPLACE_MAPPINGS``), the environment
variable ``AUTH0_KEYWORD_REPLACE_MAPPINGS`` (a JSON object) and every environment variable, as the Deploy CLI's
``--env`` (on by default; ``--no-env`` turns it off). The file's secrets are never printed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.actors import Actor
from tenants.loader import load_tenant
from tenants.reader import TenantFileError, read_tenant


class Command(BaseCommand):
    help = (
        "Create or update connections, clients (fixed ids and secrets) and users from a tenant in the Auth0 Deploy "
        "CLI's YAML, JSON or directory format. Idempotent; all or nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "file", nargs="?", help="tenant.yaml, tenant.json, or a directory in the Deploy CLI's directory format"
        )
        parser.add_argument(
            "--from-env",
            action="store_true",
            help="load the file named by the TENANT_FILE setting; do nothing when it is empty (for start scripts)",
        )
        parser.add_argument(
            "--config", help="a Deploy CLI config.json whose AUTH0_KEYWORD_REPLACE_MAPPINGS give keyword values"
        )
        parser.add_argument(
            "--no-env",
            action="store_true",
            help="do not use environment variables as keyword values (the Deploy CLI's --env=false)",
        )
        parser.add_argument("--dry-run", action="store_true", help="check and count everything, then change nothing")

    def handle(self, *args: Any, **opts: Any) -> None:
        name = opts["file"]
        if opts["from_env"]:
            if name:
                raise CommandError("give FILE or --from-env, not both")
            name = settings.TENANT_FILE
            if not name:
                return
        if not name:
            raise CommandError("give the tenant FILE (or --from-env)")
        mappings = self._mappings(opts["config"], use_env=not opts["no_env"])
        try:
            document = read_tenant(Path(name), mappings)
            summary = load_tenant(
                document, actor=Actor(kind="system", id="manage.py load_tenant"), dry_run=opts["dry_run"]
            )
        except TenantFileError as exc:
            raise CommandError(f"{name}: {exc.message} Nothing was changed.") from exc
        prefix = "(dry run, nothing changed) " if opts["dry_run"] else ""
        for line in summary.lines():
            self.stdout.write(prefix + line)

    def _mappings(self, config: str | None, *, use_env: bool) -> dict[str, Any]:
        mappings: dict[str, Any] = {}
        if config:
            try:
                loaded = json.loads(Path(config).read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise CommandError(f"{config}: not a readable JSON config file ({type(exc).__name__})") from exc
            mappings.update(
                _object(loaded.get("AUTH0_KEYWORD_REPLACE_MAPPINGS") if isinstance(loaded, dict) else None, config)
            )
        if use_env:
            raw = os.environ.get("AUTH0_KEYWORD_REPLACE_MAPPINGS")
            if raw:
                try:
                    mappings.update(_object(json.loads(raw), "AUTH0_KEYWORD_REPLACE_MAPPINGS"))
                except json.JSONDecodeError as exc:
                    raise CommandError("AUTH0_KEYWORD_REPLACE_MAPPINGS: not a JSON object") from exc
            # The Deploy CLI adds every environment variable to the mappings (docs/keyword-replacement.md).
            mappings.update(os.environ)
        return mappings


def _object(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise CommandError(f"{where}: AUTH0_KEYWORD_REPLACE_MAPPINGS must be a JSON object")
    return value
