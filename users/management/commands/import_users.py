"""``manage.py import_users FILE --connection NAME``: Auth0's bulk-import format, streamed into a connection.

Prints a progress bar (users/s, ETA from the bytes read) on stderr and a summary on stdout; users that fail go
to a rejects file (``FILE.rejects.json`` or ``.jsonl``, same format, each user with its reasons and without its
secrets, mode 0600) that can be fixed and imported again. Exits 1 when any user failed, and with an error for a
file or connection that cannot be used at all.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import sys
import time
from pathlib import Path
from typing import IO, Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from connections.errors import ConnectionNotFound
from connections.selectors import get_connection
from core.actors import Actor
from users.imports import (
    DEFAULT_BATCH_SIZE,
    ImportConnectionError,
    ImportFileError,
    ImportSummary,
    RejectedUser,
    import_users,
)


class _RejectsFile:
    """Rejected users in the input's own format, created on the first one (no empty file after a clean run).

    Entries are ``{"user": …, "errors": […]}`` as Auth0's job errors are, the user without its password-like
    keys (``users.imports.validation.reported_user``); an entry that lost some lists their paths under
    ``"removed"``, and ``import_users`` refuses it (``SECRET_REMOVED``) until they are put back or ``"removed"``
    is deleted, so a re-run never imports a user without the password it had. The file is created with mode
    0600 and never through a symbolic link; an existing file is reused only when it is a regular file of this
    user that no one else may read and that has no other hard link; the directory must exist (``CommandError``
    otherwise, before anything is imported).
    """

    def __init__(self, path: Path, lines: bool) -> None:
        self.path, self.lines, self.count = path, lines, 0
        self._file: IO[str] | None = None

    def check(self) -> None:
        """Refuse, before any import, a path the file could not safely be written to: a directory that is
        missing or not writable, a symbolic link, anything but a private regular file with no other link."""
        parent = self.path.parent
        if not parent.is_dir():
            raise CommandError(f"no such directory for the rejects file: {parent}")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise CommandError(f"cannot write the rejects file into {parent}: permission denied")
        try:
            status = self.path.lstat()
        except FileNotFoundError:
            return
        _check_private(self.path, status)

    def write(self, rejected: RejectedUser) -> None:
        if self._file is None:
            try:
                fd = _open_private(self.path)
            except OSError as exc:  # checked up front; the directory changed since
                raise CommandError(f"cannot write the rejects file {self.path}: {exc.strerror}") from exc
            self._file = open(fd, "w", encoding="utf-8")  # noqa: SIM115 (closed in close())
            if not self.lines:
                self._file.write("[\n")
        entry: dict[str, Any] = {"user": rejected.user, "errors": rejected.errors}
        if rejected.removed:
            entry["removed"] = rejected.removed
        text = json.dumps(entry, ensure_ascii=False)
        if self.lines:
            self._file.write(text + "\n")
        else:
            self._file.write(("," if self.count else "") + text + "\n")
        self.count += 1

    def close(self) -> None:
        if self._file is not None:
            if not self.lines:
                self._file.write("]\n")
            self._file.close()


def _check_private(path: Path, status: os.stat_result) -> None:
    if stat.S_ISLNK(status.st_mode):
        raise CommandError(f"refusing to write the rejects file through a symbolic link: {path}")
    if not stat.S_ISREG(status.st_mode) or status.st_uid != os.geteuid() or status.st_mode & 0o077:
        raise CommandError(f"refusing to reuse {path}: not a regular file of yours with mode 0600; remove it first")
    if status.st_nlink > 1:  # another name of the same file, which truncating it would empty too
        raise CommandError(f"refusing to reuse {path}: the file has other hard links; remove it first")


def _open_private(path: Path) -> int:
    """A descriptor for writing ``path`` from its start: created with mode 0600, or an existing private file
    (``CommandError`` for anything else, checked on the open file so a swap after ``check`` changes nothing)."""
    try:
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        pass
    try:
        # O_NONBLOCK: opening a FIFO put at the path would otherwise wait for a reader; fstat refuses it below.
        fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise CommandError(f"refusing to write the rejects file through a symbolic link: {path}") from exc
        raise CommandError(f"refusing to reuse {path}: {exc.strerror}; remove it first") from exc
    try:
        _check_private(path, os.fstat(fd))
        os.set_blocking(fd, True)
        os.ftruncate(fd, 0)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _is_json_lines(path: Path) -> bool:
    with path.open("rb") as f:
        head = f.read(4096).removeprefix(b"\xef\xbb\xbf").lstrip()
    return head[:1] == b"{"


class Command(BaseCommand):
    help = "Import users from a JSON array or JSON lines file in Auth0's bulk-import format."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="a JSON array of users, or JSON lines; - reads standard input")
        parser.add_argument("--connection", required=True, help="the name of the database connection")
        parser.add_argument("--upsert", action="store_true", help="update users whose e-mail exists already")
        parser.add_argument("--dry-run", action="store_true", help="validate everything, write nothing")
        parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="users per transaction")
        parser.add_argument("--rejects", help="where failed users go (default: next to FILE)")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args: Any, **opts: Any) -> None:
        if opts["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1")
        try:
            connection = get_connection(name=opts["connection"])
        except ConnectionNotFound as exc:
            raise CommandError(f"no connection named {opts['connection']!r}") from exc

        from_stdin = opts["file"] == "-"
        path = Path(opts["file"])
        if not from_stdin and not path.is_file():
            raise CommandError(f"no such file: {path}")
        lines = False if from_stdin else _is_json_lines(path)
        default_rejects = Path("rejects.json") if from_stdin else path.with_name(path.stem + ".rejects.json")
        rejects_path = Path(opts["rejects"]) if opts["rejects"] else default_rejects
        if lines and not opts["rejects"]:
            rejects_path = rejects_path.with_suffix(".jsonl")
        rejects = _RejectsFile(rejects_path, lines)
        rejects.check()

        size = None if from_stdin else path.stat().st_size
        bar = tqdm(
            total=size,
            unit="B",
            unit_scale=True,
            file=sys.stderr,
            disable=opts["no_progress"] or opts["verbosity"] == 0,
            desc="dry run" if opts["dry_run"] else "importing",
        )

        started = time.monotonic()

        def progress(summary: ImportSummary, bytes_read: int) -> None:
            bar.update(bytes_read - bar.n)
            elapsed = time.monotonic() - started or 1e-9
            bar.set_postfix(users=summary.total, failed=summary.failed, rate=f"{summary.total / elapsed:,.0f} users/s")

        actor = Actor(kind="system", id=f"import_users:{os.environ.get('USER', 'operator')}")
        source = sys.stdin.buffer if from_stdin else path.open("rb")
        try:
            summary = import_users(
                source,
                connection=connection,
                actor=actor,
                upsert=opts["upsert"],
                dry_run=opts["dry_run"],
                batch_size=opts["batch_size"],
                on_reject=rejects.write,
                on_progress=progress,
            )
        except (ImportFileError, ImportConnectionError) as exc:
            raise CommandError(exc.message) from exc
        finally:
            bar.close()
            rejects.close()
            if not from_stdin:
                source.close()

        elapsed = time.monotonic() - started or 1e-9
        verb = "would be " if opts["dry_run"] else ""
        self.stdout.write(
            f"{summary.total} users in {elapsed:.2f} s ({summary.total / elapsed:,.0f} users/s): "
            f"{verb}inserted {summary.inserted}, {verb}updated {summary.updated}, "
            f"skipped {summary.skipped} (already present), failed {summary.failed}"
        )
        if rejects.count:
            self.stdout.write(f"rejected users and their reasons: {rejects_path}")
            raise SystemExit(1)
