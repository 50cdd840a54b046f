"""The jobs app's task: running the queued import jobs, on the Tasks framework's worker (``manage.py run_jobs``).

The import machinery keeps its own claims and heartbeats (``jobs.services``): a job taken over after its worker
died resumes from the file's start, which the importer makes safe. The task is the trigger, enqueued by the
worker's housekeeping (``jobs.taskworker``) every ``JOBS_POLL_INTERVAL_SECONDS`` while a job is waiting without
one — as often as the worker looked for jobs before.
"""

from __future__ import annotations

from core.tasks import task
from jobs.worker import Worker, current_import_worker


@task()
def run_import_jobs() -> int:
    """Run the waiting import jobs (pending, or processing with a stale heartbeat) until none is left; returns
    how many ran. A stop asked of the worker (SIGTERM) hands the current job back between batches."""
    worker = Worker()
    with current_import_worker(worker):
        return worker.run(once=True)
