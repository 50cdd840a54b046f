"""``manage.py run_jobs [--once] [--poll-interval S]``: run queued jobs (bulk user imports).

Run one or more beside the web servers, on any host sharing the database. SIGTERM or SIGINT stops the worker
between two batches; the job it was running goes back to pending for the next worker. Every line goes through
logging (logger ``jobs.worker``), so it carries the time, the process and the level as gunicorn's lines do
(``LOGGING`` in config/settings.py).
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from jobs.worker import Worker

logger = logging.getLogger("jobs.worker")


class Command(BaseCommand):
    help = "Run queued jobs (bulk user imports) until stopped, or with --once until none is waiting."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="run the waiting jobs, then exit")
        parser.add_argument(
            "--poll-interval",
            type=float,
            default=None,
            help="seconds between looks for work when idle (default JOBS_POLL_INTERVAL_SECONDS)",
        )

    def handle(self, *args: Any, once: bool = False, poll_interval: float | None = None, **options: Any) -> None:
        if poll_interval is not None and poll_interval <= 0:
            raise CommandError("--poll-interval must be positive")
        worker = Worker(poll_interval=poll_interval)
        previous: dict[signal.Signals, Any] = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                previous[sig] = signal.signal(sig, worker.stop)
        try:
            logger.info("worker %s running%s", worker.worker_id, " once" if once else "")
            ran = worker.run(once=once)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        logger.info("worker %s stopped after %s job(s)", worker.worker_id, ran)
