"""Every write to jobs: creating an import job (the API) and claiming, heart-beating, finishing, releasing and
purging jobs (the worker, ``manage.py run_jobs``).

A worker owns a job through conditional UPDATEs (``WHERE id = … AND claimed_by = … AND attempts = …``): the
database decides which of two workers wins, on SQLite and PostgreSQL alike, and a worker that lost its job
(taken over after its heartbeat went stale) can no longer write to it.

Raises: ``ConnectionNotFound`` (400 ``inexistent_connection``), ``ImportRejected`` (400, the importer's
connection check), ``TooManyActiveJobs`` (429 ``too_many_requests``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection as db_connection
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.models import EventType
from audit.services import record_event
from connections.errors import ConnectionNotFound
from connections.models import Connection
from core.actors import Actor
from jobs.errors import ImportRejected, TooManyActiveJobs
from jobs.models import ACTIVE_STATUSES, Job, JobStatus, JobType
from jobs.serializers import ImportUsersRequest
from users.imports import ImportConnectionError, check_import_connection

# Any constant both sides agree on: PostgreSQL serialises job creation on this advisory lock.
_CREATE_LOCK_KEY = 0x6A6F6273  # "jobs"


def _serialise_job_creation() -> None:
    """Count-then-insert is only safe when creations take turns. SQLite's IMMEDIATE transactions already
    take the write lock up front; PostgreSQL takes a transaction-scoped advisory lock."""
    if db_connection.vendor == "postgresql":
        with db_connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CREATE_LOCK_KEY])


def _locked_connection(connection_id: str) -> Connection:
    """The job's connection, its row locked for the caller's transaction; raises ``ConnectionNotFound``.

    FOR NO KEY UPDATE (creates of users in it go on): a deletion of the connection under way, which holds the row, is
    waited for and then seen, where the job's foreign key would fail at commit instead (an IntegrityError, a 500).
    """
    connection = Connection.objects.select_for_update(no_key=True).filter(pk=connection_id).first()
    if connection is None:
        raise ConnectionNotFound()
    return connection


@transaction.atomic
def create_import_job(*, request: ImportUsersRequest, actor: Actor) -> Job:
    """A pending ``users_import`` job holding the file, and its audit event, in one transaction."""
    connection = _locked_connection(request.connection_id)
    try:
        check_import_connection(connection)
    except ImportConnectionError as exc:
        raise ImportRejected(exc.message) from exc
    _serialise_job_creation()
    active = Job.objects.filter(status__in=ACTIVE_STATUSES).count()
    if active >= settings.JOBS_MAX_ACTIVE:
        raise TooManyActiveJobs(active)
    job = Job.objects.create(
        type=JobType.USERS_IMPORT,
        connection=connection,
        connection_name=connection.name,
        upsert=request.upsert,
        external_id=request.external_id,
        send_completion_email=request.send_completion_email,
        users_file=request.users,
        file_size=len(request.users),
        file_name=request.file_name,
        created_by=actor.id,
    )
    record_event(
        type=EventType.SUCCESS_API_OPERATION,
        description="Create import users job",
        actor=actor,
        connection_name=connection.name,
        connection_id=connection.id,
        details={"job_id": job.id, "upsert": job.upsert, "external_id": job.external_id, "bytes": len(request.users)},
    )
    return job


@transaction.atomic
def record_verification_email_job(*, connection: Connection, actor: Actor) -> Job:
    """The ``verification_email`` job of a verification e-mail just sent: completed, so no worker takes it, and kept
    (until ``JOBS_RETENTION_SECONDS``, as any finished job) so that ``GET /api/v2/jobs/{id}`` finds the id the
    answer named, as Auth0's "Resend Verification Emails" has scripts check it.

    Raises ``ConnectionNotFound`` when the connection was deleted (or marked for deletion) since the caller read it
    (``_locked_connection``).
    """
    locked = _locked_connection(connection.pk)
    return Job.objects.create(
        type=JobType.VERIFICATION_EMAIL,
        status=JobStatus.COMPLETED,
        connection=locked,
        connection_name=locked.name,
        users_file=b"",
        send_completion_email=False,
        created_by=actor.id,
        finished_at=timezone.now(),
    )


def _stale_before(now: datetime) -> datetime:
    return now - timedelta(seconds=settings.JOBS_STALE_AFTER_SECONDS)


def fail_abandoned_jobs(*, now: datetime | None = None) -> int:
    """Jobs whose workers died ``JOBS_MAX_ATTEMPTS`` times are given up (failed) rather than retried forever.

    Their file goes at once, as a finished job's does: it may hold plain passwords."""
    now = now or timezone.now()
    return Job.objects.filter(
        status=JobStatus.PROCESSING, heartbeat_at__lt=_stale_before(now), attempts__gte=settings.JOBS_MAX_ATTEMPTS
    ).update(
        users_file=b"",
        status=JobStatus.FAILED,
        finished_at=now,
        claimed_by="",
        failure_message=_("The job was interrupted too many times and was given up."),
    )


def claim_job(*, worker_id: str, now: datetime | None = None) -> Job | None:
    """Take the oldest pending job, or a processing one whose worker stopped beating; ``None`` when there is none.

    The UPDATE only matches the row as it was read (same status, owner and attempt count): of two workers
    reading the same candidate, exactly one changes it; the other moves on to the next candidate.
    """
    now = now or timezone.now()
    claimable = Job.objects.filter(
        Q(status=JobStatus.PENDING)
        | Q(
            status=JobStatus.PROCESSING,
            heartbeat_at__lt=_stale_before(now),
            attempts__lt=settings.JOBS_MAX_ATTEMPTS,
        )
    ).order_by("created_at", "id")
    for candidate in claimable.values("id", "status", "claimed_by", "attempts")[:10]:
        won = Job.objects.filter(
            id=candidate["id"],
            status=candidate["status"],
            claimed_by=candidate["claimed_by"],
            attempts=candidate["attempts"],
        ).update(
            status=JobStatus.PROCESSING,
            claimed_by=worker_id,
            heartbeat_at=now,
            started_at=now,
            bytes_read=0,
            attempts=F("attempts") + 1,
        )
        if won:
            return Job.objects.get(pk=candidate["id"])
    return None


def _owned(job_id: str, worker_id: str) -> Any:
    return Job.objects.filter(id=job_id, status=JobStatus.PROCESSING, claimed_by=worker_id)


def beat(*, job_id: str, worker_id: str, summary: dict[str, int] | None = None, bytes_read: int | None = None) -> bool:
    """Prove the worker is alive (and record progress); ``False`` when the job is no longer this worker's."""
    values: dict[str, Any] = {"heartbeat_at": timezone.now()}
    if summary is not None:
        values["summary"] = summary
    if bytes_read is not None:
        values["bytes_read"] = bytes_read
    return bool(_owned(job_id, worker_id).update(**values))


def finish_job(
    *,
    job_id: str,
    worker_id: str,
    status: JobStatus,
    summary: dict[str, int] | None,
    errors: list[dict[str, Any]],
    failure_message: str = "",
) -> bool:
    """Completed or failed, with its outcome; ``False`` when another worker had taken the job over.

    The file goes: it may hold plain passwords, and nothing reads it once the job is finished."""
    return bool(
        _owned(job_id, worker_id).update(
            users_file=b"",
            status=status,
            summary=summary,
            errors=errors,
            failure_message=failure_message,
            finished_at=timezone.now(),
            claimed_by="",
        )
    )


def release_job(*, job_id: str, worker_id: str) -> bool:
    """Back to pending (a worker asked to stop): the next worker re-runs it from the start, which the importer
    makes safe. Its progress stays, so the final summary still counts what this run inserted."""
    return bool(_owned(job_id, worker_id).update(status=JobStatus.PENDING, claimed_by="", heartbeat_at=None))


def abandon_job(*, job_id: str, worker_id: str) -> bool:
    """The run crashed: mark the heartbeat stale at once, so the next claim retries it without waiting
    (``JOBS_MAX_ATTEMPTS`` still bounds the retries)."""
    long_ago = timezone.now() - timedelta(seconds=settings.JOBS_STALE_AFTER_SECONDS + 1)
    return bool(_owned(job_id, worker_id).update(heartbeat_at=long_ago))


def purge_finished_jobs(*, now: datetime | None = None) -> int:
    """Delete jobs finished more than ``JOBS_RETENTION_SECONDS`` ago (Auth0 keeps job data for 24 hours)."""
    now = now or timezone.now()
    deleted, _by_model = Job.objects.filter(
        finished_at__lt=now - timedelta(seconds=settings.JOBS_RETENTION_SECONDS)
    ).delete()
    return deleted
