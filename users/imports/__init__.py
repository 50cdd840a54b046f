"""Bulk import of users in Auth0's format (``manage.py import_users`` and the users-imports job).

The package, by step: ``reader`` (the file as a stream of users), ``validation`` (one user's schema, and reports
without secrets), ``writer`` (hashing, rows, inserts), ``conflicts`` (what becomes of users the unique constraints
turned away) and ``importer`` (``import_users``, which runs them batch by batch). Callers import from here.
"""

from users.imports.importer import (
    DEFAULT_BATCH_SIZE,
    ImportConnectionError,
    ImportSummary,
    check_import_connection,
    import_users,
)
from users.imports.reader import ImportFileError
from users.imports.validation import RejectedUser

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "ImportConnectionError",
    "ImportFileError",
    "ImportSummary",
    "RejectedUser",
    "check_import_connection",
    "import_users",
]
