"""``manage.py serve_setup``: every step ``scripts/serve.sh`` takes before it serves, in one process.

They were eight Python processes, each paying Django's start-up (imports and system checks, about a second here);
one start-up now, and the system checks once (with the database's, as ``migrate`` runs them). In order, each the
same command as before through ``call_command``, so its errors and exit status are that command's:

1. ``compile_translations`` (quiet);
2. ``migrate --noinput`` (quiet);
3. ``collectstatic --noinput`` (quiet), skipped when nothing it reads or writes has changed since it last finished
   here (``_static_state``): run again, it would copy nothing and write the same compressed files;
4. ``load_tenant --from-env``: its summary is printed (nothing without ``TENANT_FILE``);
5. ``create_connection NAME --strategy auth0 --if-missing``;
6. ``issue_token`` with every management scope, named ``--client-id``.

Then four lines for the banner, on stdout or on ``--values-fd``: the public base URL, the token's lifetime
(``24h``, or seconds), the connection (``con_... strategy auth0, password policy "good"``: as it is, after a
``TENANT_FILE``) and the token. ``scripts/serve_checks.py setup`` runs this command in the process that checked the
database, so a bad setting stays one line.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
from pathlib import Path
from typing import Any

from django.apps import apps
from django.conf import settings
from django.contrib.staticfiles.finders import get_finders
from django.contrib.staticfiles.storage import staticfiles_storage
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS

from clients.scopes import KNOWN_SCOPES

DEFAULT_CONNECTION = "Username-Password-Authentication"


class Command(BaseCommand):
    help = (
        "Prepare to serve, as scripts/serve.sh does: compile translations, migrate, collect static files, load "
        "TENANT_FILE, make the connection if missing and issue a token with every management scope; then print the "
        "public URL, the token's lifetime, the connection and the token, one a line."
    )
    # Run in handle, with the database's checks, as migrate runs them (the other steps skip theirs).
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--skip-checks", action="store_true", help="Skip system checks.")
        parser.add_argument(
            "--connection",
            default=DEFAULT_CONNECTION,
            help=f"the auth0 connection made when missing and shown (default {DEFAULT_CONNECTION})",
        )
        parser.add_argument(
            "--client-id",
            default="manage-py",
            help="who the token names as its sub and azp (issue_token's --client-id; serve.sh: serve.sh)",
        )
        parser.add_argument(
            "--values-fd",
            type=int,
            help="write the four lines to this open file descriptor instead of stdout (serve.sh: 3, so the "
            "tenant's summary still reaches the terminal)",
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        values_fd = opts["values_fd"]
        if values_fd is not None:
            try:
                os.fstat(values_fd)
            except OSError as exc:
                raise CommandError(f"--values-fd {values_fd}: not an open file descriptor") from exc
        if not opts["skip_checks"]:
            self.check(databases=[DEFAULT_DB_ALIAS])
        quiet = io.StringIO()  # what serve.sh sent to /dev/null
        call_command("compile_translations", stdout=quiet)
        call_command("migrate", interactive=False, stdout=quiet)
        collect_static(stdout=quiet)
        call_command("load_tenant", from_env=True, stdout=self.stdout)
        made = io.StringIO()
        call_command("create_connection", opts["connection"], strategy="auth0", if_missing=True, stdout=made)
        token = io.StringIO()
        call_command("issue_token", scopes=" ".join(KNOWN_SCOPES), client_id=opts["client_id"], stdout=token)
        seconds = settings.ACCESS_TOKEN_LIFETIME_SECONDS
        lines = [
            settings.PUBLIC_BASE_URL,
            f"{seconds // 3600}h" if seconds % 3600 == 0 else f"{seconds}s",
            connection_line(made.getvalue()),
            token.getvalue().strip(),
        ]
        text = "".join(f"{line}\n" for line in lines)
        if values_fd is None:
            self.stdout.write(text, ending="")
        else:
            with open(values_fd, "w", encoding="utf-8", closefd=False) as out:
                out.write(text)


def connection_line(document: str) -> str:
    """``"<id> strategy <strategy>[, password policy "<policy>"]"`` of a connection as the management API shows it."""
    connection = json.loads(document)
    line = f"{connection['id']} strategy {connection['strategy']}"
    policy = (connection.get("options") or {}).get("passwordPolicy")
    return f'{line}, password policy "{policy}"' if policy else line


# --- collectstatic, only when something changed -------------------------------------------------------------------
#
# collectstatic copies a found file when its copy is missing or older (by the second) than it, then has the storage
# post-process every found file: WhiteNoise compresses each again (a second of CPU here), writing the same bytes
# (gzip with no timestamp) with the copy's mtime. So when the found files (each one's path, size and mtime), the
# tree under STATIC_ROOT (each entry's path, mode, size and mtime), the settings it reads and the installed
# packages are all as they were when it last finished, a run would leave every file as it is: it is skipped. A
# file changed in place keeps neither its mtime nor, mostly, its size: the same assumption collectstatic itself
# makes with mtimes alone. Anything else (a storage not on this machine, no STATIC_ROOT) runs it every time.


def collect_static(*, stdout: io.StringIO) -> None:
    """``collectstatic --noinput``, unless ``_static_state`` says it would change nothing."""
    record = _record_path()
    inputs = _static_inputs()
    if record is not None and inputs is not None:
        try:
            if record.read_text() == _static_state(inputs):
                return
            record.unlink()  # a run stopped half-way leaves no record behind
        except OSError:
            pass  # no record (a first start), or one that cannot be read or removed: collect
    call_command("collectstatic", interactive=False, stdout=stdout)
    if record is None or inputs is None:
        return
    # The inputs as they were before the run: one changed during it differs next time, and is collected then.
    state = _static_state(inputs)
    if state is None:
        return
    temporary = record.with_name(f".{record.name}.tmp")
    try:
        temporary.write_text(state)
        os.replace(temporary, record)
    except OSError:
        pass  # nowhere to keep it: collectstatic runs at every start, as it did before


def _record_path() -> Path | None:
    """Where the state of the last finished collectstatic is kept: beside STATIC_ROOT (``var/static.collected``),
    not in it, where WhiteNoise would serve it."""
    if not settings.STATIC_ROOT:
        return None
    root = Path(settings.STATIC_ROOT)
    return root.with_name(f"{root.name}.collected")


def _static_inputs() -> list[Any] | None:
    """What collectstatic reads: its settings, the Python and the installed packages (Django's and WhiteNoise's
    code, Brotli when installed: ``_installed``), and each found file as its finders list it, in order (the first
    of a path wins). ``None`` when a source has no local path or cannot be read."""
    # WHITENOISE_USE_FINDERS is how the server serves, not what collectstatic writes, and it follows whether
    # STATIC_ROOT was collected into (config.settings): in the digest it would make the restart after a first
    # collect collect again.
    names = sorted(
        name
        for name in dir(settings)
        if name.startswith(("STATIC", "WHITENOISE", "FILE_UPLOAD")) and name != "WHITENOISE_USE_FINDERS"
    )
    # collectstatic's default ignore patterns, as it reads them (StaticFilesConfig.ignore_patterns).
    staticfiles: Any = apps.get_app_config("staticfiles")
    ignore = sorted({os.path.normpath(p) for p in staticfiles.ignore_patterns})
    found: list[Any] = []
    try:
        for finder in get_finders():
            for path, storage in finder.list(ignore):
                prefix = getattr(storage, "prefix", None)
                source = storage.path(path)
                stat = os.stat(source)
                found.append([os.path.join(prefix, path) if prefix else path, source, stat.st_size, stat.st_mtime_ns])
    except (NotImplementedError, OSError):
        return None
    return [
        sys.version,
        _installed(),
        {name: getattr(settings, name) for name in names},
        settings.STORAGES.get("staticfiles"),
        ignore,
        found,
    ]


def _installed() -> list[str]:
    """The installed distributions, as their metadata directories name them (``whitenoise-6.12.0.dist-info``): an
    install, upgrade or removal renames one. A directory listing, where reading every METADATA took 60 ms."""
    names = []
    for entry in sys.path:
        try:
            names += [name for name in os.listdir(entry or ".") if name.endswith((".dist-info", ".egg-info"))]
        except OSError:
            continue  # a zip file or a directory that is gone
    return sorted(names)


def _static_state(inputs: list[Any]) -> str | None:
    """A digest of ``inputs`` and of the tree under STATIC_ROOT now (each entry's path, mode and size, and each
    file's mtime); ``None`` when the storage is not that tree or it cannot be read."""
    try:
        root = Path(staticfiles_storage.path(""))
        tree: list[Any] = []
        for directory, subdirectories, files in os.walk(root, onerror=_raise):
            subdirectories.sort()
            for name in sorted(subdirectories + files):
                path = os.path.join(directory, name)
                stat = os.lstat(path)
                entry = [os.path.relpath(path, root), stat.st_mode, stat.st_size]
                tree.append([*entry, stat.st_mtime_ns] if name in files else entry)
    except (NotImplementedError, OSError):
        return None
    document = json.dumps([str(root), inputs, tree], default=repr, sort_keys=True)
    return hashlib.sha256(document.encode()).hexdigest()


def _raise(error: OSError) -> None:
    """os.walk's errors raised, not skipped: an unreadable STATIC_ROOT is not an empty one."""
    raise error
