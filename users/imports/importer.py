"""Bulk import of users in Auth0's format: streaming, validated as the API validates, batched, resumable.

``import_users`` reads the file (``users.imports.reader``: a JSON array or JSON lines, as a stream, so memory stays
flat whatever its size), checks each user against the import schema (``users.imports.validation``, the API's own
fields), the connection's strategy rules and, for a plain password, its password policy, and writes a batch at a
time (``users.imports.writer``), each batch one transaction with its audit event; users the unique constraints
turned away are sorted out by ``users.imports.conflicts``. Validation runs in the calling thread while the
previous batch is written from another.

Nothing is skipped silently: every user ends inserted, updated, skipped (identical) or rejected with reasons.
Raises ``ImportConnectionError`` for a connection that cannot take imports and ``ImportFileError`` for a file
that is not a JSON array or JSON lines (users before the fault are already committed; a re-run skips them).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, BinaryIO

from django.db import connection as db
from django.db import transaction
from django.utils.translation import gettext as _

from audit.models import EventType
from audit.services import record_event
from connections.models import Connection, Strategy
from connections.password_policy import PasswordPolicyError
from connections.strategies import check_user_fields
from core import messages
from core.actors import Actor
from core.db import column_of
from core.errors import DomainError, ErrorCode, FieldCode, FieldError, PayloadValidationError
from users.errors import UserErrorCode
from users.imports.conflicts import Outcome, Resolver
from users.imports.reader import CountingReader, read_users
from users.imports.validation import ImportUserValidator, JobError, RejectedUser, redact_errors
from users.imports.writer import Candidate, Prepared, Writer
from users.profile import now_ms
from users.services import check_password_policy
from users.streams import emit_imported

# Users per transaction. Each batch has a fixed cost (a commit waits for the disk, the staging round trips, the
# audit row) and one is validated while the previous one is written: at 5,000 the fixed part is noise and the two
# halves overlap well (measured on PostgreSQL: 13,000 users/s at 1,000, 17,900 at 5,000, no gain beyond), while
# a batch still holds SQLite's write lock for only a fraction of a second and memory stays around 120 MB.
DEFAULT_BATCH_SIZE = 5000


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
    reader = CountingReader(source)
    if not dry_run:
        importer.run(reader, batch_size, on_progress, pipelined=pipelined)
        return importer.summary
    with transaction.atomic():
        importer.run(reader, batch_size, on_progress, pipelined=False)
        transaction.set_rollback(True)
    return importer.summary


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
        self.reader: CountingReader | None = None
        self.on_progress: Callable[[ImportSummary, int], None] | None = None
        self.validator = ImportUserValidator()
        self.started = _next_millisecond()  # rows created or updated since are this run's own
        self.writer = Writer(connection, upsert=upsert)
        self.conflicts = Resolver(connection, self.writer, upsert=upsert, started=self.started)

    def run(
        self,
        reader: CountingReader,
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
        pending: Future[Outcome] | None = None
        switch_interval = sys.getswitchinterval()
        if writer is not None:
            # The writer needs the GIL for a moment after each answer of the database; with the reading thread
            # busy, the default 5 ms hand-over left it waiting most of a batch (measured: 4.6 s of 5.3 s).
            sys.setswitchinterval(min(switch_interval, 0.001))
        try:
            batch: list[Candidate] = []
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
        self, batch: list[Candidate], writer: ThreadPoolExecutor | None, pending: Future[Outcome] | None
    ) -> Future[Outcome] | None:
        prepared = self._prepare(batch)
        if writer is None:
            self._apply(self._store(prepared))
            return None
        if pending is not None:
            self._apply(pending.result())
        return writer.submit(self._store, prepared)

    def _apply(self, outcome: Outcome) -> None:
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

    def _validate(self, index: int, raw: Any, parse_error: JobError | None) -> Candidate | None:
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
                errors = [_job_error(e) for e in exc.errors]
            except PasswordPolicyError as exc:
                errors = [{"code": UserErrorCode.PASSWORD_STRENGTH, "message": str(exc), "path": "password"}]
        if errors:
            self._reject(index, raw, errors)
            return None
        return Candidate(index=index, raw=raw, data=data)

    # --- writing ------------------------------------------------------------------------------------------

    def _prepare(self, batch: list[Candidate]) -> Prepared:
        """The CPU side of a batch: plain passwords hashed, rows built."""
        return self.writer.prepare(batch, now_ms())

    def _store(self, prepared: Prepared) -> Outcome:
        """The batch's transaction: insert, sort out what the constraints turned away, record the event."""
        out = Outcome()
        with transaction.atomic():
            self._hold_connection()
            inserted = self.writer.insert(prepared.fresh, prepared.rows)
            done = {id(c) for c in inserted}
            rest = [c for c in prepared.fresh if id(c) not in done] + prepared.waiting
            late = self.conflicts.resolve(rest, prepared.now, out) if rest else {"inserted": [], "updated": []}
            ids = {"inserted": [c.values["user_id"] for c in inserted] + late["inserted"], "updated": late["updated"]}
            emit_imported(
                self.connection, [c.values for c in inserted], late["inserted"], late["updated"], prepared.now
            )
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

    def _hold_connection(self) -> None:
        """First in a batch's transaction: the connection's row, share-locked on PostgreSQL (``FOR KEY SHARE``, the
        lock the new users' foreign keys take at commit: batches and creates do not wait on each other).

        A deletion of the connection locks its row, then its users (``users.streams``); a batch that had locked some
        of them (an upsert) and only reached the row at commit, for its inserted users' foreign keys, deadlocked with
        it. Taken first, the row makes the one wait for the other. Raises ``ImportConnectionError`` when the
        connection was deleted since the import began (its users' foreign keys would fail at commit), or is being
        deleted (``Connection.deletion_requested_at``: its users would be deleted after it)."""
        with db.cursor() as cursor:
            cursor.execute(_hold_connection_sql(db.vendor), [self.connection.pk])
            if cursor.fetchone() is None:
                raise ImportConnectionError(_("The connection does not exist."))


@lru_cache(maxsize=2)
def _hold_connection_sql(vendor: str) -> str:
    """``SELECT 1`` of the connection's row unless it is being deleted, ``FOR KEY SHARE`` on PostgreSQL (SQLite's
    write lock is the database's)."""
    meta = Connection._meta
    table, pk = db.ops.quote_name(meta.db_table), db.ops.quote_name(column_of(meta.pk))
    deleting = db.ops.quote_name(column_of(meta.get_field("deletion_requested_at")))
    lock = " FOR KEY SHARE" if vendor == "postgresql" else ""
    return f"SELECT 1 FROM {table} WHERE {pk} = %s AND {deleting} IS NULL{lock}"  # noqa: S608 - names from the model


def _job_error(error: FieldError) -> JobError:
    """A strategy rule's field error as a job error. A missing property is ``OBJECT_REQUIRED`` on import, where the
    API says ``OBJECT_MISSING_REQUIRED_PROPERTY``: Auth0's bulk-import list has the one, not the other ("Bulk User
    Imports", section "Retrieve failed entries")."""
    if error.code == FieldCode.OBJECT_MISSING_REQUIRED_PROPERTY and error.field:
        return _job_field_error(FieldCode.OBJECT_REQUIRED, messages.missing_property(error.field), error.field)
    return _job_field_error(error.code, error.message, error.field or "")


def _job_field_error(code: str, message: str, path: str) -> JobError:
    return {"code": code, "message": message, "path": path}


def _next_millisecond() -> datetime:
    """A start time no earlier write can share: stamps are whole milliseconds, so wait for the next one."""
    start = now_ms() + timedelta(milliseconds=1)
    while now_ms() < start:
        time.sleep(0.0002)
    return start


def _close_connection() -> None:
    db.close()  # resolved in the calling thread: the proxy gives each thread its own connection
