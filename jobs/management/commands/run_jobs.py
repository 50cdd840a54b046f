"""``manage.py run_jobs [--once] [--poll-interval S]``: the background worker — every queued task (event
deliveries, e-mails, bulk user imports) on Django's Tasks framework (``jobs.taskworker``).

Run one or more beside the web servers, on any host sharing the database. SIGTERM or SIGINT stops the worker after
its current task (an import hands its job back between two batches); a second signal stops it at once. Every
line goes through logging (logger ``jobs.worker``), so it carries the time, the process and the level as
gunicorn's lines do (``LOGGING`` in config/settings.py).
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from jobs.taskworker import TaskWorker
from jobs.worker import new_worker_id

logger = logging.getLogger("jobs.worker")


class Command(BaseCommand):
    help = "Run queued tasks (event deliveries, e-mails, user imports) until stopped, or with --once until none waits."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="Run the ready tasks, then exit.")
        parser.add_argument(
            "--poll-interval",
            type=float,
            default=None,
            help="Seconds between looks for ready tasks when idle (default: TASKS_POLL_INTERVAL_SECONDS).",
        )

    def handle(self, *args: Any, once: bool = False, poll_interval: float | None = None, **options: Any) -> None:
        if poll_interval is not None and poll_interval <= 0:
            raise CommandError("--poll-interval must be positive")
        interval = settings.TASKS_POLL_INTERVAL_SECONDS if poll_interval is None else poll_interval
        worker = TaskWorker(worker_id=new_worker_id(), interval=interval, batch=once)
        previous: dict[signal.Signals, Any] = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                previous[sig] = signal.signal(sig, worker.shutdown)
        try:
            logger.info("worker %s running%s", worker.worker_id, " once" if once else "")
            worker.run()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        logger.info("worker %s stopped after %s task(s)", worker.worker_id, worker._run_tasks)
