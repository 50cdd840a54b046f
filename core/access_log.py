"""gunicorn's access log with every control character of a request escaped (``serve.sh``: ``--logger-class
core.access_log.AccessLogLogger``).

gunicorn writes the request's values as they came: its path decoded (``%(U)s``, ``/api/v2/event-streams/%0D%0A...``
is a carriage return and a line feed), its query, its headers. Anyone, without a token, could so end a line of the
access log and write one of their own after it (a forged ``... "DELETE /api/v2/users/..." 204``), or send a terminal
its escape sequences. Here each C0 or C1 control character, DEL and the Unicode line and paragraph separators become
``\\xNN`` / ``\\uNNNN``, as Django's own request log writes them; gunicorn's escaping of ``"`` stays.
"""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger, SafeAtoms

from core.logs import OneLineFormatter, escape_controls


class AccessLogAtoms(SafeAtoms):
    """gunicorn's atoms of one access-log line, their text with control characters escaped."""

    def __init__(self, atoms: dict[str, Any]) -> None:
        super().__init__({key: escape_controls(v) if isinstance(v, str) else v for key, v in atoms.items()})


class AccessLogLogger(Logger):
    """gunicorn's logger, but for the escaping of the access log's values, and its error log's records written by
    ``core.logs.OneLineFormatter`` (gunicorn's messages quote what a client sent: "Error handling request <its
    path>")."""

    atoms_wrapper_class = AccessLogAtoms

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for handler in self.error_log.handlers:
            if getattr(handler, "_gunicorn", False):  # gunicorn's own (``--error-logfile``), not a log config's
                handler.setFormatter(OneLineFormatter(self.error_fmt, self.datefmt))
