"""The job worker behind ``manage.py run_jobs``: claims jobs, runs the importer on their stored file, keeps a
heartbeat, records the outcome, purges old jobs.

A worker that dies mid-job leaves it ``processing`` with a heartbeat that goes stale; after
``JOBS_STALE_AFTER_SECONDS`` another worker takes it over and runs the file again from the start, which the
importer makes safe (each batch commits on its own and users already present are skipped). A worker asked to
stop (SIGTERM/SIGINT) finishes the batch it is in, then hands the job back as pending.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connections
from django.utils.translation import gettext as _

from core.actors import Actor
from jobs.models import Job, JobStatus, WorkerHeartbeat
from jobs.report import error_report
from jobs.services import (
    abandon_job,
    beat,
    claim_job,
    fail_abandoned_jobs,
    finish_job,
    purge_finished_jobs,
    release_job,
)
from users.imports import ImportConnectionError, ImportFileError, ImportSummary, RejectedUser, import_users

logger = logging.getLogger(__name__)


_current: list[Worker] = []


@contextlib.contextmanager
def current_import_worker(worker: Worker) -> Iterator[None]:
    """Make ``worker`` the one ``stop_current_import`` stops while the block runs (the task worker's signal
    handler runs in the main thread, the import in the same one: a list is enough)."""
    _current.append(worker)
    try:
        yield
    finally:
        _current.remove(worker)


def stop_current_import() -> None:
    """Ask the running import (if any) to stop between two batches and hand its job back as pending."""
    for worker in list(_current):
        worker.stop()


def new_worker_id() -> str:
    """Unique per process and host, and readable in the admin: ``host:pid:random``, no longer than
    ``WorkerHeartbeat.worker_id`` holds, the host's name cut short when it is long. The whole id cut at that length
    lost the pid and the random part of a host named with 55 characters or more (a Kubernetes pod's name may have
    63), so two workers there had one id: each took the other's tasks for its own (``TaskWorker.release_strays``
    made a task the other was running ready again, and another worker ran it too)."""
    longest = WorkerHeartbeat._meta.get_field("worker_id").max_length
    assert longest is not None
    unique = f":{os.getpid()}:{uuid.uuid4().hex[:8]}"
    return socket.gethostname()[: longest - len(unique)] + unique


# The two below are plain exceptions, not DomainErrors: they are the worker's own control flow (raised through the
# importer and caught in ``_run`` a few lines up the stack), never a refusal a caller or a response could see.


class StopRequested(Exception):
    """Raised from the importer's progress callback, between batches, when the worker must stop."""


class JobLost(Exception):
    """Another worker took the job over (this one's heartbeat had gone stale): stop touching it."""


def _carried(previous: dict[str, int] | None, current: ImportSummary) -> dict[str, int]:
    """Auth0's summary for a run that may be a re-run: users inserted or updated by an earlier, interrupted
    run are skipped now, so their counts carry over from the progress that run recorded."""
    counts = current.as_auth0()
    previous = previous or {}
    counts["inserted"] += int(previous.get("inserted", 0))
    counts["updated"] += int(previous.get("updated", 0))
    return counts


def _log_crash(job_id: str, exc: BaseException) -> None:
    """The crash's type and where it happened, never its message: a database error quotes the data it refused
    (PostgreSQL's ``CONTEXT: JSON data, line 1: …``), which came from the users file. The traceback is the crash's,
    its last line a stand-in for the message (a log line's text is escaped to one line: ``core.logs``)."""
    withheld = Exception("the message is withheld: it may quote the users file")
    crash = (type(withheld), withheld, exc.__traceback__)
    logger.error("%s: the import crashed (%s)", job_id, type(exc).__name__, exc_info=crash)


class _Heartbeat(threading.Thread):
    """Refreshes ``heartbeat_at`` every ``interval`` seconds while the importer works (a batch may be long)."""

    def __init__(self, *, job_id: str, worker_id: str, interval: float) -> None:
        super().__init__(name=f"heartbeat-{job_id}", daemon=True)
        self.job_id, self.worker_id, self.interval = job_id, worker_id, interval
        self.done = threading.Event()
        self.lost = threading.Event()

    def run(self) -> None:
        try:
            while not self.done.wait(self.interval):
                try:
                    if not beat(job_id=self.job_id, worker_id=self.worker_id):
                        self.lost.set()
                        return
                except Exception:  # the database hiccuped: try again at the next beat
                    logger.warning("job %s: heartbeat failed", self.job_id, exc_info=True)
        finally:
            connections.close_all()  # this thread's own connection


class Worker:
    def __init__(
        self,
        *,
        worker_id: str | None = None,
        poll_interval: float | None = None,
        heartbeat_interval: float | None = None,
        report: Callable[[str], None] = logger.info,
    ) -> None:
        self.worker_id = worker_id or new_worker_id()
        self.poll_interval = settings.JOBS_POLL_INTERVAL_SECONDS if poll_interval is None else poll_interval
        self.heartbeat_interval = heartbeat_interval or settings.JOBS_HEARTBEAT_SECONDS
        self.report = report
        self.stopping = threading.Event()

    def stop(self, *_args: Any) -> None:
        """Signal handler: finish the current batch, hand the job back, exit."""
        self.stopping.set()

    def run(self, *, once: bool = False) -> int:
        """Work until stopped (or, with ``once``, until no job is waiting). Returns how many jobs it ran."""
        ran = 0
        while not self.stopping.is_set():
            close_old_connections()
            try:
                self.housekeeping()
                job = claim_job(worker_id=self.worker_id)
            except DatabaseError:  # the database is away: keep the worker, try again after a pause
                logger.warning("the job queue is unreachable", exc_info=True)
                if once:
                    raise
                self.stopping.wait(self.poll_interval)
                continue
            if job is not None:
                try:
                    self.run_job(job)
                except Exception as exc:  # one job's fault never stops the worker: retried, then given up
                    _log_crash(job.id, exc)
                    with contextlib.suppress(DatabaseError):
                        abandon_job(job_id=job.id, worker_id=self.worker_id)
                    self.report(f"{job.id}: its outcome could not be recorded ({type(exc).__name__})")
                ran += 1
                continue
            if once:
                break
            self.stopping.wait(self.poll_interval)
        return ran

    def housekeeping(self) -> None:
        purged = purge_finished_jobs()
        if purged:
            self.report(f"purged {purged} finished job(s)")
        given_up = fail_abandoned_jobs()
        if given_up:
            self.report(f"gave up {given_up} job(s) interrupted too many times")

    def run_job(self, job: Job) -> None:
        """Run one claimed job to its end (completed or failed), or hand it back when asked to stop."""
        self.report(f"{job.id}: started (attempt {job.attempts}, {len(job.users_file)} bytes)")
        previous = job.summary
        rejected: list[RejectedUser] = []
        heartbeat = _Heartbeat(job_id=job.id, worker_id=self.worker_id, interval=self.heartbeat_interval)

        def on_progress(summary: ImportSummary, bytes_read: int = 0) -> None:
            # Between batches: each batch is committed, so this is where stopping (or a lost claim) is safe.
            if heartbeat.lost.is_set() or not beat(
                job_id=job.id, worker_id=self.worker_id, summary=_carried(previous, summary), bytes_read=bytes_read
            ):
                raise JobLost()
            if self.stopping.is_set():
                raise StopRequested()

        heartbeat.start()
        try:
            summary = import_users(
                io.BytesIO(bytes(job.users_file)),
                connection=job.connection,
                actor=Actor(kind="client", id=job.created_by),
                upsert=job.upsert,
                on_reject=rejected.append,
                on_progress=on_progress,
            )
            outcome: BaseException | None = None
        except (StopRequested, JobLost, ImportFileError, ImportConnectionError) as exc:
            outcome = exc
        except Exception as exc:
            _log_crash(job.id, exc)
            outcome = exc
        finally:
            heartbeat.done.set()  # before anything below writes the job: no beat may follow
            heartbeat.join()

        if outcome is None:
            self._finish(job, JobStatus.COMPLETED, previous, summary, rejected, "")
        elif isinstance(outcome, StopRequested):
            release_job(job_id=job.id, worker_id=self.worker_id)
            self.report(f"{job.id}: stopped between batches, handed back as pending")
        elif isinstance(outcome, JobLost):
            self.report(f"{job.id}: taken over by another worker, left to it")
        elif isinstance(outcome, ImportFileError | ImportConnectionError):
            self._finish(job, JobStatus.FAILED, previous, None, rejected, outcome.message)
        else:
            # A bug or a lost database: the job stays processing with a stale heartbeat, so the next claim (by any
            # worker, this one included) runs it again; JOBS_MAX_ATTEMPTS bounds the retries.
            with contextlib.suppress(DatabaseError):
                abandon_job(job_id=job.id, worker_id=self.worker_id)
            self.report(f"{job.id}: crashed ({type(outcome).__name__}); left to be retried")

    def _finish(
        self,
        job: Job,
        status: JobStatus,
        previous: dict[str, int] | None,
        summary: ImportSummary | None,
        rejected: list[RejectedUser],
        failure: str,
    ) -> None:
        errors = error_report(rejected)
        counts = _carried(previous, summary) if summary is not None else previous
        try:
            finished = finish_job(
                job_id=job.id,
                worker_id=self.worker_id,
                status=status,
                summary=counts,
                errors=errors,
                failure_message=failure,
            )
        except DatabaseError as exc:
            # The report is built to be storable (users.imports.validation.reported_user); should a database still
            # refuse it, the job ends failed without it rather than stopping the worker or running again.
            _log_crash(job.id, exc)
            status, failure = JobStatus.FAILED, _("The job's error report could not be stored.")
            finished = finish_job(
                job_id=job.id,
                worker_id=self.worker_id,
                status=status,
                summary=counts,
                errors=[],
                failure_message=failure,
            )
        if finished:
            self.report(f"{job.id}: {status} {counts or ''} {failure}".rstrip())
        else:
            self.report(f"{job.id}: taken over by another worker before it finished; its outcome is not recorded")
