"""The worker's CPU per create, in-process: what ``manage.py run_jobs`` spends on one create's tasks.

    .venv/bin/python bench/profile_worker.py [--count 300] [--no-stream] [--no-mail] [--interleaved] [--profile]

Creates ``--count`` users through ``POST /api/v2/users`` (Django's test client, cost-4 bcrypt, a fresh SQLite file
or ``BENCH_DATABASE_URL``) with one enabled event stream subscribed to ``user.created`` whose endpoint is a local
HTTP receiver in this process, and the verification mail on (console backend, to /dev/null); then runs the worker
once over the queued tasks (``run_jobs --once``'s loop) and prints its CPU time per create, the tasks it ran and
the events the receiver got. ``--interleaved`` runs the ready tasks after each create instead (an idle worker
that takes each create's tasks at once: nothing to coalesce), counting the worker's CPU only. ``--profile``
prints the hottest functions (cProfile). Figures, not assertions.
"""

from __future__ import annotations

import argparse
import contextlib
import http.server
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from profile_create import setup  # noqa: E402 (beside this file)


class _Receiver(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as receivers commonly allow
    received = 0

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        type(self).received += 1
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--no-stream", action="store_true")
    parser.add_argument("--no-mail", action="store_true")
    parser.add_argument("--interleaved", action="store_true", help="run the ready tasks after each create")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    setup(4)

    from django.conf import settings
    from django.test import Client as HttpClient

    from clients.services import create_client
    from clients.tokens import issue_token
    from connections.services import create_connection
    from core.actors import SYSTEM
    from events.services import WebhookAuthorization, create_event_stream
    from jobs.taskworker import TaskWorker

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    create_connection(name="Username-Password-Authentication", strategy="auth0", actor=SYSTEM)
    if not args.no_stream:
        settings.EVENT_STREAMS_ALLOW_INSECURE_ENDPOINTS = True
        create_event_stream(
            name="bench",
            subscriptions=["user.created"],
            webhook_endpoint=f"http://127.0.0.1:{server.server_address[1]}/events",
            authorization=WebhookAuthorization(method="bearer", token="bench"),  # noqa: S106 (a bench token)
            actor=SYSTEM,
        )
    client, _secret = create_client(name="bench", scopes=["create:users"], connections=[], actor=SYSTEM)
    http_client = HttpClient(
        HTTP_AUTHORIZATION=f"Bearer {issue_token(client_id=client.client_id, scopes=['create:users'])}",
        HTTP_HOST="127.0.0.1",
    )
    from django_tasks_db.models import DBTaskResult

    worker = TaskWorker(worker_id="bench", interval=0.05, batch=True)
    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
    extra = ',"verify_email":false' if args.no_mail else ""
    tasks = wall = cpu = 0.0
    for n in range(args.count):
        body = (
            '{"connection":"Username-Password-Authentication",'
            f'"email":"w{n}@example.com","password":"Str0ng!Passw0rd"{extra}}}'
        )
        response = http_client.post("/api/v2/users", body, content_type="application/json")
        assert response.status_code == 201, response.content
        if args.interleaved:
            tasks += DBTaskResult.objects.filter(status="READY").count()
            took = _run_ready(worker, profiler)
            wall, cpu = wall + took[0], cpu + took[1]
    if not args.interleaved:
        tasks = DBTaskResult.objects.count()
        wall, cpu = _run_ready(worker, profiler)
    if profiler is not None:
        import pstats

        pstats.Stats(profiler).sort_stats(os.environ.get("PROFILE_SORT", "cumulative")).print_stats(50)
    print(f"database: {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}")
    print(f"{args.count} creates queued {tasks:.0f} tasks; the receiver got {_Receiver.received} events")
    print(
        f"worker: {wall:.2f} s wall, {cpu:.2f} s CPU = {cpu * 1000 / args.count:.2f} ms CPU per create "
        "(the receiver's thread included)"
    )
    server.shutdown()


def _run_ready(worker: Any, profiler: Any) -> tuple[float, float]:
    """Run the ready tasks as ``run_jobs --once`` does, but for the heartbeat and the housekeeping (a running
    worker pays those per period, not per task); returns the wall and CPU seconds."""
    wall, cpu = time.perf_counter(), time.process_time()
    if profiler is not None:
        profiler.enable()
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
        while (task_result := worker.claim_next()) is not None:
            worker.run_task(task_result)
    if profiler is not None:
        profiler.disable()
    return time.perf_counter() - wall, time.process_time() - cpu


if __name__ == "__main__":
    main()
