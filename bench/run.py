"""Benchmark creates against gunicorn with wrk, beside the bcrypt bound of this machine.

    .venv/bin/python bench/run.py [--db sqlite|postgres|both] [--workers N] [--threads N] [--duration S]
                                  [--rounds R] [--no-mail] [--concurrency 1,4,16] [--no-cheap | --cheap-only]
                                  [--stream]

For each database, prints for concurrency 1, 4 and 16 (or those given): creates/s and p50/p90/p99 latency;
the bcrypt bound (hashes per second over all cores at the configured cost) and the ratio of the two; the time of
one hash at that cost on one thread (p50 at concurrency 1 cannot be below it); and where the machine's CPU went
over those runs, in ms per create (the server with its hashes, the worker, PostgreSQL, everything else: from /proc),
beside a hash slot (cores / bound: what one hash costs when every core hashes), so that what keeps the creates
under the bound is seen by process: at 90 % of the bound the creates may spend a ninth of a slot beyond it. Then
the same run with the
cheapest bcrypt cost (4; ``--no-cheap`` skips it, ``--cheap-only`` runs just it) measures the server's own CPU
per create directly: the CPU time (utime + stime from /proc) of the gunicorn master and its workers over the
measured runs, less the CPU of that many cost-4 hashes, divided by the number of creates. CPU time is steadier
than throughput when other work shares the machine (though contention inflates it too: compare runs made
side by side).

Each create is a ``POST /api/v2/users`` with a client-credentials token (a real ``Client``, as the SDKs use) and
a new e-mail address; without ``--no-mail`` the body leaves ``verify_email`` unset, so every create also sends
the verification mail (console backend, to /dev/null), as Auth0's default does. PostgreSQL runs use
``BENCH_DATABASE_URL`` (the database is dropped and created). Needs wrk (apt-get install wrk). Figures, not
assertions.

``--stream`` adds one enabled event stream (``user.created``, to a local receiver in this process; the server runs
with ``EVENT_STREAMS_ALLOW_INSECURE_ENDPOINTS=true``) and one ``manage.py run_jobs`` worker beside gunicorn, so
every create also writes its outbox row and tasks, and the worker fans them out and sends them (and the mails)
meanwhile. The worker's CPU, until it has drained what the load queued, is reported apart from the server's.
On PostgreSQL the database server's CPU over the same span is reported too (its backends for the bench database
and its shared processes), and every run prints the CPU time the host stole from this machine (a virtual
machine's neighbours make it slower by that much).
Then, with the worker idle, 50 creates one at a time give the delivery latency: from the create's response (its
transaction has committed) to the receiver's arrival of its event; p50 and p90 are printed.
"""

from __future__ import annotations

import argparse
import http.server
import json
import multiprocessing
import os
import random
import re
import secrets
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import bcrypt

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
BIND = "127.0.0.1:8799"
CONNECTION = "Username-Password-Authentication"
# scripts/serve.sh's defaults, chosen by measurement on the 2-core machine (README, Performance): bcrypt
# releases the GIL while hashing, so a worker per core keeps the cores busy; four threads hide database waits.
DEFAULT_WORKERS = os.cpu_count() or 2
DEFAULT_THREADS = 4
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def bcrypt_bound(rounds: int, seconds: float = 3.0) -> float:
    """Hashes per second with every core hashing, at ``rounds``."""
    cores = os.cpu_count() or 1
    with multiprocessing.Pool(cores) as pool:
        counts = pool.starmap(_hash_for, [(rounds, seconds)] * cores)
    return sum(counts) / seconds


def _hash_for(rounds: int, seconds: float) -> int:
    salt = bcrypt.gensalt(rounds=rounds)
    deadline, count = time.monotonic() + seconds, 0
    while time.monotonic() < deadline:
        bcrypt.hashpw(b"Str0ng!Passw0rd", salt)
        count += 1
    return count


def one_hash_ms(rounds: int, seconds: float = 1.0) -> float:
    """CPU milliseconds of one hash at ``rounds`` on one thread (the best of three tries)."""
    salt = bcrypt.gensalt(rounds=rounds)
    best = float("inf")
    for _try in range(3):
        count, start = 0, time.process_time()
        while time.process_time() - start < seconds / 3 or count < 3:
            bcrypt.hashpw(b"Str0ng!Passw0rd", salt)
            count += 1
        best = min(best, (time.process_time() - start) * 1000 / count)
    return best


def _latency_ms(text: str, label: str) -> float:
    match = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    if not match:
        return float("nan")
    value, unit = float(match.group(1)), match.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def found(pattern: str, text: str) -> str:
    """The first group of ``pattern`` in a tool's output; raises ``RuntimeError`` with the output when absent."""
    match = re.search(pattern, text)
    if match is None:
        raise RuntimeError(f"{pattern!r} not found in:\n{text}")
    return match.group(1)


def run_wrk(url: str, token: str, concurrency: int, duration: int, *, mail: bool) -> dict[str, float]:
    env = {
        **os.environ,
        "BENCH_TOKEN": token,
        "BENCH_RUN": secrets.token_hex(4),
        "BENCH_EXTRA": "" if mail else ',"verify_email":false',
    }
    out = subprocess.run(
        ["wrk", "-t", str(min(concurrency, 4)), "-c", str(concurrency), "-d", f"{duration}s", "--latency",
         "-s", str(ROOT / "bench" / "create_users.lua"), url],
        capture_output=True, text=True, env=env, check=True,
    ).stdout  # fmt: skip
    requests = float(found(r"Requests/sec:\s+([\d.]+)", out))
    total = float(found(r"(\d+) requests in", out))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    non2xx = float(errors.group(1)) if errors else 0.0
    return {
        "rps": requests,
        "p50": _latency_ms(out, "50"),
        "p90": _latency_ms(out, "90"),
        "p99": _latency_ms(out, "99"),
        "non2xx": non2xx,
        "creates": total - non2xx,
    }


def _processes() -> Iterator[tuple[int, list[str], Path]]:
    """Each process on this machine: its pid, the fields of /proc/PID/stat after "pid (comm) " (``fields[1]`` is
    the parent's pid, ``fields[11]`` and ``fields[12]`` its user and system CPU ticks) and its /proc directory."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        yield int(entry.name), stat[stat.rindex(")") + 2 :].split(), entry


def _cpu_seconds(fields: list[str]) -> float:
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def process_tree_cpu(root: int) -> float:
    """CPU seconds (user + system) of ``root`` and its child processes (the gunicorn master and workers)."""
    return sum(_cpu_seconds(fields) for pid, fields, _entry in _processes() if root in (pid, int(fields[1])))


# PostgreSQL's processes that serve every database: their CPU is counted with the bench database's backends.
_SHARED_POSTGRES = ("walwriter", "checkpointer", "background writer", "autovacuum")


def database_cpu(name: str) -> float:
    """CPU seconds (user + system) of the PostgreSQL processes on this machine serving database ``name`` (its
    backends, known by their process title) and of the server's shared processes (WAL writer, checkpointer,
    background writer, autovacuum). A backend that exits is no longer counted: gunicorn and the worker keep
    theirs open (``DB_CONN_MAX_AGE``)."""
    total = 0.0
    for _pid, fields, entry in _processes():
        try:
            if (entry / "comm").read_text().strip() != "postgres":
                continue
            title = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue  # gone meanwhile, or not ours to read
        if f" {name} " in title or any(shared in title for shared in _SHARED_POSTGRES):
            total += _cpu_seconds(fields)
    return total


def busy_seconds() -> float:
    """CPU seconds this machine's CPUs spent on anything but idling and waiting for I/O (all CPUs, /proc/stat:
    user, nice, system, irq, softirq)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    return sum(int(value) for value in fields[1:4] + fields[6:8]) / CLOCK_TICKS


def stolen_seconds() -> float:
    """CPU seconds the hypervisor gave to others while this machine's CPUs wanted to run (``steal`` in
    /proc/stat, all CPUs): a run with much of it measured a slower machine."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    return int(fields[8]) / CLOCK_TICKS if len(fields) > 8 else 0.0


def _post(url: str, body: dict[str, str]) -> dict[str, str]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def serve(env: dict[str, str], workers: int, threads: int) -> subprocess.Popen:
    manage = [PYTHON, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], env=env, check=True, cwd=ROOT)
    subprocess.run(
        [*manage, "create_connection", CONNECTION, "--if-missing"],
        env=env, check=True, cwd=ROOT, capture_output=True,
    )  # fmt: skip
    process = subprocess.Popen(
        [PYTHON, "-m", "gunicorn", "config.wsgi", "-b", BIND, "-w", str(workers), "--threads", str(threads),
         "--no-control-socket"],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    for _attempt in range(100):
        time.sleep(0.2)
        try:
            urllib.request.urlopen(f"http://{BIND}/.well-known/jwks.json", timeout=2).close()
            break
        except OSError:
            continue
    return process


def client_token(env: dict[str, str]) -> str:
    """A client with ``create:users`` and a token from ``/oauth/token``, as an SDK gets one."""
    created = subprocess.run(
        [PYTHON, str(ROOT / "manage.py"), "create_client", "bench", "--scopes", "create:users"],
        env=env, cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    client = json.loads(created)
    answer = _post(
        f"http://{BIND}/oauth/token",
        {
            "grant_type": "client_credentials",
            "client_id": client["client_id"],
            "client_secret": client["client_secret"],
            "audience": client["audience"],
        },
    )
    return answer["access_token"]


def _reset_postgres(url: str) -> None:
    parts = urllib.parse.urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urllib.parse.urlunsplit(parts._replace(path="/postgres"))
    for sql in (f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"'):
        subprocess.run(["psql", admin, "-q", "-c", sql], capture_output=True, check=True)


class Receiver:
    """An HTTP receiver in a thread: the arrival time (``time.perf_counter``) of each event, by the user's e-mail."""

    def __init__(self) -> None:
        self.arrivals: dict[str, float] = {}
        self.count = 0
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            # Keep-alive, as webhook receivers behind nginx or a cloud load balancer answer: with HTTP/1.0 each
            # event cost the worker a new connection and this process a new thread.
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                arrived = time.perf_counter()
                email = json.loads(body).get("data", {}).get("object", {}).get("email", "")
                receiver.arrivals[email] = arrived
                receiver.count += 1
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/events"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def add_stream(env: dict[str, str], url: str) -> None:
    code = (
        "from core.actors import SYSTEM; from events.services import WebhookAuthorization, create_event_stream; "
        f"create_event_stream(name='bench', subscriptions=['user.created'], webhook_endpoint={url!r}, "
        "authorization=WebhookAuthorization(method='bearer', token='bench'), actor=SYSTEM)"
    )
    subprocess.run([PYTHON, str(ROOT / "manage.py"), "shell", "-c", code], env=env, cwd=ROOT, check=True)


def delivery_latency(url: str, token: str, receiver: Receiver, count: int = 50) -> list[float]:
    """Creates one at a time; for each, the milliseconds from its response to its event's arrival."""
    latencies = []
    for i in range(count):
        email = f"latency-{i}-{secrets.token_hex(4)}@example.com"
        body = json.dumps({"connection": CONNECTION, "email": email, "password": "Str0ng!Passw0rd"}).encode()
        request = urllib.request.Request(
            f"{url}/api/v2/users",
            data=body,
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()
        answered = time.perf_counter()
        deadline = answered + 30
        while email not in receiver.arrivals and time.perf_counter() < deadline:
            time.sleep(0.0005)
        if email in receiver.arrivals:
            latencies.append((receiver.arrivals[email] - answered) * 1000)
        # The worker goes back to idle polling (after its linger, TASKS_LINGER_SECONDS); a random pause, as a fixed
        # one locked each create's commit to just after one of the worker's polls (p50 = one poll interval).
        time.sleep(random.uniform(0.3, 0.4))
    return sorted(latencies)


STREAM: dict[str, object] = {}  # filled by bench() with --stream: the worker's CPU, the latencies
RUN: dict[str, float] = {}  # filled by bench(): PostgreSQL's CPU, the CPU time stolen by the host, the creates


def bench(
    db: str,
    rounds: int,
    workers: int,
    threads: int,
    duration: int,
    *,
    mail: bool,
    concurrency: list[int],
    stream: bool = False,
) -> tuple[list[tuple[int, dict[str, float]]], float]:
    """The wrk runs at each concurrency (1, 4 and 16 by default), and the server's CPU seconds over them."""
    data = tempfile.mkdtemp(prefix="userdir-bench-")
    env = {
        **os.environ,
        "DATA_DIR": data,
        "SECRET_KEY": "bench",
        "BCRYPT_ROUNDS": str(rounds),
        "MANAGEMENT_API_RATE_LIMIT": "off",
        "LOG_LEVEL": "WARNING",
    }
    env.pop("DATABASE_URL", None)
    if db == "postgres":
        env["DATABASE_URL"] = os.environ.get(
            "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/userdir_perfbench"
        )
        _reset_postgres(env["DATABASE_URL"])
    worker = None
    if stream:
        env["EVENT_STREAMS_ALLOW_INSECURE_ENDPOINTS"] = "true"
    server = serve(env, workers, threads)
    try:
        token = client_token(env)
        url = f"http://{BIND}"
        if stream:
            receiver = Receiver()
            add_stream(env, receiver.url)
            worker = subprocess.Popen(
                [PYTHON, str(ROOT / "manage.py"), "run_jobs"],
                env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
        run_wrk(url, token, 4, 1, mail=mail)  # warm-up: imports, database connections, caches
        if worker:
            # Its start (Django's set-up and checks, about a second of CPU) and the warm-up's tasks are not the
            # measured creates' work.
            wait_until_idle(worker.pid)
        cpu = process_tree_cpu(server.pid)
        worker_cpu = process_tree_cpu(worker.pid) if worker else 0.0
        database = urllib.parse.urlsplit(env["DATABASE_URL"]).path.lstrip("/") if db == "postgres" else ""
        database_before, stolen_before = database_cpu(database) if database else 0.0, stolen_seconds()
        busy_before = busy_seconds()
        results = [(c, run_wrk(url, token, c, duration, mail=mail)) for c in concurrency]
        RUN["busy"] = busy_seconds() - busy_before
        server_cpu = process_tree_cpu(server.pid) - cpu
        if worker:
            RUN["worker_during"] = process_tree_cpu(worker.pid) - worker_cpu
        if database:
            RUN["database_during"] = database_cpu(database) - database_before
        RUN["stolen"] = stolen_seconds() - stolen_before
        RUN["creates"] = sum(r["creates"] for _c, r in results)
        if worker:
            # The worker's share includes the backlog it drains after the load (a worker that fell behind would
            # otherwise look cheap), up to the moment it is idle again.
            wait_until_idle(worker.pid)
            STREAM["worker_cpu"] = process_tree_cpu(worker.pid) - worker_cpu
            STREAM["creates"] = sum(r["creates"] for _c, r in results)
            STREAM["latencies"] = delivery_latency(url, token, receiver)
            STREAM["received"] = receiver.count
        if database:  # after the worker drained what the load queued: its statements are counted too
            RUN["database_cpu"] = database_cpu(database) - database_before
        return results, server_cpu
    finally:
        if worker:
            worker.terminate()
            worker.wait()
        server.terminate()
        server.wait()


def wait_until_idle(pid: int, timeout: float = 600.0) -> None:
    """Wait until the process spends under 15 % of a core for two seconds in a row (the worker's idle polling
    costs about 5 %): its backlog is drained."""
    deadline = time.monotonic() + timeout
    quiet, before = 0, process_tree_cpu(pid)
    while quiet < 2 and time.monotonic() < deadline:
        time.sleep(1.0)
        now = process_tree_cpu(pid)
        quiet = quiet + 1 if now - before < 0.15 else 0
        before = now


def report_stream() -> None:
    if not STREAM:
        return
    creates = float(STREAM["creates"])  # type: ignore[arg-type]
    worker_cpu = float(STREAM["worker_cpu"])  # type: ignore[arg-type]
    latencies: list[float] = STREAM["latencies"]  # type: ignore[assignment]
    print(f"worker (deliveries and mails): {worker_cpu:.1f} s CPU for {int(creates)} creates = "
          f"{worker_cpu * 1000 / creates:.2f} ms per create; {STREAM['received']} events received")  # fmt: skip
    if latencies:
        p50, p90 = latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.9)]
        print(
            f"delivery latency after commit, worker idle ({len(latencies)} creates): p50 {p50:.1f} ms, p90 {p90:.1f} ms"
        )
    STREAM.clear()


def report_split(server_cpu: float, bound: float) -> None:
    """Where the machine's CPU went during the cost-10 runs, ms per create, beside what one hash slot of the bound
    is (cores / bound: what a hash costs when every core hashes). What the creates spend beyond that slot, over
    every process of the machine, is what keeps them under the bound: at 90 % a ninth of a slot."""
    creates = RUN.get("creates") or float("nan")
    per = 1000 / creates
    slot = (os.cpu_count() or 1) * 1000 / bound
    worker, database = RUN.get("worker_during", 0.0), RUN.get("database_during", 0.0)
    others = RUN["busy"] - server_cpu - worker - database
    parts = [f"server {server_cpu * per:.1f} (its hash included)"]
    if "worker_during" in RUN:
        parts.append(f"worker {worker * per:.2f}")
    if "database_during" in RUN:
        parts.append(f"PostgreSQL {database * per:.2f}")
    parts.append(f"everything else (wrk, this script's receiver, the system) {others * per:.2f}")
    print(
        f"machine busy {RUN['busy']:.1f} s over the runs: {RUN['busy'] * per:.1f} ms per create against a hash slot"
        f" of {slot:.1f} ms (cores / bound): " + ", ".join(parts)
    )


def report_run() -> None:
    creates = RUN.get("creates") or float("nan")
    if "database_cpu" in RUN:
        print(
            f"PostgreSQL (the database's backends, WAL, checkpoints, autovacuum): {RUN['database_cpu']:.1f} s CPU = "
            f"{RUN['database_cpu'] * 1000 / creates:.2f} ms per create"
        )
    print(f"CPU stolen by the host during the runs: {RUN.get('stolen', 0.0):.1f} s (over all cores)")
    RUN.clear()


def postgres_conditions() -> str:
    """The server's version and the settings that move these figures: what a commit waits for
    (``synchronous_commit``) and whether the queue tables are vacuumed and analysed as they churn (``autovacuum``: off
    on some machines of the kind, where the task and delivery tables' dead rows and stale statistics pile up)."""
    url = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/userdir_perfbench")
    try:
        shown = [
            subprocess.run(
                ["psql", url, "-Atc", f"SHOW {name}"], check=True, capture_output=True, text=True
            ).stdout.strip()
            for name in ("server_version", "synchronous_commit", "autovacuum")
        ]
    except (OSError, subprocess.CalledProcessError):
        return "PostgreSQL: its settings could not be read (psql)"
    return f"PostgreSQL {shown[0].split()[0]}: synchronous_commit={shown[1]}, autovacuum={shown[2]}"


def report(db: str, args: argparse.Namespace, bound: float, hash_ms: float, cheap_hash_ms: float) -> None:
    print(
        f"server: gunicorn {args.workers} workers x {args.threads} threads, {db}"
        + (", one event stream" if args.stream else "")
    )
    if db == "postgres":
        print(postgres_conditions())
    if not args.cheap_only:
        main_run(db, args, bound, hash_ms)
    if not args.no_cheap:
        cheap_run(db, args, cheap_hash_ms)


def main_run(db: str, args: argparse.Namespace, bound: float, hash_ms: float) -> None:
    print(f"{'conc':>4} {'creates/s':>10} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'vs bound':>9} {'non-2xx':>8}")
    results, cpu = bench(
        db,
        args.rounds,
        args.workers,
        args.threads,
        args.duration,
        mail=not args.no_mail,
        concurrency=args.concurrency,
        stream=args.stream,
    )
    for concurrency, r in results:
        print(
            f"{concurrency:>4} {r['rps']:>10.1f} {r['p50']:>8.1f} {r['p90']:>8.1f} {r['p99']:>8.1f} "
            f"{r['rps'] / bound:>8.0%} {int(r['non2xx']):>8}"
        )
    concurrency, first = results[0]
    p50 = first["p50"]
    print(f"p50 at concurrency {concurrency}: {p50:.1f} ms = one hash ({hash_ms:.1f} ms) + {p50 - hash_ms:.1f} ms")
    report_split(cpu, bound)
    report_stream()
    report_run()


def cheap_run(db: str, args: argparse.Namespace, cheap_hash_ms: float) -> None:
    cheap, cpu = bench(
        db,
        4,
        args.workers,
        args.threads,
        args.duration,
        mail=not args.no_mail,
        concurrency=args.concurrency,
        stream=args.stream,
    )
    best = max(r["rps"] for _c, r in cheap)
    creates = sum(r["creates"] for _c, r in cheap)
    cores = os.cpu_count() or 1
    own = (cpu * 1000 - creates * cheap_hash_ms) / creates if creates else float("nan")
    print(f"cheapest hash (cost 4): up to {best:.0f} creates/s -> about {cores * 1000 / best:.2f} ms of CPU per create")
    print(
        f"own CPU per create (cost 4, measured): {cpu:.1f} s of server CPU for {int(creates)} creates = "
        f"{cpu * 1000 / creates:.2f} ms, less one cost-4 hash ({cheap_hash_ms:.2f} ms) = {own:.2f} ms"
    )
    report_stream()
    report_run()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="sqlite")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS)
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--no-mail", action="store_true", help='send "verify_email": false (no verification mail)')
    parser.add_argument("--concurrency", default="1,4,16", help="comma-separated wrk connection counts")
    parser.add_argument("--no-cheap", action="store_true", help="skip the cost-4 run (own CPU per create)")
    parser.add_argument("--cheap-only", action="store_true", help="only the cost-4 run (own CPU per create)")
    parser.add_argument("--stream", action="store_true", help="one enabled event stream and a worker (see above)")
    args = parser.parse_args()
    args.concurrency = [int(c) for c in args.concurrency.split(",")]

    bound = bcrypt_bound(args.rounds)
    hash_ms, cheap_hash_ms = one_hash_ms(args.rounds), one_hash_ms(4)
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}")
    print(f"bcrypt bound at cost {args.rounds}: {bound:.1f} hashes/s")
    print(f"one hash on one thread: {hash_ms:.1f} ms at cost {args.rounds}, {cheap_hash_ms:.2f} ms at cost 4")
    for db in ("sqlite", "postgres") if args.db == "both" else (args.db,):
        report(db, args, bound, hash_ms, cheap_hash_ms)


if __name__ == "__main__":
    main()
