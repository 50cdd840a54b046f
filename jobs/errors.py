"""Errors of the jobs API: stable codes, Auth0's messages."""

from __future__ import annotations

from enum import StrEnum

from django.utils.translation import gettext_lazy as _

from core.errors import DomainError, ErrorCode


class JobErrorCode(StrEnum):
    """The codes this app answers with: ``errorCode`` values and its own field codes."""

    INVALID_BODY = ErrorCode.INVALID_BODY
    INEXISTENT_JOB = "inexistent_job"
    TOO_MANY_JOBS = ErrorCode.TOO_MANY_REQUESTS
    PAYLOAD_TOO_LARGE = ErrorCode.PAYLOAD_TOO_LARGE
    # Field codes of ``POST /api/v2/jobs/users-imports``.
    EMPTY_FILE = "EMPTY_FILE"
    INVALID_TEXT = "INVALID_TEXT"
    # This service's own codes in a job's error report (``jobs.report``), which Auth0 bounds nowhere: a user shown by
    # its identifying fields only, and the last entry of a report that leaves later users out.
    REPORT_USER_SHORTENED = "REPORT_USER_SHORTENED"
    REPORT_TRUNCATED = "REPORT_TRUNCATED"


class JobNotFound(DomainError):
    status = 404
    code = JobErrorCode.INEXISTENT_JOB
    default_message = _("The job does not exist.")


class TooManyActiveJobs(DomainError):
    """Auth0 runs at most two import jobs per tenant at once (``JOBS_MAX_ACTIVE``)."""

    status = 429
    code = JobErrorCode.TOO_MANY_JOBS

    def __init__(self, active: int) -> None:
        super().__init__(
            _("There are %(count)s active import users jobs, please wait until some of them are finished and try again")
            % {"count": active}
        )


class ImportRejected(DomainError):
    """The request names a connection the importer cannot write to (``ImportConnectionError``)."""

    status = 400
    code = JobErrorCode.INVALID_BODY


class UsersFileTooLarge(DomainError):
    status = 413
    code = JobErrorCode.PAYLOAD_TOO_LARGE

    def __init__(self, limit: int) -> None:
        super().__init__(_("Payload content length greater than maximum allowed: %(limit)s") % {"limit": limit})
