"""Logging pieces the settings' ``LOGGING`` names (config is settings only, so they live here).

Django logs every response with a 4xx status as a WARNING of ``django.request`` ("Conflict: /api/v2/users"). Here
a 4xx is an answer the API gives on purpose (a duplicate's 409, a weak password's 400, a missing scope's 403, a
limit's 429), already in the access log with its status, so a WARNING for each one buries the warnings that
matter. ``ClientErrorsAreDebug`` turns them into DEBUG records, shown only with ``LOG_LEVEL=DEBUG``; 5xx stay
ERRORs.
"""

from __future__ import annotations

import logging


class ClientErrorsAreDebug(logging.Filter):
    """On ``django.request``: a record about a 4xx response becomes DEBUG, and is dropped unless DEBUG is on."""

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if not isinstance(status, int) or not 400 <= status < 500:
            return True
        record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
