"""Logging pieces the settings' ``LOGGING`` names (config is settings only, so they live here).

Django logs every response with a 4xx status as a WARNING of ``django.request`` ("Conflict: /api/v2/users"). Here
a 4xx is an answer the API gives on purpose (a duplicate's 409, a weak password's 400, a missing scope's 403, a
limit's 429), already in the access log with its status, so a WARNING for each one buries the warnings that
matter. ``ClientErrorsAreDebug`` turns them into DEBUG records, shown only with ``LOG_LEVEL=DEBUG``; 5xx stay
ERRORs. ``EndpointPathsHidden`` keeps webhook endpoints' paths and queries (which may carry tokens) out of urllib3's
records. ``OneLineFormatter`` keeps a record's text from ending its line: what a request sent cannot forge a line
of the log.
"""

from __future__ import annotations

import logging
import re
import traceback
from types import TracebackType
from typing import TypeAlias

# What would end or disturb a log line: every C0 and C1 control character, DEL, and the Unicode line and paragraph
# separators (which some log viewers break lines at).
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")

_ExcInfo: TypeAlias = tuple[type[BaseException], BaseException, TracebackType | None] | tuple[None, None, None]


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_controls(value: str) -> str:
    """``value`` with each control character (and U+2028, U+2029) written as its escape (``\\x0a``, ``\\u2028``), as
    Django's own request log writes a path's."""
    return _UNSAFE.sub(_escaped, value)


class OneLineFormatter(logging.Formatter):
    """``logging.Formatter`` whose record text cannot end its line (``LOGGING``'s ``plain``; gunicorn's error log
    through ``core.access_log.AccessLogLogger``).

    A message carries what requests sent: Django's admin logs a refused filter as "Filtering by <the query's key>
    not allowed" (``django.security.DisallowedModelAdminLookup``), an exception's text quotes its input. A line feed
    in it wrote a line of the sender's choosing into the log (a forged ``[...] [INFO] ...`` record), a terminal's
    escape sequence reached whoever reads the log in one. The message and each exception's text in a traceback
    (and its notes, a SyntaxError's line and file name) have their control characters escaped (``escape_controls``),
    even where another handler's formatter wrote the traceback first; the traceback's own lines stay
    lines."""

    def format(self, record: logging.LogRecord) -> str:
        # ``logging.Formatter.format`` reuses a record's ``exc_text`` once any handler's formatter has written it:
        # another formatter's text (not escaped) would be written here as it is.
        if record.exc_info:
            record.exc_text = self.formatException(record.exc_info)
        return super().format(record)

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = escape_controls(record.message)
        return super().formatMessage(record)

    def formatException(self, ei: _ExcInfo) -> str:
        if ei[1] is None:
            return super().formatException(ei)
        described = traceback.TracebackException(type(ei[1]), ei[1], ei[2], compact=True)
        _escape_texts(described, set())
        return "".join(described.format()).rstrip("\n")


def _escape_texts(described: traceback.TracebackException, seen: set[int]) -> None:
    """Escape the exception text (CPython's ``_str``, what ``format_exception_only`` writes after the type) and the
    notes of ``described`` and of every exception chained to it or grouped in it."""
    if id(described) in seen:
        return
    seen.add(id(described))
    text = getattr(described, "_str", None)
    if isinstance(text, str):
        described._str = escape_controls(text)  # type: ignore[attr-defined]
    for name in ("msg", "text", "filename"):  # a SyntaxError's, written apart from ``_str``
        value = getattr(described, name, None)
        if isinstance(value, str):
            setattr(described, name, escape_controls(value))
    notes = getattr(described, "__notes__", None)
    if isinstance(notes, (list, tuple)):  # each note as traceback writes it (``str`` of a note that is not one)
        described.__notes__ = [escape_controls(_note_text(note)) for note in notes]
    for linked in (described.__cause__, described.__context__, *(getattr(described, "exceptions", None) or ())):
        if linked is not None:
            _escape_texts(linked, seen)


def _note_text(note: object) -> str:
    if isinstance(note, str):
        return note
    try:
        return str(note)
    except Exception:
        return "<note str() failed>"


class ClientErrorsAreDebug(logging.Filter):
    """On ``django.request``: a record about a 4xx response becomes DEBUG, and is dropped unless DEBUG is on."""

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if not isinstance(status, int) or not 400 <= status < 500:
            return True
        record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


class EndpointPathsHidden(logging.Filter):
    """On urllib3's loggers: a URL's path and query in a record's arguments become ``/…``. The event-stream worker
    sends to endpoints whose path or query may carry a token (``?token=...``, a Slack-style ``/services/T/B/key``),
    and urllib3 logs the whole URL: at WARNING when a receiver's headers do not parse ("Failed to parse headers
    (url=...)", which any receiver can cause, and the answer deadline does when it cuts trickling headers), at DEBUG
    for every request. The scheme, address and port stay."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_URL_PATH.sub(r"\1/…", arg) if isinstance(arg, str) else arg for arg in record.args)
        return True


# A URL (``scheme://authority/...``) or a bare path (``/...``) that is a whole argument: what follows the authority.
_URL_PATH = re.compile(r"^([a-z][a-z0-9+.-]*://[^/?#]*)?[/?#].*\Z", re.IGNORECASE | re.DOTALL)
