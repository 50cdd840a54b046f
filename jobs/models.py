"""Long-running jobs (Auth0's bulk user imports): the request as received, its progress and its outcome; and the
record of each verification e-mail sent through ``POST /api/v2/jobs/verification-email``, which ``GET
/api/v2/jobs/{id}`` reads back as Auth0 documents ("Check job status").

The uploaded file is kept in the row itself (at most ``MAX_REQUEST_BODY_BYTES``), so a job survives a restart
and any worker on any host can run it. A worker owns a job while ``claimed_by`` names it and its
``heartbeat_at`` is fresh; a job whose heartbeat went stale is taken over by another worker.
"""

from __future__ import annotations

from datetime import datetime

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from connections.models import CONNECTION_NAME_MAX_LENGTH, Connection, prefixed_id


def new_job_id() -> str:
    """``job_`` + 16 alphanumerics, Auth0's job id format."""
    return prefixed_id("job")


class JobType(models.TextChoices):
    USERS_IMPORT = "users_import", _("Users import")
    # Finished when created (the mail is sent before the answer): no file, no worker; kept for GET /jobs/{id}.
    VERIFICATION_EMAIL = "verification_email", _("Verification e-mail")


class JobStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    PROCESSING = "processing", _("Processing")
    COMPLETED = "completed", _("Completed")
    FAILED = "failed", _("Failed")


ACTIVE_STATUSES = (JobStatus.PENDING, JobStatus.PROCESSING)
FINISHED_STATUSES = (JobStatus.COMPLETED, JobStatus.FAILED)


class Job(models.Model):
    id = models.CharField(verbose_name=_("id"), primary_key=True, max_length=20, default=new_job_id, editable=False)
    type = models.CharField(verbose_name=_("type"), max_length=32, choices=JobType.choices)
    status = models.CharField(
        verbose_name=_("status"), max_length=16, choices=JobStatus.choices, default=JobStatus.PENDING
    )
    connection = models.ForeignKey(
        Connection, verbose_name=_("connection"), on_delete=models.CASCADE, related_name="jobs"
    )
    # The name as it was when the job was created: what Auth0 answers as ``connection``.
    connection_name = models.CharField(verbose_name=_("connection name"), max_length=CONNECTION_NAME_MAX_LENGTH)
    upsert = models.BooleanField(verbose_name=_("upsert"), default=False)
    external_id = models.CharField(verbose_name=_("external id"), max_length=255, blank=True)
    send_completion_email = models.BooleanField(verbose_name=_("send completion e-mail"), default=True)
    users_file = models.BinaryField(verbose_name=_("users file"))
    file_name = models.CharField(verbose_name=_("file name"), max_length=255, blank=True)
    # The file is emptied once the job is finished (it may hold plain passwords); its size stays.
    file_size = models.PositiveIntegerField(verbose_name=_("file size (bytes)"), default=0)
    # How far the current run has read the file: Auth0's percentage_done and time_left_seconds.
    bytes_read = models.PositiveIntegerField(verbose_name=_("bytes read"), default=0)
    # {"failed", "updated", "inserted", "total"}: progress while processing, the outcome once finished.
    summary = models.JSONField(verbose_name=_("summary"), null=True, blank=True)
    # Auth0's job error objects: [{"user": {...}, "errors": [{"code", "message", "path"}]}], in file order.
    # Bounded as stored (jobs.report): an over-large user shown by its identifying fields, a long report cut short.
    errors = models.JSONField(verbose_name=_("errors"), default=list, blank=True)
    failure_message = models.TextField(verbose_name=_("failure message"), blank=True)
    created_by = models.CharField(verbose_name=_("created by"), max_length=255)
    created_at = models.DateTimeField(verbose_name=_("created at"), auto_now_add=True)
    # When the latest run (the first, or a take-over) started.
    started_at = models.DateTimeField(verbose_name=_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(verbose_name=_("finished at"), null=True, blank=True)
    claimed_by = models.CharField(verbose_name=_("claimed by"), max_length=255, blank=True)
    heartbeat_at = models.DateTimeField(verbose_name=_("heartbeat at"), null=True, blank=True)
    attempts = models.PositiveIntegerField(verbose_name=_("attempts"), default=0)

    class Meta:
        verbose_name = _("job")
        verbose_name_plural = _("jobs")
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "created_at"], name="jobs_job_status_created"),
            models.Index(fields=["finished_at"], name="jobs_job_finished_at"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(id__startswith="job_"), name="jobs_job_id_prefix"),
            models.CheckConstraint(condition=Q(type__in=JobType.values), name="jobs_job_type_valid"),
            models.CheckConstraint(condition=Q(status__in=JobStatus.values), name="jobs_job_status_valid"),
            # Finished exactly when completed or failed.
            models.CheckConstraint(
                condition=Q(status__in=FINISHED_STATUSES, finished_at__isnull=False)
                | Q(status__in=ACTIVE_STATUSES, finished_at__isnull=True),
                name="jobs_job_finished_when_done",
            ),
            # A job being processed always names its worker and carries a heartbeat.
            models.CheckConstraint(
                condition=~Q(status=JobStatus.PROCESSING) | (~Q(claimed_by="") & Q(heartbeat_at__isnull=False)),
                name="jobs_job_processing_claimed",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.id} {self.type} {self.status}"

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_STATUSES

    def progress(self, now: datetime) -> tuple[int, int | None]:
        """Percentage of the file read by the current run, and the seconds left at its pace (None: unknown)."""
        if not self.file_size or not self.bytes_read:
            return 0, None
        percentage = min(100, self.bytes_read * 100 // self.file_size)
        if self.heartbeat_at is None or self.started_at is None:
            return percentage, None
        elapsed = max((self.heartbeat_at - self.started_at).total_seconds(), 0.0)
        left = elapsed * (self.file_size - self.bytes_read) / self.bytes_read
        return percentage, max(0, round(left - max((now - self.heartbeat_at).total_seconds(), 0.0)))


class WorkerHeartbeat(models.Model):
    """A running ``run_jobs`` worker, as last seen: how a task left ``RUNNING`` by a worker that died (SIGKILL, a
    lost host) is told from one still running — django-tasks-db records which worker took a task but keeps no
    liveness (``jobs.taskworker.recover_orphaned_tasks``)."""

    worker_id = models.CharField(verbose_name=_("worker id"), primary_key=True, max_length=64)
    started_at = models.DateTimeField(verbose_name=_("started at"))
    seen_at = models.DateTimeField(verbose_name=_("seen at"))

    class Meta:
        verbose_name = _("worker heartbeat")
        verbose_name_plural = _("worker heartbeats")
        indexes = [models.Index(fields=["seen_at"], name="jobs_workerheartbeat_seen_at")]

    def __str__(self) -> str:
        return f"{self.worker_id} seen {self.seen_at:%Y-%m-%dT%H:%M:%S}"
