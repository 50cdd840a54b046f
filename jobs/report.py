"""The error report of an import job (``Job.errors``), which ``GET /api/v2/jobs/{id}/errors`` answers as stored.

Auth0's shape: an array of ``{"user": {...}, "errors": [{"code", "message", "path"}]}``, one entry per refused
user in file order, the user "as provided in the import file" (here without its secrets:
``users.imports.validation.reported_user``). Auth0 documents no limit on it; this service bounds it as stored
(``core.jsonsize``, so as PostgreSQL writes it back: ``1e308``, six bytes in the file, reads back as 309 digits),
whatever the file:

1. An entry larger as stored than ``MAX_REQUEST_BODY_BYTES`` keeps all its errors, but its user is shown by its
   identifying fields only (``user_id``, ``email``, ``username``, ``phone_number``, each when it is a text of at
   most ``IDENTIFIER_MAX_CHARS`` characters), and one more error, ``REPORT_USER_SHORTENED``, says so. On PostgreSQL
   a user of 80,000 ``1e308`` (a 480 KB file) was stored, and answered, as 24.8 MB.
2. The whole report stores at most ``REPORT_SIZE_FACTOR`` times ``MAX_REQUEST_BODY_BYTES``: once the next entry
   would pass that, it and every later one are left out, and a last entry ``{"user": {}, "errors": [...]}`` with
   ``REPORT_TRUNCATED`` says how many were (the job's ``summary.failed`` counts them all). A file of 170,000
   lines ``{}`` (510 KB) was a report of 18.7 MB on every database.

A report within both bounds is kept exactly as before. ``manage.py import_users --rejects`` writes its own file,
without these bounds: it is the operator's own copy of the input (Python writes ``1e308`` back as ``1e+308``),
meant to be fixed and imported again, so it keeps each user whole.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _

from core.jsonsize import stored_json_size
from jobs.errors import JobErrorCode
from users.imports import RejectedUser

# What identifies a user of the file (what Auth0 matches on in an import: e-mail, user_id, username, phone number).
IDENTIFYING_FIELDS = ("user_id", "email", "username", "phone_number")
# Longer than any of them may be (an e-mail: 320), short enough that a shortened entry is small.
IDENTIFIER_MAX_CHARS = 1024
REPORT_SIZE_FACTOR = 4
# Room kept for the closing REPORT_TRUNCATED entry (its message is about 200 bytes in any language).
_CLOSING_ROOM = 1024


def error_report(rejected: Iterable[RejectedUser]) -> list[dict[str, Any]]:
    """Auth0's job error entries for ``rejected`` (in file order), within the two bounds of this module."""
    entry_limit = settings.MAX_REQUEST_BODY_BYTES
    report_limit = REPORT_SIZE_FACTOR * settings.MAX_REQUEST_BODY_BYTES
    report: list[dict[str, Any]] = []
    used = 2  # "[]"
    ordered = sorted(rejected, key=lambda r: r.index)
    for position, user in enumerate(ordered):
        entry = user.as_auth0()
        size = stored_json_size(entry)
        if size > entry_limit:
            entry = _shortened(user, size, entry_limit)
            size = stored_json_size(entry)
        if used + size + 1 > report_limit - _CLOSING_ROOM:
            report.append(_closing(len(ordered) - position, report_limit))
            break
        report.append(entry)
        used += size + 1  # and its comma
    return report


def _shortened(user: RejectedUser, size: int, limit: int) -> dict[str, Any]:
    shown = user.user if isinstance(user.user, dict) else {}
    identifying = {
        key: shown[key]
        for key in IDENTIFYING_FIELDS
        if isinstance(shown.get(key), str) and len(shown[key]) <= IDENTIFIER_MAX_CHARS
    }
    message = _(
        "The user is shown by its identifying fields only: as stored it would take %(size)s bytes, more than the "
        "%(maximum)s bytes an error report keeps of one user."
    ) % {"size": size, "maximum": limit}
    error = {"code": JobErrorCode.REPORT_USER_SHORTENED, "message": message, "path": ""}
    return {"user": identifying, "errors": [*user.errors, error]}


def _closing(left_out: int, limit: int) -> dict[str, Any]:
    message = _(
        "%(count)s more refused users are not shown: an error report keeps at most %(maximum)s bytes. The job's "
        "summary counts every refused user."
    ) % {"count": left_out, "maximum": limit}
    return {"user": {}, "errors": [{"code": JobErrorCode.REPORT_TRUNCATED, "message": message, "path": ""}]}
