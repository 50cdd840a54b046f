"""gunicorn's access log with every control character of a request escaped (``serve.sh``: ``--logger-class
core.access_log.AccessLogLogger``).

gunicorn writes the request's values as they came: its path decoded (``%(U)s``, ``/api/v2/event-streams/%0D%0A...``
is a carriage return and a line feed), its query, its headers. Anyone, without a token, could so end a line of the
access log and write one of their own after it (a forged ``... "DELETE /api/v2/users/..." 204``), or send a terminal
its escape sequences. Here each C0 or C1 control character, DEL and the Unicode line and paragraph separators become
``\\xNN`` / ``\\uNNNN``, as Django's own request log writes them; gunicorn's escaping of ``"`` stays.
"""

from __future__ import annotations

import re
from typing import Any

from gunicorn.glogging import Logger, SafeAtoms

_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_controls(value: str) -> str:
    """``value`` with each control character (and U+2028, U+2029) written as its escape."""
    return _UNSAFE.sub(_escaped, value)


class AccessLogAtoms(SafeAtoms):
    """gunicorn's atoms of one access-log line, their text with control characters escaped."""

    def __init__(self, atoms: dict[str, Any]) -> None:
        super().__init__({key: escape_controls(v) if isinstance(v, str) else v for key, v in atoms.items()})


class AccessLogLogger(Logger):
    """gunicorn's logger, but for the escaping of the access log's values."""

    atoms_wrapper_class = AccessLogAtoms
