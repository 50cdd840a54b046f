"""Bulk import with and without one enabled event stream: what writing each batch's ``user.created`` events (one
outbox row and a task, ``events.outbox.emit``) in the batch's transaction costs the importer; and what fanning them
out into ``Event`` and ``Delivery`` rows costs the worker afterwards (``events.fanout.fan_out``).

    .venv/bin/python bench/import_stream_bench.py [--users 50000] [--rounds 2] [--db sqlite|postgres]

Imports the same generated file into fresh databases with the real ``manage.py import_users``, alternating
without and with a stream (``user.created`` to an address nothing listens on: no worker runs, so only the outbox
writes are measured), and prints users/s of each run, the best of each, their ratio, and the load average; after
each run with a stream, the fan-out's time and CPU per event (``fan_out`` in a child process, as the worker's first
step; on PostgreSQL its database backends' CPU is not included). Figures, not assertions.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from import_bench import fresh_database, run_import, write_users  # noqa: E402 (beside this file)

PYTHON = sys.executable


def add_stream(env: dict[str, str]) -> None:
    code = (
        "from core.actors import SYSTEM; from events.services import WebhookAuthorization, create_event_stream; "
        "create_event_stream(name='bench', subscriptions=['user.created'], "
        "webhook_endpoint='http://127.0.0.1:9/events', "
        "authorization=WebhookAuthorization(method='bearer', token='bench'), actor=SYSTEM)"
    )
    env = {**env, "EVENT_STREAMS_ALLOW_INSECURE_ENDPOINTS": "true"}
    subprocess.run([PYTHON, str(ROOT / "manage.py"), "shell", "-c", code], env=env, cwd=ROOT, check=True)


FAN_OUT = (
    "import time; from events.fanout import fan_out; from events.models import Delivery; "
    "w, c = time.perf_counter(), time.process_time(); n = fan_out(); "
    "print(n, Delivery.objects.count(), time.perf_counter() - w, time.process_time() - c)"
)


def fan_out(env: dict[str, str]) -> str:
    """Fan the outbox out in a child process; its events, deliveries, seconds and CPU per event."""
    done = subprocess.run(
        [PYTHON, str(ROOT / "manage.py"), "shell", "-c", FAN_OUT], env=env, cwd=ROOT, check=True, capture_output=True
    )
    events, deliveries, wall, cpu = done.stdout.split()[-4:]
    n = int(events) or 1
    return (
        f"fan-out: {int(events):,} events, {int(deliveries):,} deliveries in {float(wall):.1f} s "
        f"({float(wall) / n * 1e6:.0f} µs wall, {float(cpu) / n * 1e6:.0f} µs CPU per event)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="userdir-import-stream-"))
    path = work / "users.json"
    write_users(path, args.users)
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; {args.users:,} users, {args.db}")
    best: dict[bool, float] = {False: 0.0, True: 0.0}
    for _round in range(args.rounds):
        for stream in (False, True):
            env = fresh_database(args.db, tempfile.mkdtemp(prefix="userdir-import-stream-db-"))
            if stream:
                add_stream(env)
            result = run_import(env, path)
            best[stream] = max(best[stream], result["rate"])
            label = "one stream" if stream else "no stream "
            print(f"{label}: {result['rate']:>9,.0f} users/s ({result['inserted']:,} in {result['seconds']:.1f} s)")
            if stream:
                print(f"            {fan_out(env)}")
    print(f"best: {best[False]:,.0f} without, {best[True]:,.0f} with one stream = {best[True] / best[False]:.0%}")
    print(f"load average now: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
