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

# What no access line may write, whatever ``--access-logformat`` says: a ticket link (``/lo/reset?ticket=...``,
# ``/u/email-verification?ticket=...``) or an address (``?email=``) is in the query, a page's link followed from another
# site in the Referer, credentials in Authorization and Cookie (the reset page's signed ticket cookie). gunicorn's
# default format writes ``%(r)s``, the request line with its query, and ``%(f)s``, the Referer: a server started as the
# README's production paragraph says (``--access-logfile`` and this logger class, no format) logged each reset link.
_WITHOUT_QUERY = frozenset({"r", "{raw_uri}e", "{request_uri}e"})
_HIDDEN = frozenset(
    {
        "q",
        "f",
        "{referer}i",
        "{authorization}i",
        "{cookie}i",
        "{set-cookie}o",
        "{query_string}e",
        "{http_referer}e",
        "{http_authorization}e",
        "{http_cookie}e",
    }
)


def _without_query(value: str) -> str:
    """A request line (``GET /path?query HTTP/1.1``) or a target without its query."""
    target, mark, rest = value.partition("?")
    if not mark:
        return value
    _query, space, protocol = rest.rpartition(" ")
    return f"{target} {protocol}" if space else target


class AccessLogAtoms(SafeAtoms):
    """gunicorn's atoms of one access-log line, their text with control characters escaped, and none of them
    carrying a query string, a Referer or a credential (``_HIDDEN``: written ``-``)."""

    def __init__(self, atoms: dict[str, Any]) -> None:
        kept = {}
        for key, value in atoms.items():
            if key in _HIDDEN:
                value = "-"
            elif key in _WITHOUT_QUERY and isinstance(value, str):
                value = _without_query(value)
            kept[key] = escape_controls(value) if isinstance(value, str) else value
        super().__init__(kept)


class AccessLogLogger(Logger):
    """gunicorn's logger, but for the escaping of the access log's values, and its error log's records written by
    ``core.logs.OneLineFormatter`` (gunicorn's messages quote what a client sent: "Error handling request <its
    path>")."""

    atoms_wrapper_class = AccessLogAtoms

    def exception(self, msg: str, *args: Any, **kwargs: Any) -> None:
        """gunicorn's "Error handling request <method> <target>" (an exception that escaped the application) without
        the target's query: a reset link's ticket is a secret for days, and the error log keeps it as the access
        log would (``_HIDDEN`` above)."""
        if msg.startswith("Error handling request"):
            args = tuple(_without_query(arg) if isinstance(arg, str) else arg for arg in args)
        super().exception(msg, *args, **kwargs)

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for handler in self.error_log.handlers:
            if getattr(handler, "_gunicorn", False):  # gunicorn's own (``--error-logfile``), not a log config's
                handler.setFormatter(OneLineFormatter(self.error_fmt, self.datefmt))
