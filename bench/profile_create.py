"""In-process creates through the whole Django stack (middleware, DRF, service, renderer), no server.

    .venv/bin/python bench/profile_create.py [--count N] [--rounds 4] [--operator] [--profile cprofile|pyinstrument]
    .venv/bin/python bench/profile_create.py --instructions [--count 500] [--stream] [--no-mail]

Runs ``POST /api/v2/users`` N times with Django's test client on a fresh SQLite file (or ``BENCH_DATABASE_URL``)
and prints the wall and CPU milliseconds per create (the best of ``--repeat`` runs), the time of one bcrypt hash
at the same cost, the CPU beside the hash, and the SQL statements of one create. The token is a
client-credentials token of a real ``Client`` (as the SDKs use) unless ``--operator``. ``--profile`` prints the
hottest functions.

``--instructions`` runs the same creates under ``valgrind --tool=callgrind`` and prints the machine instructions
per create: CPU time on a shared 2-core virtual machine varies by a fifth between runs of the same code, while the
instruction count of the same code and inputs is the same to a fraction of a percent (a few tenths: ids, times and
the hash's salt differ), so it tells apart changes the timings cannot. Only the measured loop is counted (callgrind
zeroes its counters when the loop starts, at ``os.getppid()``, and writes them out when it ends, at
``os.getpgrp()``); about a minute and a half of start-up plus about a second per create. It counts instructions,
not cycles: a change that trades instructions for cache misses or system calls needs the timings too. With
``--stream``, the stream's delivery task is enqueued once for the whole run (see ``COALESCE_WINDOW`` below), so
that the count does not depend on how fast the machine ran the creates.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def setup(rounds: int) -> None:
    os.environ["DATA_DIR"] = tempfile.mkdtemp(prefix="userdir-profile-")
    Path(os.environ["DATA_DIR"], "static").mkdir()
    os.environ.setdefault("SECRET_KEY", "bench")
    os.environ["BCRYPT_ROUNDS"] = str(rounds)
    os.environ["MANAGEMENT_API_RATE_LIMIT"] = "off"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    if os.environ.get("BENCH_DATABASE_URL"):
        os.environ["DATABASE_URL"] = os.environ["BENCH_DATABASE_URL"]
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("flush", "--noinput", verbosity=0) if _has_tables() else None
    call_command("migrate", verbosity=0)


def _has_tables() -> bool:
    from django.db import connection

    return "users_user" in connection.introspection.table_names()


HASHES = 20


def one_hash_ms(rounds: int, count: int = HASHES) -> float:
    import bcrypt

    salt = bcrypt.gensalt(rounds=rounds)
    os.getppid()  # under --instructions: the hashes are counted on their own (see the measured loop)
    start = time.process_time()
    for _ in range(count):
        bcrypt.hashpw(b"Str0ng!Passw0rd", salt)
    elapsed = time.process_time() - start
    os.getpgrp()
    return elapsed * 1000 / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3, help="runs of --count creates; the best is reported")
    parser.add_argument("--operator", action="store_true", help="an operator token (no client row to check)")
    parser.add_argument("--profile", choices=["cprofile", "pyinstrument"])
    parser.add_argument("--no-mail", action="store_true", help='send "verify_email": false (no verification mail)')
    parser.add_argument(
        "--stream", action="store_true", help="one enabled event stream subscribed to user.created (never sent)"
    )
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="count machine instructions per create under valgrind's callgrind (deterministic; needs valgrind)",
    )
    args = parser.parse_args()
    if args.instructions:
        count_instructions(args)
        return
    setup(args.rounds)

    from django.db import connection as db
    from django.test import Client as HttpClient

    from clients.services import create_client
    from clients.tokens import OPERATOR, issue_token
    from connections.services import create_connection
    from core.actors import SYSTEM

    create_connection(name="Username-Password-Authentication", strategy="auth0", actor=SYSTEM)
    if args.stream:
        from django.conf import settings

        if os.environ.get("PROFILE_CREATE_UNDER_CALLGRIND"):
            # A create joins the stream's ready delivery task enqueued within COALESCE_WINDOW (1 s) of it, else adds
            # one: at full speed about one create in thirty adds it; fifty times slower under valgrind, one in two,
            # and how many depended on the machine's load. Counted with one task for the whole run instead.
            from datetime import timedelta

            from events import tasks

            tasks.COALESCE_WINDOW = timedelta(days=1)

        from events.services import WebhookAuthorization, create_event_stream

        settings.EVENT_STREAMS_ALLOW_INSECURE_ENDPOINTS = True
        create_event_stream(
            name="bench",
            subscriptions=["user.created"],
            webhook_endpoint="http://127.0.0.1:9/events",
            authorization=WebhookAuthorization(method="bearer", token="bench"),  # noqa: S106 (a bench token)
            actor=SYSTEM,
        )
    if args.operator:
        token = issue_token(client_id="bench", scopes=["create:users"], grant_type=OPERATOR)
    else:
        client, _secret = create_client(name="bench", scopes=["create:users"], connections=[], actor=SYSTEM)
        token = issue_token(client_id=client.client_id, scopes=["create:users"])
    http = HttpClient(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_HOST="127.0.0.1")
    counter = iter(range(10**9))
    devnull = open(os.devnull, "w")  # noqa: SIM115 - open for the whole run

    def create() -> None:
        extra = ',"verify_email":false' if args.no_mail else ""
        body = (
            '{"connection":"Username-Password-Authentication",'
            f'"email":"p{next(counter)}@example.com","password":"Str0ng!Passw0rd"{extra}}}'
        )
        with contextlib.redirect_stdout(devnull):  # the console mailer prints each verification mail
            response = http.post("/api/v2/users", body, content_type="application/json")
        if response.status_code != 201:
            raise SystemExit(f"create failed: {response.status_code} {response.content[:300]!r}")

    for _ in range(20):  # warm-up: imports, caches, the first connection
        create()
    queries: list[str] = []

    def record(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:
        queries.append(sql)
        return execute(sql, params, many, context)

    with db.execute_wrapper(record):
        create()

    profiler: Any = None  # a cProfile.Profile or a pyinstrument Profiler
    if args.profile == "cprofile":
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    elif args.profile == "pyinstrument":
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0002)
        profiler.start()
    best_wall = best_cpu = float("inf")
    for _run in range(1 if profiler else args.repeat):
        os.getppid()  # under --instructions: callgrind zeroes its counters here (--zero-before=getppid)
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(args.count):
            create()
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
        os.getpgrp()  # ... and writes them out here (--dump-before=getpgrp)
    wall, cpu = best_wall, best_cpu
    if args.profile == "cprofile":
        import pstats

        profiler.disable()
        pstats.Stats(profiler).sort_stats(os.environ.get("PROFILE_SORT", "cumulative")).print_stats(45)
    elif args.profile == "pyinstrument":
        profiler.stop()
        print(profiler.output_text(unicode=True, color=False, show_all=False))

    hash_ms = one_hash_ms(args.rounds)
    per_wall, per_cpu = wall * 1000 / args.count, cpu * 1000 / args.count
    print(
        f"database: {db.vendor}; token: {'operator' if args.operator else 'client-credentials'}; "
        f"mail: {'off' if args.no_mail else 'on'}; event stream: {'one' if args.stream else 'none'}"
    )
    print(f"{args.count} creates at cost {args.rounds}: {per_wall:.2f} ms wall, {per_cpu:.2f} ms CPU per create")
    print(f"one hash at cost {args.rounds}: {hash_ms:.2f} ms CPU -> {per_cpu - hash_ms:.2f} ms CPU beside the hash")
    print(f"queries per create: {len(queries)}")
    for sql in queries:
        print("   ", sql[:150])


def count_instructions(args: argparse.Namespace) -> None:
    """Run this script's loop once under callgrind (same options but ``--instructions``, ``--profile`` and
    ``--repeat``) and print the instructions per create, with the conditions that decide them."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise SystemExit("--instructions needs valgrind (Debian: apt-get install valgrind)")
    passed = ["--count", str(args.count), "--rounds", str(args.rounds), "--repeat", "1"]
    passed += [flag for flag, on in (("--operator", args.operator), ("--no-mail", args.no_mail)) if on]
    passed += ["--stream"] if args.stream else []
    with tempfile.TemporaryDirectory(prefix="userdir-callgrind-") as out:
        command = [
            valgrind,
            "--tool=callgrind",
            f"--callgrind-out-file={out}/callgrind.out",
            "--zero-before=getppid",
            "--dump-before=getpgrp",
            sys.executable,
            __file__,
            *passed,
        ]
        # A fixed hash seed: set and dict orders (and so the instructions) the same from run to run.
        env = {**os.environ, "PYTHONHASHSEED": "0", "PROFILE_CREATE_UNDER_CALLGRIND": "1"}
        result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise SystemExit(f"the run under valgrind failed:\n{result.stdout}\n{result.stderr[-3000:]}")
        # Dumps numbered in order: the measured loop (.1), then the hashes of one_hash_ms (.2).
        loop, hashes = (_instructions(Path(out, f"callgrind.out.{n}")) for n in (1, 2))
    per_create, per_hash = loop / args.count / 1e6, hashes / HASHES / 1e6
    print(result.stdout.splitlines()[0])  # database, token, mail, stream
    print(
        f"{args.count} creates at cost {args.rounds}: {per_create:.3f} million instructions per create; one hash "
        f"{per_hash:.3f} -> {per_create - per_hash:.3f} million beside the hash "
        f"(callgrind; Python {sys.version.split()[0]}, PYTHONHASHSEED=0)"
    )


def _instructions(dump: Path) -> int:
    """The instructions a callgrind dump counted (its ``summary:`` line)."""
    if not dump.exists():
        raise SystemExit(f"callgrind wrote no {dump.name}: was the loop bracketed by os.getppid() / os.getpgrp()?")
    return next(int(line.split()[1]) for line in dump.read_text().splitlines() if line.startswith("summary:"))


if __name__ == "__main__":
    main()
