"""Logging pieces the settings' ``LOGGING`` names (config is settings only, so they live here).

Django logs every response with a 4xx status as a WARNING of ``django.request`` ("Conflict: /api/v2/users"). Here
a 4xx is an answer the API gives on purpose (a duplicate's 409, a weak password's 400, a missing scope's 403, a
limit's 429), already in the access log with its status, so a WARNING for each one buries the warnings that
matter. ``ClientErrorsAreDebug`` turns them into DEBUG records, shown only with ``LOG_LEVEL=DEBUG``; 5xx stay
ERRORs. ``EndpointPathsHidden`` keeps webhook endpoints' paths and queries (which may carry tokens) out of urllib3's
records.
"""

from __future__ import annotations

import logging
import re


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
