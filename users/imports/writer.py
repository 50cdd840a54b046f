"""Writing imported users: plain passwords hashed over all cores, rows built once and inserted a batch at a time.

A batch goes in by a multi-row ``INSERT … ON CONFLICT DO NOTHING RETURNING`` (on PostgreSQL from a ``COPY``-filled
session table, and as a plain ``INSERT`` in a savepoint while no batch has met existing users): the unique
constraints, not a prior lookup, decide what is new; ``users.imports.conflicts`` sorts out the rest. Plain
passwords are hashed with bcrypt (``users.credentials.passwords``), which releases the GIL, so a thread per core
is enough; imported hashes are stored as they are.
"""

from __future__ import annotations

import json
import operator
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db import connection as db

from connections.models import Connection
from core.db import column_of
from users.credentials.passwords import hash_password
from users.emails import fold_email
from users.imports.validation import ImportedUser
from users.models import User
from users.services import is_unique_violation, new_user_values


@dataclass(eq=False)  # compared by identity: batches test membership a thousand times
class Candidate:
    """A user that passed validation, on its way to the database."""

    index: int
    raw: Any
    data: ImportedUser
    values: dict[str, Any] = field(default_factory=dict)  # the row to store (``users.services.new_user_values``)
    bcrypt_hash: str | None = None  # of a plain ``password``


@dataclass(eq=False)
class Prepared:
    """A batch ready to insert: ``rows`` are ``fresh`` in column order; ``waiting`` were left unhashed."""

    now: datetime
    fresh: list[Candidate]
    rows: list[list[Any]]
    waiting: list[Candidate]  # plain passwords not hashed: their e-mail is taken


class Writer:
    """The statements of one import, made once for the database in use, and the session's staging table."""

    def __init__(self, connection: Connection, *, upsert: bool) -> None:
        self.connection = connection
        self.upsert = upsert
        columns = [f for f in User._meta.concrete_fields if not f.primary_key]
        self.names = [f.attname for f in columns]
        self.in_column_order = operator.itemgetter(*self.names)
        self.json_columns = [i for i, f in enumerate(columns) if f.get_internal_type() == "JSONField"]
        # The import's own time, once per batch: created_at and updated_at (last_login stays NULL).
        self.time_columns = [i for i, f in enumerate(columns) if f.attname in ("created_at", "updated_at")]
        quoted = ", ".join(db.ops.quote_name(column_of(f)) for f in columns)
        self.insert_head = f"INSERT INTO {db.ops.quote_name(User._meta.db_table)} ({quoted})"
        self.insert_tail = f"ON CONFLICT DO NOTHING RETURNING {db.ops.quote_name('user_id')}"
        self.values_row = "(" + ", ".join(["%s"] * len(columns)) + ")"
        limit = min(db.features.max_query_params or 65535, 65535)
        self.rows_per_statement = max(1, limit // len(columns))
        self.staging = ""
        self._staged_session: Any = None
        self._expect_no_conflict = True
        if db.vendor == "postgresql":
            self.staging = f"userdir_import_{os.getpid()}"
            self.copy_sql = f"COPY {self.staging} ({quoted}, _n) FROM STDIN"
            select = f"SELECT {quoted} FROM {self.staging} ORDER BY _n"  # noqa: S608 (our own names)
            self.from_staging_sql = f"{self.insert_head} {select} {self.insert_tail}"
            self.plain_from_staging_sql = f"{self.insert_head} {select} RETURNING {db.ops.quote_name('user_id')}"

    def prepare(self, batch: list[Candidate], now: datetime) -> Prepared:
        """The CPU side of a batch: plain passwords hashed, rows built."""
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
        return Prepared(now=now, fresh=fresh, rows=self.rows(fresh, now), waiting=waiting)

    def _hash_passwords(self, batch: list[Candidate]) -> list[Candidate]:
        """Hash plain passwords over all cores; returns the users left unhashed because they already exist.

        Without upsert a user whose e-mail is already taken can only be skipped or refused, so its password is
        not hashed (a re-run of a killed import would otherwise pay the whole bcrypt bill again).
        """
        plain = [c for c in batch if "password" in c.data]
        if not plain:
            return []
        waiting: list[Candidate] = []
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

    def hash_late(self, candidate: Candidate) -> None:
        """Hash the plain password of a user held back by ``_hash_passwords`` (its e-mail was freed meanwhile)."""
        candidate.bcrypt_hash = candidate.values["password_hash"] = hash_password(candidate.data["password"])

    def rows(self, batch: list[Candidate], now: datetime) -> list[list[Any]]:
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

    def insert(self, batch: list[Candidate], rows: list[list[Any]]) -> list[Candidate]:
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
        inserted: list[Candidate] = []
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
