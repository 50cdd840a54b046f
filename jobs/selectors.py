"""Reads of jobs shared by the API views."""

from __future__ import annotations

from jobs.errors import JobNotFound
from jobs.models import Job


def get_job(*, job_id: str) -> Job:
    """The job called ``job_id``, its file left unread; raises ``JobNotFound`` (404 ``inexistent_job``)."""
    job = Job.objects.defer("users_file").filter(pk=job_id).first()
    if job is None:
        raise JobNotFound()
    return job
