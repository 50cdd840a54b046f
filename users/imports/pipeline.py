"""Bulk import of users in Auth0's format: streaming, validated as the API validates, batched, resumable.

The file is a JSON array of user objects or JSON lines (one object a line), read as a stream so memory stays
flat whatever its size. Each user passes the import schema (``users.imports.validation``, the API's own fields) and the
connection's strategy rules; plain passwords pass its password policy and are hashed with bcrypt over all cores
(bcrypt releases the GIL, so a thread per core is enough); imported hashes are stored as they are.

Rows are written a batch at a time, each batch one transaction with its audit event, by a multi-row
``INSERT … ON CONFLICT DO NOTHING RETURNING`` (on PostgreSQL from a ``COPY``-filled session table, and as a plain
``INSERT`` in a savepoint while no batch has met existing users): the unique constraints, not a prior lookup,
decide what is new.
Users the constraints turned away are then sorted out against the rows they met:

- a row this run already wrote (created or updated since it started): ``DUPLICATED_USER``, the file names the
  user twice;
- with ``upsert``, a row with the same e-mail: its upsertable attributes are replaced (metadata is not merged);
- a row identical to the user: skipped, which is what makes a killed import safe to run again;
- anything else: a ``CONFLICT_*`` error.

Nothing is skipped silently: every user ends inserted, updated, skipped (identical) or rejected with reasons.
Raises ``ImportConnectionError`` for a connection that cannot take imports and ``ImportFileError`` for a file
that is not a JSON array or JSON lines (users before the fault are already committed; a re-run skips them).
"""

from __future__ import annotations

import json
import operator
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from functools import cached_property
from itertools import islice
from typing import Any, BinaryIO

import ijson
from django.db import IntegrityError, transaction
from django.db import connection as db
from django.db.models import Q
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from audit.models import EventType
from audit.services import record_event
from connections.models import Connection, Strategy
from connections.password_policy import PasswordPolicyError
from connections.strategies import check_user_fields
from core.actors import Actor
from core.db import column_of
from core.errors import DomainError, ErrorCode, FieldCode, PayloadValidationError
from users.credentials.passwords import hash_password
from users.emails import fold_email
from users.errors import UserErrorCode
from users.imports.validation import MAX_USER_DEPTH, ImportUserValidator, JobError, redact_errors, reported_user
from users.models import User
from users.profile import now_ms
from users.services import check_password_policy, is_unique_violation, new_user_values

# Users per transaction. Each batch has a fixed cost (a commit waits for the disk, the staging round trips, the
# audit row) and one is validated while the previous one is written: at 5,000 the fixed part is noise and the two
# halves overlap well (measured on PostgreSQL: 13,000 users/s at 1,000, 17,900 at 5,000, no gain beyond), while
# a batch still holds SQLite's write lock for only a fraction of a second and memory stays around 120 MB.
DEFAULT_BATCH_SIZE = 5000

# What an upsert replaces: the profile, never the identifiers (Auth0 matches on e-mail and keeps the rest).
UPSERTABLE = (
    "email_verified",
    "phone_verified",
    "given_name",
    "family_name",
    "name",
    "nickname",
    "picture",
    "blocked",
    "user_metadata",
    "app_metadata",
)
# What "identical" compares, beside the password: everything the file can set.
_COMPARED = ("email", "username", "phone_number", *UPSERTABLE)
_JSON_FIELDS = frozenset(f.name for f in User._meta.concrete_fields if f.get_internal_type() == "JSONField")


class ImportFileError(DomainError):
    """The file as a whole cannot be read as users (400 ``invalid_body``)."""

    code = ErrorCode.INVALID_BODY


class ImportConnectionError(DomainError):
    """The connection cannot take imported users (400 ``invalid_body``)."""

    code = ErrorCode.INVALID_BODY


@dataclass
class ImportSummary:
    total: int = 0
    inserted: int = 0
    updated: int = 0
    skipped: int = 0
    failed: int = 0

    def as_auth0(self) -> dict[str, int]:
        """Auth0's job summary; users skipped as already present count in ``total`` only."""
        return {"failed": self.failed, "updated": self.updated, "inserted": self.inserted, "total": self.total}


@dataclass
class RejectedUser:
    """A refused user: its position in the file, the user as read (``None`` for an unreadable line) and
    Auth0's error objects, which never quote a secret (``users.imports.validation.redact_errors``)."""

    index: int
    raw: Any
    errors: list[JobError]

    @cached_property
    def _report(self) -> tuple[Any, list[str]]:
        return reported_user(self.raw)

    @property
    def user(self) -> Any:
        """The user as an error report may keep it: no password-like key at any depth, nothing a database
        cannot store (``users.imports.validation.reported_user``); ``{}`` for an unreadable line or a user that is
        not an object."""
        return self._report[0]

    @property
    def removed(self) -> list[str]:
        """The paths of the password-like keys left out of ``user``."""
        return self._report[1]

    def as_auth0(self) -> dict[str, Any]:
        """Auth0's job error entry ``{user, errors}``."""
        return {"user": self.user, "errors": self.errors}


@dataclass(eq=False)  # compared by identity: batches test membership a thousand times
class _Candidate:
    index: int
    raw: Any
    data: dict[str, Any]
    values: dict[str, Any] = field(default_factory=dict)  # the row to store (``users.services.new_user_values``)
    bcrypt_hash: str | None = None  # of a plain ``password``


@dataclass(eq=False)
class _Prepared:
    now: datetime
    fresh: list[_Candidate]
    rows: list[list[Any]]
    waiting: list[_Candidate]  # plain passwords not hashed: their e-mail is taken


@dataclass(eq=False)
class _Outcome:
    """What the writer did with a batch, applied to the summary by the reading thread."""

    inserted: int = 0
    updated: int = 0
    skipped: int = 0
    rejected: list[RejectedUser] = field(default_factory=list)

    def reject(self, index: int, raw: Any, errors: list[JobError]) -> None:
        self.rejected.append(RejectedUser(index=index, raw=raw, errors=errors))


def check_import_connection(connection: Connection) -> None:
    """Only database connections take imports (Auth0's rule): the others have no passwords to import."""
    if connection.strategy != Strategy.AUTH0:
        raise ImportConnectionError(_("Connection must be a database connection."))


def import_users(
    source: BinaryIO,
    *,
    connection: Connection,
    actor: Actor,
    upsert: bool = False,
    dry_run: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_reject: Callable[[RejectedUser], None] | None = None,
    on_progress: Callable[[ImportSummary, int], None] | None = None,
    pipelined: bool = True,
) -> ImportSummary:
    """Import every user of ``source`` into ``connection``; see the module docstring for the rules.

    ``on_progress`` gets the running summary and the bytes read so far after each batch commits. ``dry_run`` does all
    the work, uniqueness included, inside one transaction that is rolled back. ``pipelined`` writes from a
    second thread with its own database connection (so not inside a caller's transaction); a dry run and
    ``pipelined=False`` write from the calling thread.
    """
    check_import_connection(connection)
    importer = _Importer(connection, actor, upsert=upsert, on_reject=on_reject)
    reader = _CountingReader(source)
    if not dry_run:
        importer.run(reader, batch_size, on_progress, pipelined=pipelined)
        return importer.summary
    with transaction.atomic():
        importer.run(reader, batch_size, on_progress, pipelined=False)
        transaction.set_rollback(True)
    return importer.summary


class _CountingReader:
    """A binary stream that counts what was read (progress and ETA come from the bytes consumed)."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.bytes_read = 0
        self._pushback = b""
        self._read_again = 0  # bytes read a second time after ``rewind``, not counted twice

    def peek_first(self) -> bytes:
        """The first byte that is not white space (a BOM is dropped), without consuming it."""
        head = b""
        while True:
            chunk = self.stream.read(4096)
            if not chunk:
                self._pushback = head
                return b""
            head += chunk
            stripped = head.removeprefix(b"\xef\xbb\xbf").lstrip()
            if stripped:
                self._pushback = stripped
                self.bytes_read += len(head) - len(stripped)
                return stripped[:1]

    def free_of(self, found: Callable[[bytes], bool]) -> bool:
        """Read what is left of a stream that can be rewound, and rewind it: ``True`` when ``found`` saw
        nothing in any window of it, ``False`` when it did or the stream cannot be rewound. ``bytes_read`` is
        left as it was.

        Windows end just after a byte that no JSON escape can continue (anything but a backslash, a hex digit
        or ``u``), so no escape, surrogate pair or run of backslashes is ever split between two windows and
        each window starts where an escape may start. Bytes that never offer such an end (over 1 MB of them)
        count as found: the answer errs on the careful side.
        """
        if not getattr(self.stream, "seekable", lambda: False)():
            return False
        start = self.stream.tell()
        try:
            carry = b""
            chunk = self._pushback or self.stream.read(1 << 20)
            while chunk:
                window = carry + chunk
                end = len(window.rstrip(_ESCAPE_BYTES))
                if end and found(window[:end]):
                    return False
                carry = window[end:]
                if len(carry) > 1 << 20:
                    return False
                chunk = self.stream.read(1 << 20)
            return not (carry and found(carry))
        finally:
            self.stream.seek(start)

    def mark(self) -> tuple[int, bytes, int]:
        """Where a stream that can be rewound stands, for ``rewind``."""
        return self.stream.tell(), self._pushback, self.bytes_read

    def rewind(self, mark: tuple[int, bytes, int]) -> None:
        """Back to ``mark``. ``bytes_read`` does not step back: what is read again is counted once, so progress
        and ETA stay monotonic."""
        position, self._pushback, counted = mark
        self.stream.seek(position)
        self._read_again = self.bytes_read - counted

    def read(self, size: int = -1) -> bytes:
        if size == 0:
            return b""  # ijson reads nothing first, to learn whether the stream gives bytes or text
        if self._pushback:
            data, self._pushback = self._pushback, b""
            if size < 0:
                data += self.stream.read()
        else:
            data = self.stream.read(size)
        again = min(self._read_again, len(data))
        self._read_again -= again
        self.bytes_read += len(data) - again
        return data

    def __iter__(self) -> Iterator[bytes]:
        """Lines, for JSON lines files."""
        pending = b""
        while chunk := self.read(1 << 16):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            yield from lines
        if pending:
            yield pending


def read_users(reader: _CountingReader) -> Iterator[tuple[int, Any, JobError | None]]:
    """``(index, user, parse error)`` for each user of a JSON array or JSON lines file, streaming.

    A line of JSON lines that cannot be read is reported by its number and a code alone (``INVALID_JSON``, or
    ``MAX_DEPTH`` when it nests deeper than the parser goes), with ``None`` as its user: the text may hold a
    password. An array that stops being JSON ends the import with an ``ImportFileError`` that names the number
    of users read, never the parser's excerpt of the input. Text is read as written: a lone surrogate escape
    (``\\ud800``) stays one, for the validator to refuse (``_array_items``).

    A rejects file written by ``import_users`` (entries ``{"user": …, "errors": […]}``, with ``"removed"`` when
    secrets were left out) reads as its users, so it can be fixed and run again (``_unwrap``).
    """
    first = reader.peek_first()
    if not first:
        raise ImportFileError(_("Users file must not be empty."))
    if first == b"[":
        index = -1
        try:
            for index, item in enumerate(_array_items(reader)):
                user, error = _unwrap(item)
                yield index, user, error
        except (ijson.JSONError, ijson.IncompleteJSONError, ValueError) as exc:  # UnicodeDecodeError included
            read = index + 1
            raise ImportFileError(
                ngettext(
                    "The users file is not valid JSON after %(count)s user.",
                    "The users file is not valid JSON after %(count)s users.",
                    read,
                )
                % {"count": read}
            ) from exc
        return
    if first != b"{":
        raise ImportFileError(_("The users file must be a JSON array of users or JSON lines (one user a line)."))
    index = 0
    for number, line in enumerate(reader, start=1):
        if not line.strip():
            continue
        try:
            user, error = _unwrap(json.loads(line))
            yield index, user, error
        except RecursionError:
            yield index, None, _line_error(FieldCode.MAX_DEPTH, _("Line %(line)s nests too deeply.") % {"line": number})
        except ValueError:  # json.JSONDecodeError and UnicodeDecodeError
            yield (
                index,
                None,
                _line_error(UserErrorCode.INVALID_JSON, _("Line %(line)s is not valid JSON.") % {"line": number}),
            )
        index += 1


def _line_error(code: str, message: str) -> JobError:
    return {"code": code, "message": message, "path": ""}


# What a JSON escape is made of (``\\``, ``\uD83D``, ...): a window of the file never ends on one of these.
_ESCAPE_BYTES = b"\\0123456789abcdefABCDEFu"
_HIGH = rb"\\u[dD][89abAB][0-9a-fA-F]{2}"
_LOW = rb"\\u[dD][c-fC-F][0-9a-fA-F]{2}"
# A surrogate escape, as a pair or alone (group 1). A match starts a run of backslashes (none before it) and steps
# over the escaped backslashes of that run, so in ``\\ud800`` (an escaped backslash, then text) there is no escape
# at all; a pair is matched whole, so its low half is never taken for a lone one.
_SURROGATE_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*(?:" + _HIGH + _LOW + rb"|(" + _HIGH + rb"|" + _LOW + rb"))")


def _has_lone_surrogate_escape(data: bytes) -> bool:
    """Whether ``data`` (a window of a JSON file that starts where an escape may start) writes a surrogate
    that is not half of a pair: ijson's fast C parser (yajl) turns a lone high one into ``?`` without a word
    and fails the whole file on a lone low one."""
    if b"\\ud" not in data and b"\\uD" not in data:
        return False  # the common case, at memory speed
    return any(match.group(1) for match in _SURROGATE_ESCAPE.finditer(data))


# Containers at this depth (the array's items are level 1) are kept empty and their content is read but not
# built: two levels below the deepest a user may have (a rejects-file entry holds its user one level down, and
# the level below that is where validation finds the excess and refuses the user, ``MAX_DEPTH``), so no valid
# user loses anything and no depth costs memory.
_BUILT_DEPTH = MAX_USER_DEPTH + 2


def _array_items(reader: _CountingReader) -> Iterator[Any]:
    """The items of a JSON array, built from ijson's C parser events unless the file holds a lone surrogate
    escape or an integer beyond 64 bits.

    The C backend (yajl) writes a lone surrogate as ``?``, which would import a different e-mail than the file
    gives; ijson's pure-Python backend keeps it (and is some twenty times slower, so it reads only such files).
    The file is scanned first when it can be rewound; a stream that cannot (standard input) always gets the
    Python backend.

    yajl also refuses an integer outside int64 (and -2**63, by its own overflow check) with "integer overflow",
    though JSON sets no limit and Python's ``json`` reads it. The C backend runs only on a stream that can be
    rewound, so on that error the file is read again from the start by the Python backend, which steps over the
    items already given (both backends build the same items from the same bytes, so none is given twice).
    Only such files pay, and only for the part before the integer; a pre-scan for long digit runs would send
    every file with long numeric ids in its strings to the slow backend too.
    """
    python = ijson.get_backend("python")
    if not reader.free_of(_has_lone_surrogate_escape):
        yield from _items(python.basic_parse(reader, use_float=True))
        return
    start = reader.mark()
    given = 0
    try:
        for item in _items(ijson.basic_parse(reader, use_float=True)):
            yield item
            given += 1
        return
    except ijson.IncompleteJSONError as exc:
        # yajl's message (``yajl_parser.c``): the one refusal of valid JSON the C backend makes
        if not str(exc).startswith("parse error: integer overflow"):
            raise
    reader.rewind(start)
    yield from islice(_items(python.basic_parse(reader, use_float=True)), given, None)


def _items(events: Iterator[tuple[str, Any]]) -> Iterator[Any]:
    """The items of the array whose ``ijson.basic_parse`` events these are, one at a time.

    Not ``ijson.items``: it keeps a prefix string (``item.item.…``) for every open level, so its memory grows
    with the square of the depth (20,000 levels, a 40 KB file: 1 GB). Here a level costs one container up to
    ``_BUILT_DEPTH`` and a counter below it, and the parser's errors (``ijson.JSONError``, ``ValueError``)
    pass through. The events are read to their end, so what follows the array is checked too.
    """
    stack: list[Any] = []
    top: Any = None  # the container being filled, None between items
    in_map = False
    key: Any = None
    next(events, None)  # the array's own start (``read_users`` saw the "[")
    for event, value in events:
        if event == "map_key":
            key = value
        elif event == "start_map" or event == "start_array":
            container: Any = {} if event == "start_map" else []
            if in_map:
                top[key] = container
            elif top is not None:
                top.append(container)
            if len(stack) + 1 >= _BUILT_DEPTH:
                _skip(events)
            else:
                stack.append(container)
                top, in_map = container, event == "start_map"
        elif event == "end_map" or event == "end_array":
            if not stack:
                continue  # the array's own end
            item = stack.pop()
            if stack:
                top = stack[-1]
                in_map = type(top) is dict
            else:
                top, in_map = None, False
                yield item
        elif in_map:
            top[key] = value
        elif top is not None:
            top.append(value)
        else:
            yield value  # an item that is not a container


def _skip(events: Iterator[tuple[str, Any]]) -> None:
    """Read the events of the container just opened up to its end, counting levels only."""
    depth = 1
    for event, _value in events:
        if event == "start_map" or event == "start_array":
            depth += 1
        elif event == "end_map" or event == "end_array":
            depth -= 1
            if not depth:
                return


def _unwrap(item: Any) -> tuple[Any, JobError | None]:
    """A rejects-file entry as its user; an entry whose secrets were left out must have them back first.

    Such an entry lists their paths under ``removed`` (a list of strings, or the user is refused with
    ``INVALID_TYPE``): if any is still missing the user is refused (``SECRET_REMOVED``) rather than imported
    without its password; deleting ``removed`` imports it as it stands. The message counts the missing paths
    but does not quote them: whatever the file wrote there would be echoed into job errors.
    """
    if not isinstance(item, dict) or not {"user", "errors"} <= item.keys() <= {"user", "errors", "removed"}:
        return item, None
    user, removed = item["user"], item.get("removed", [])
    if not isinstance(removed, list) or not all(isinstance(path, str) for path in removed):
        message = _('"removed" must list the paths of the keys left out, as strings.')
        return user, {"code": FieldCode.INVALID_TYPE, "message": message, "path": ""}
    if removed:
        present = set(_paths(user))
        missing = sum(1 for path in removed if path not in present)
        if missing:
            message = ngettext(
                '%(count)s key listed under "removed" was left out of the rejects file because it is a secret. '
                'Put it back, or delete "removed" to import the user without it.',
                '%(count)s keys listed under "removed" were left out of the rejects file because they are '
                'secrets. Put them back, or delete "removed" to import the user without them.',
                missing,
            ) % {"count": missing}
            return user, {"code": UserErrorCode.SECRET_REMOVED, "message": message, "path": ""}
    return user, None


def _paths(value: Any, path: str = "", depth: int = 1) -> Iterator[str]:
    """The dotted path of every key of ``value`` (``users.imports.validation.reported_user`` writes them so)."""
    if isinstance(value, dict) and depth <= MAX_USER_DEPTH:
        for key, item in value.items():
            here = f"{path}.{key}" if path else str(key)
            yield here
            yield from _paths(item, here, depth + 1)


class _Importer:
    def __init__(
        self,
        connection: Connection,
        actor: Actor,
        *,
        upsert: bool,
        on_reject: Callable[[RejectedUser], None] | None,
    ) -> None:
        self.connection = connection
        self.actor = actor
        self.upsert = upsert
        self.on_reject = on_reject
        self.summary = ImportSummary()
        self.reader: _CountingReader | None = None
        self.on_progress: Callable[[ImportSummary, int], None] | None = None
        self.validator = ImportUserValidator()
        self.started = _next_millisecond()  # rows created or updated since are this run's own
        columns = [f for f in User._meta.concrete_fields if not f.primary_key]
        self.names = [f.attname for f in columns]
        self.in_column_order = operator.itemgetter(*self.names)
        self.json_columns = [i for i, f in enumerate(columns) if f.get_internal_type() == "JSONField"]
        self.time_columns = [i for i, f in enumerate(columns) if f.get_internal_type() == "DateTimeField"]
        quoted = ", ".join(db.ops.quote_name(column_of(f)) for f in columns)
        self.insert_head = f"INSERT INTO {db.ops.quote_name(User._meta.db_table)} ({quoted})"
        self.insert_tail = f"ON CONFLICT DO NOTHING RETURNING {db.ops.quote_name('user_id')}"
        self.values_row = "(" + ", ".join(["%s"] * len(columns)) + ")"
        limit = min(db.features.max_query_params or 65535, 65535)
        self.rows_per_statement = max(1, limit // len(columns))
        self.staging = ""
        self._staged_session: Any = None
        self._expect_no_conflict = True
        self.jsonb = db.vendor == "postgresql"
        if db.vendor == "postgresql":
            self.staging = f"userdir_import_{os.getpid()}"
            self.copy_sql = f"COPY {self.staging} ({quoted}, _n) FROM STDIN"
            select = f"SELECT {quoted} FROM {self.staging} ORDER BY _n"  # noqa: S608 (our own names)
            self.from_staging_sql = f"{self.insert_head} {select} {self.insert_tail}"
            self.plain_from_staging_sql = f"{self.insert_head} {select} RETURNING {db.ops.quote_name('user_id')}"

    def run(
        self,
        reader: _CountingReader,
        batch_size: int,
        on_progress: Callable[[ImportSummary, int], None] | None,
        *,
        pipelined: bool,
    ) -> None:
        """Validate in this thread while the previous batch is written in another (its own connection).

        Validation is Python work and writing is mostly waiting for the database, so the two overlap; the
        writer never runs more than one batch ahead, which keeps memory flat.
        """
        self.reader, self.on_progress = reader, on_progress
        writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="import-writer") if pipelined else None
        pending: Future[_Outcome] | None = None
        switch_interval = sys.getswitchinterval()
        if writer is not None:
            # The writer needs the GIL for a moment after each answer of the database; with the reading thread
            # busy, the default 5 ms hand-over left it waiting most of a batch (measured: 4.6 s of 5.3 s).
            sys.setswitchinterval(min(switch_interval, 0.001))
        try:
            batch: list[_Candidate] = []
            for index, raw, parse_error in read_users(reader):
                self.summary.total += 1
                candidate = self._validate(index, raw, parse_error)
                if candidate is not None:
                    batch.append(candidate)
                if len(batch) >= batch_size:
                    pending = self._flush(batch, writer, pending)
                    batch = []
            if batch:
                pending = self._flush(batch, writer, pending)
            if pending is not None:
                self._apply(pending.result())
        finally:
            if writer is not None:
                writer.submit(_close_connection).result()  # the writer thread's own connection
                writer.shutdown()
                sys.setswitchinterval(switch_interval)
        if on_progress:
            on_progress(self.summary, reader.bytes_read)

    def _flush(
        self, batch: list[_Candidate], writer: ThreadPoolExecutor | None, pending: Future[_Outcome] | None
    ) -> Future[_Outcome] | None:
        prepared = self._prepare(batch)
        if writer is None:
            self._apply(self._store(prepared))
            return None
        if pending is not None:
            self._apply(pending.result())
        return writer.submit(self._store, prepared)

    def _apply(self, outcome: _Outcome) -> None:
        self.summary.inserted += outcome.inserted
        self.summary.updated += outcome.updated
        self.summary.skipped += outcome.skipped
        for rejected in outcome.rejected:
            self._reject(rejected.index, rejected.raw, rejected.errors)
        # After each batch is committed, so progress never counts what may be lost (both are set by run()).
        if self.on_progress and self.reader is not None:
            self.on_progress(self.summary, self.reader.bytes_read)

    # --- validation ---------------------------------------------------------------------------------------

    def _reject(self, index: int, raw: Any, errors: list[JobError]) -> None:
        self.summary.failed += 1
        if self.on_reject:
            self.on_reject(RejectedUser(index=index, raw=raw, errors=redact_errors(errors)))

    def _validate(self, index: int, raw: Any, parse_error: JobError | None) -> _Candidate | None:
        if parse_error is not None:
            self._reject(index, raw, [parse_error])
            return None
        data, errors = self.validator.validate(raw)
        if not errors:
            try:
                check_user_fields(self.connection, data, password_required=False)
                if "password" in data:
                    check_password_policy(connection=self.connection, data=data)
            except PayloadValidationError as exc:
                errors = [{"code": e.code, "message": e.message, "path": e.field or ""} for e in exc.errors]
            except PasswordPolicyError as exc:
                errors = [{"code": UserErrorCode.PASSWORD_STRENGTH, "message": str(exc), "path": "password"}]
        if errors:
            self._reject(index, raw, errors)
            return None
        return _Candidate(index=index, raw=raw, data=data)

    # --- writing ------------------------------------------------------------------------------------------

    def _prepare(self, batch: list[_Candidate]) -> _Prepared:
        """The CPU side of a batch: plain passwords hashed, rows built."""
        now = now_ms()
        waiting = self._hash_passwords(batch)
        for candidate in batch:
            data = candidate.data
            candidate.values = new_user_values(
                strategy=self.connection.strategy,
                data=data,
                password_hash=data.get("password_hash") or candidate.bcrypt_hash,
                custom_password_hash=data.get("custom_password_hash"),
                now=now,
            )
        held = {id(c) for c in waiting}
        fresh = [c for c in batch if id(c) not in held]
        return _Prepared(now=now, fresh=fresh, rows=self._rows(fresh, now), waiting=waiting)

    def _store(self, prepared: _Prepared) -> _Outcome:
        """The batch's transaction: insert, sort out what the constraints turned away, record the event."""
        out = _Outcome()
        with transaction.atomic():
            inserted = self._insert(prepared.fresh, prepared.rows)
            done = {id(c) for c in inserted}
            rest = [c for c in prepared.fresh if id(c) not in done] + prepared.waiting
            late = self._resolve(rest, prepared.now, out) if rest else {"inserted": [], "updated": []}
            ids = {"inserted": [c.values["user_id"] for c in inserted] + late["inserted"], "updated": late["updated"]}
            if ids["inserted"] or ids["updated"]:
                record_event(
                    type=EventType.SUCCESS_API_OPERATION,
                    description="Import users",
                    actor=self.actor,
                    connection_name=self.connection.name,
                    connection_id=self.connection.pk,
                    details=ids,
                )
        out.inserted += len(inserted)
        return out

    def _hash_passwords(self, batch: list[_Candidate]) -> list[_Candidate]:
        """Hash plain passwords over all cores; returns the users left unhashed because they already exist.

        Without upsert a user whose e-mail is already taken can only be skipped or refused, so its password is
        not hashed (a re-run of a killed import would otherwise pay the whole bcrypt bill again).
        """
        plain = [c for c in batch if "password" in c.data]
        if not plain:
            return []
        waiting: list[_Candidate] = []
        if not self.upsert:
            emails = [fold_email(c.data["email"]) for c in plain]
            taken = set(
                User.objects.filter(connection=self.connection, email__in=emails).values_list("email", flat=True)
            )
            waiting = [c for c in plain if fold_email(c.data["email"]) in taken]
            plain = [c for c in plain if fold_email(c.data["email"]) not in taken]
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            hashes = pool.map(hash_password, [c.data["password"] for c in plain])
            for candidate, hashed in zip(plain, hashes, strict=True):
                candidate.bcrypt_hash = hashed
        return waiting

    def _rows(self, batch: list[_Candidate], now: datetime) -> list[list[Any]]:
        """The batch as plain rows in column order, adapted for the database (JSON as text, times once)."""
        stamp = now if db.vendor == "postgresql" else db.ops.adapt_datetimefield_value(now)
        rows = []
        for candidate in batch:
            values = candidate.values
            values["connection_id"] = self.connection.pk
            row = list(self.in_column_order(values))
            for i in self.json_columns:
                if row[i] is not None:
                    row[i] = json.dumps(row[i])
            for i in self.time_columns:
                row[i] = stamp
            rows.append(row)
        return rows

    def _insert(self, batch: list[_Candidate], rows: list[list[Any]]) -> list[_Candidate]:
        """Insert what the constraints let in; returns those candidates, in file order.

        On PostgreSQL the batch is copied (``COPY``, the fast path) into a session table and inserted from there
        in file order: a statement with a parameter per value costs more to build, parse and plan than its rows
        cost to insert. SQLite takes multi-row ``VALUES``, as many rows as its parameter limit allows.
        """
        if not batch:
            return []
        returned: set[str] = set()
        with db.cursor() as cursor:
            if self.staging:
                returned.update(self._insert_by_copy(cursor, rows))
            else:
                for start in range(0, len(rows), self.rows_per_statement):
                    chunk = rows[start : start + self.rows_per_statement]
                    values = ", ".join([self.values_row] * len(chunk))
                    cursor.execute(
                        f"{self.insert_head} VALUES {values} {self.insert_tail}",
                        [value for row in chunk for value in row],
                    )
                    returned.update(r[0] for r in cursor.fetchall())
        # Rows go in in file order, so of two users with one id the first is the one stored.
        inserted: list[_Candidate] = []
        for candidate in batch:
            if candidate.values["user_id"] in returned:
                returned.discard(candidate.values["user_id"])
                inserted.append(candidate)
        return inserted

    def _insert_by_copy(self, cursor: Any, rows: list[list[Any]]) -> list[str]:
        """COPY the rows into this session's staging table, then insert from it in file order.

        The staging table is made once per database session (a temporary table lives as long as its session)
        and emptied after each batch.
        """
        session = cursor.cursor.connection
        if self._staged_session is not session:
            names = ", ".join(db.ops.quote_name(name) for name in self.names)
            cursor.execute(
                f"CREATE TEMPORARY TABLE IF NOT EXISTS {self.staging} AS "  # noqa: S608 (our own names)
                f"SELECT {names}, 0 AS _n FROM {db.ops.quote_name(User._meta.db_table)} WITH NO DATA"
            )
            self._staged_session = session
        with cursor.cursor.copy(self.copy_sql) as copy:
            for n, row in enumerate(rows):
                copy.write_row((*row, n))
        returned = None
        if self._expect_no_conflict:
            # A plain INSERT costs PostgreSQL a third less than ON CONFLICT's speculative insertion. When a
            # constraint refuses a row, the savepoint undoes the statement and the batch goes in the careful way.
            try:
                with transaction.atomic():
                    cursor.execute(self.plain_from_staging_sql)
                    returned = [r[0] for r in cursor.fetchall()]
            except IntegrityError as exc:
                if not is_unique_violation(exc):
                    raise
        if returned is None:
            cursor.execute(self.from_staging_sql)
            returned = [r[0] for r in cursor.fetchall()]
        # A batch that met existing users (a resumed import) is likely followed by more of them.
        self._expect_no_conflict = len(returned) == len(rows)
        # TRUNCATE, not DELETE: autovacuum never visits temporary tables, so deleted rows would pile up and be
        # scanned again by every later batch.
        cursor.execute(f"TRUNCATE {self.staging}")
        return returned

    def _resolve(self, rest: list[_Candidate], now: datetime, out: _Outcome) -> dict[str, list[str]]:
        """Sort out the users the constraints turned away; returns the ids inserted late and updated."""
        emails = {c.values["email"] for c in rest if c.values["email"]}
        usernames = {c.values["username"] for c in rest if c.values["username"]}
        phones = {c.values["phone_number"] for c in rest if c.values["phone_number"]}
        ids = {c.values["user_id"] for c in rest if c.data.get("user_id")}
        same_connection = Q(email__in=emails) | Q(username__in=usernames) | Q(phone_number__in=phones)
        found = User.objects.filter(Q(connection=self.connection) & same_connection | Q(user_id__in=ids))
        by: dict[str, dict[Any, User]] = {"email": {}, "username": {}, "phone_number": {}, "user_id": {}}
        for row in found:
            for key in ("email", "username", "phone_number"):
                if row.connection_id == self.connection.pk and getattr(row, key):
                    by[key][getattr(row, key)] = row
            by["user_id"][row.user_id] = row
        outcomes: dict[str, list[str]] = {"inserted": [], "updated": []}
        for candidate in rest:
            outcome = self._settle(candidate, by, now, out)
            if outcome in outcomes:
                outcomes[outcome].append(candidate.values["user_id"])
        return outcomes

    def _settle(self, candidate: _Candidate, by: dict[str, dict[Any, User]], now: datetime, out: _Outcome) -> str:
        values, data = candidate.values, candidate.data
        keys = ["email", "username", "phone_number"] + (["user_id"] if data.get("user_id") else [])
        looked_up = {key: by[key].get(values[key]) for key in keys if values[key]}
        matches = {key: row for key, row in looked_up.items() if row is not None}
        rows = {row.pk: row for row in matches.values()}
        if not rows:
            if "password" in data and candidate.bcrypt_hash is None:
                return self._insert_late(candidate, now, out)
            out.reject(
                candidate.index, candidate.raw, [_conflict(UserErrorCode.CONFLICT, _("The user already exists."))]
            )
            return "failed"
        if any(row.created_at >= self.started or row.updated_at >= self.started for row in rows.values()):
            message = _("The file names this user more than once.")
            out.reject(candidate.index, candidate.raw, [_conflict(UserErrorCode.DUPLICATED_USER, message)])
            return "failed"
        row = next(iter(rows.values()))
        if len(rows) == 1 and self._identical(row, candidate):
            out.skipped += 1
            return "skipped"
        if self.upsert and "email" in matches and len(rows) == 1:
            changed = [key for key in ("username", "phone_number", "user_id") if key in data and key not in matches]
            if changed:
                message = _("An import cannot change %(fields)s of an existing user.") % {"fields": ", ".join(changed)}
                out.reject(candidate.index, candidate.raw, [_conflict(UserErrorCode.CONFLICT, message)])
                return "failed"
            if self._update(row, candidate, now):
                out.updated += 1
                return "updated"
            out.skipped += 1
            return "skipped"
        if "email" in matches:
            error = _conflict(
                UserErrorCode.CONFLICT_EMAIL, _("A user with this email already exists in the connection.")
            )
        elif "username" in matches:
            message = _("A user with this username already exists in the connection.")
            error = _conflict(UserErrorCode.CONFLICT_USERNAME, message)
        else:
            error = _conflict(UserErrorCode.CONFLICT, _("The user already exists."))
        out.reject(candidate.index, candidate.raw, [error])
        return "failed"

    def _insert_late(self, candidate: _Candidate, now: datetime, out: _Outcome) -> str:
        """A user held back unhashed whose e-mail was freed meanwhile: hash it and try once more."""
        candidate.bcrypt_hash = candidate.values["password_hash"] = hash_password(candidate.data["password"])
        with transaction.atomic():
            if self._insert([candidate], self._rows([candidate], now)):
                out.inserted += 1
                return "inserted"
        out.reject(candidate.index, candidate.raw, [_conflict(UserErrorCode.CONFLICT, _("The user already exists."))])
        return "failed"

    def _differs(self, row: User, key: str, value: Any) -> bool:
        """Whether storing ``value`` under ``key`` would change what ``row`` holds.

        jsonb keeps a number as ``numeric`` and writes it back without an exponent, so on PostgreSQL a float
        such as ``1e23`` reads back as the integer 10**23 (which is not the float 1e23): a stored JSON value is
        compared with what jsonb makes of the file's (``_as_jsonb``), only when the plain comparison fails.
        """
        stored = getattr(row, key)
        if stored == value:
            return False
        return not (self.jsonb and key in _JSON_FIELDS and stored == _as_jsonb(value))

    def _identical(self, row: User, candidate: _Candidate) -> bool:
        values, data = candidate.values, candidate.data
        if any(self._differs(row, f, values[f]) for f in _COMPARED):
            return False
        if data.get("user_id") and row.user_id != values["user_id"]:
            return False
        if "password" in data:  # a bcrypt hash of it cannot be compared without paying for bcrypt
            return row.password_hash is not None or row.custom_password_hash is not None
        return (row.password_hash, row.custom_password_hash) == (
            values["password_hash"],
            values["custom_password_hash"],
        )

    def _update(self, row: User, candidate: _Candidate, now: datetime) -> bool:
        """Replace the upsertable attributes the file gives; False when nothing differs."""
        data, values = candidate.data, candidate.values
        changes: dict[str, Any] = {f: values[f] for f in UPSERTABLE if f in data}
        if "password" in data or "password_hash" in data:
            changes.update(password_hash=values["password_hash"], custom_password_hash=None)
        elif "custom_password_hash" in data:
            changes.update(password_hash=None, custom_password_hash=values["custom_password_hash"])
        changes = {key: value for key, value in changes.items() if self._differs(row, key, value)}
        if not changes:
            return False
        changes["updated_at"] = now
        User.objects.filter(pk=row.pk).update(**changes)
        for key, value in changes.items():
            setattr(row, key, value)  # a later user of the batch meeting this row sees it was this run's
        values["user_id"] = row.user_id
        return True


def _as_jsonb(value: Any) -> Any:
    """``value`` as PostgreSQL gives it back from a jsonb column it was written to as ``json.dumps`` text.

    jsonb reads a number as ``numeric`` (exact decimal) and writes it without an exponent: ``1e+23`` comes back
    as ``100000000000000000000000``, an integer for Python, and 10**23 is not the float 1e23 (the float is
    99999999999999991611392). ``json.dumps`` writes a float with an exponent (``repr``) only from 1e16 up, and
    those all come back as integers; any other float comes back as the same float (``-0.0`` as ``0.0``, which
    Python counts equal). PostgreSQL documents the conversion in "JSON Types" (Table 8.23: number is numeric).
    """
    if type(value) is float:
        text = repr(value)
        return int(Decimal(text)) if "e+" in text else value
    if type(value) is dict:
        return {key: _as_jsonb(item) for key, item in value.items()}
    if type(value) is list:
        return [_as_jsonb(item) for item in value]
    return value


def _next_millisecond() -> datetime:
    """A start time no earlier write can share: stamps are whole milliseconds, so wait for the next one."""
    start = now_ms() + timedelta(milliseconds=1)
    while now_ms() < start:
        time.sleep(0.0002)
    return start


def _close_connection() -> None:
    db.close()  # resolved in the calling thread: the proxy gives each thread its own connection


def _conflict(code: str, message: str) -> JobError:
    return {"code": code, "message": message, "path": ""}
