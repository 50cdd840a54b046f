"""Benchmark ``manage.py import_users``: users/s, CPU per user and peak memory, with the conditions that decide them.

    .venv/bin/python bench/import_bench.py [--users 200000] [--db sqlite|postgres|both] [--shape plain,rich,nohash]
                                           [--batch-size 5000] [--small 0] [--plain 400] [--no-search-indexes]
                                           [--event-stream]

Generates files of users in Auth0's bulk-import format (a JSON array) and imports each into a fresh database with
the real command (a child process), then prints, per run: users/s of the import itself (the command's own
timer, without Django's start-up), the CPU time the import process spent per user (rusage, less the start-up
measured on a one-user file), the CPU time the database server's backends of this database spent per user
(PostgreSQL: /proc of the backends, sampled every 0.2 s; SQLite runs inside the import process), peak resident
memory and the load average before and after. Wall time on a shared machine moves with the load; CPU per user
moves much less, so compare runs by it and read the rate beside the load.

Shapes: ``plain`` (the README's figure: a cost-10 bcrypt ``password_hash``, names, two small metadata objects),
``rich`` (``bench/search_bench.py``'s users: user_id, names, nested app_metadata and user_metadata with
addresses and preferences) and ``nohash`` (``plain`` without any password). ``--small N`` adds a first file of N
plain users to compare peak memory with (flat memory means alike peaks). ``--plain N`` imports N users with plain
passwords, which the importer hashes over all cores, against the bcrypt bound measured in the same run (0 skips).
``--no-search-indexes`` drops the search indexes of migrations users 0004-0006 before importing (PostgreSQL and
SQLite), to show what maintaining them costs. ``--event-stream`` runs every import twice, without and with one
enabled event stream subscribed to ``user.created`` (its endpoint is never called: no worker runs), so the
second row shows what writing each batch's events in its transaction costs (one outbox row a batch,
``events.outbox.emit``; their fan-out into ``Event`` and ``Delivery`` rows is the worker's, measured by
``bench/import_stream_bench.py``).

The conditions are printed first: Python, Django, psycopg, the database's version and the settings that decide
what a commit costs (PostgreSQL: synchronous_commit, fsync, full_page_writes, wal_level, shared_buffers,
max_wal_size, checkpoint_timeout, commit_delay; PGOPTIONS when set; SQLite: journal_mode, synchronous), the
indexes on ``users_user``, the CPU model and cores, and the machine's speed right now (CPU time of a fixed
pure-Python loop: on a shared virtual machine the same code's CPU time moves with its neighbours). PostgreSQL runs
use ``BENCH_DATABASE_URL`` (dropped and created for every run). Figures, not assertions.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import bcrypt

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))
from run import bcrypt_bound, found  # noqa: E402 (bench/run.py, beside this file)
from search_bench import make_user  # noqa: E402

PYTHON = sys.executable
CONNECTION = "Username-Password-Authentication"
DEFAULT_PG_URL = "postgres://postgres@127.0.0.1:5432/userdir_import_bench"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
SHAPES = ("plain", "rich", "nohash")
# The PostgreSQL settings that decide what a commit and a written row cost.
PG_SETTINGS = (
    "synchronous_commit",
    "fsync",
    "full_page_writes",
    "wal_level",
    "wal_compression",
    "shared_buffers",
    "max_wal_size",
    "checkpoint_timeout",
    "commit_delay",
    "autovacuum",
)
# The indexes the search added (migrations users 0004-0006), for --no-search-indexes.
_SEARCH = importlib.import_module("users.migrations.0005_search_indexes")
SEARCH_INDEXES = {
    "postgres": [
        *(f"users_user_{name}_idx" for name in ("updated_at", "last_login", "logins_count", "conn_created", "blocked")),
        *_SEARCH.POSTGRESQL_NAMES,
        "users_user_last_login_desc_idx",
    ],
    "sqlite": [
        *(f"users_user_{name}_idx" for name in ("updated_at", "last_login", "logins_count", "conn_created", "blocked")),
        *_SEARCH.SQLITE_NAMES,
    ],
}


def write_users(path: Path, count: int, *, shape: str = "plain", plain: bool = False) -> None:
    """``count`` users of ``shape`` as one JSON array, written as a stream. Hashes come from a small pool of real
    cost-10 bcrypt hashes: the importer stores hashes as they are, so computing a million of them would measure
    nothing. ``plain`` gives each user a plain password instead (hashed by the importer)."""
    pool = [bcrypt.hashpw(f"pool-{i}".encode(), bcrypt.gensalt(10)).decode() for i in range(16)]
    with path.open("w") as f:
        f.write("[\n")
        for i in range(count):
            if shape == "rich":
                user = make_user(i, pool)
            else:
                user = {
                    "email": f"user{i}@example.com",
                    "email_verified": i % 3 == 0,
                    "given_name": "Given",
                    "family_name": f"Family{i}",
                    "user_metadata": {"plan": "gold", "seq": i},
                    "app_metadata": {"roles": ["user"]},
                }
                if plain:
                    user["password"] = f"Str0ng!Passw0rd-{i}"
                elif shape == "plain":
                    user["password_hash"] = pool[i % len(pool)]
            f.write(("," if i else "") + json.dumps(user) + "\n")
        f.write("]\n")


# --- conditions ---------------------------------------------------------------------------------------------


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def loop_speed() -> float:
    """CPU seconds of a fixed pure-Python loop (10 million additions): this machine's speed right now."""
    started = time.process_time()
    total = 0
    for i in range(10_000_000):
        total += i
    return time.process_time() - started


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def versions() -> str:
    import django
    import ijson
    import psycopg

    return (
        f"Python {platform.python_version()}, Django {django.__version__}, psycopg {psycopg.__version__} "
        f"({psycopg.pq.__impl__}), ijson {ijson.__version__} ({ijson.backend})"
    )


def psql(url: str, sql: str) -> str:
    return subprocess.run(["psql", url, "-Atc", sql], check=True, capture_output=True, text=True).stdout.strip()


def database_conditions(db: str, env: dict[str, str]) -> str:
    """The database's version, durability settings and the indexes on ``users_user``."""
    if db == "postgres":
        url = env["DATABASE_URL"]
        version = psql(url, "SHOW server_version").split()[0]
        settings = ", ".join(f"{name}={psql(url, f'SHOW {name}')}" for name in PG_SETTINGS)
        options = f"; PGOPTIONS={env['PGOPTIONS']!r}" if env.get("PGOPTIONS") else ""
        return f"PostgreSQL {version}: {settings}{options}; {pg_indexes(url)}"
    path = Path(env["DATA_DIR"]) / "db.sqlite3"
    with sqlite3.connect(path) as con:
        journal = con.execute("PRAGMA journal_mode").fetchone()[0]
        names = [
            r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='index' AND tbl_name='users_user'")
        ]
    # The project's connections set synchronous=NORMAL (config/settings.py); a fresh connection shows the default.
    sync = "synchronous=NORMAL"
    return f"SQLite {sqlite3.sqlite_version}: journal_mode={journal}, {sync}; {len(names)} indexes on users_user"


def pg_indexes(url: str) -> str:
    rows = psql(url, "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'users_user'").splitlines()
    gin = sum(1 for row in rows if "USING gin" in row)
    return f"{len(rows)} indexes on users_user ({gin} GIN)"


def drop_search_indexes(db: str, env: dict[str, str]) -> None:
    if db == "postgres":
        for name in SEARCH_INDEXES[db]:
            psql(env["DATABASE_URL"], f'DROP INDEX "{name}"')
        return
    with sqlite3.connect(Path(env["DATA_DIR"]) / "db.sqlite3") as con:
        for name in SEARCH_INDEXES[db]:
            con.execute(f'DROP INDEX "{name}"')


def describe_file(path: Path, shape: str, count: int) -> str:
    size = path.stat().st_size
    hashes = {"plain": "a cost-10 bcrypt password_hash each", "rich": "a cost-10 bcrypt password_hash each"}
    return f"{shape}: {count:,} users, {size / 1e6:,.1f} MB ({size / count:,.0f} bytes/user), " + hashes.get(
        shape, "no password"
    )


# --- runs ---------------------------------------------------------------------------------------------------


# One enabled stream subscribed to user.created, made through the service as the API makes it.
STREAM = (
    "from core.actors import Actor; from events.services import WebhookAuthorization, create_event_stream; "
    "create_event_stream(name='bench', subscriptions=['user.created'], webhook_endpoint='http://127.0.0.1:9/hook', "
    "authorization=WebhookAuthorization(method='bearer', token='bench-token'), actor=Actor(kind='system', id='bench'))"
)


def add_event_stream(env: dict[str, str]) -> None:
    stream_env = {**env, "EVENT_STREAMS_ALLOW_INSECURE_ENDPOINTS": "true"}
    manage = [PYTHON, str(ROOT / "manage.py")]
    subprocess.run([*manage, "shell", "-c", STREAM], env=stream_env, check=True, cwd=ROOT, capture_output=True)


def fresh_database(db: str, data_dir: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DATA_DIR": data_dir,
        "SECRET_KEY": "bench",
        "BCRYPT_ROUNDS": "10",
        "LOG_LEVEL": "WARNING",
    }
    if db == "postgres":
        url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_PG_URL)
        base, name = url.rsplit("/", 1)
        for sql in (f"DROP DATABASE IF EXISTS {name}", f"CREATE DATABASE {name}"):
            subprocess.run(["psql", base + "/postgres", "-qc", sql], check=True, capture_output=True)
        env["DATABASE_URL"] = url
    manage = [PYTHON, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], env=env, check=True, cwd=ROOT)
    subprocess.run([*manage, "create_connection", CONNECTION], env=env, check=True, cwd=ROOT, capture_output=True)
    return env


class BackendCPU:
    """CPU seconds of the PostgreSQL backends serving one database, sampled from /proc while the import runs (a
    backend's last 0.2 s before it exits may be missed)."""

    def __init__(self, database: str) -> None:
        self.marker = f" {database} ".encode()
        self.seen: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self) -> BackendCPU:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _poll(self) -> None:
        while True:
            for proc in Path("/proc").iterdir():
                if not proc.name.isdigit():
                    continue
                try:
                    if self.marker not in (proc / "cmdline").read_bytes().replace(b"\0", b" ") + b" ":
                        continue
                    fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                self.seen[int(proc.name)] = int(fields[11]) + int(fields[12])  # utime + stime
            if self._stop.wait(0.2):
                return

    @property
    def seconds(self) -> float:
        return sum(self.seen.values()) / CLOCK_TICKS


def run_import(env: dict[str, str], path: Path, batch_size: int = 5000) -> dict[str, Any]:
    """The real command in a child process: the command's own time, counts, CPU (rusage) and peak RSS."""
    command = [PYTHON, str(ROOT / "manage.py"), "import_users", str(path), "--connection", CONNECTION]
    command += ["--no-progress", "--batch-size", str(batch_size)]
    database = env.get("DATABASE_URL", "").rsplit("/", 1)[-1] or "-"
    before = load()
    started = time.monotonic()
    with tempfile.TemporaryFile("w+") as out, BackendCPU(database) as backends:
        child = subprocess.Popen(command, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, text=True)
        _pid, status, usage = os.wait4(child.pid, 0)
        wall = time.monotonic() - started
        out.seek(0)
        text = out.read()
    if os.waitstatus_to_exitcode(status) not in (0, 1):
        raise RuntimeError(f"import_users failed: {text}")
    inserted = int(found(r"inserted (\d+)", text))
    importing = float(found(r"users in ([\d.]+) s", text))  # the command's own, without start-up
    return {
        "seconds": importing,
        "wall": wall,
        "total": int(found(r"(\d+) users in", text)),
        "inserted": inserted,
        "failed": int(found(r"failed (\d+)", text)),
        "cpu": usage.ru_utime + usage.ru_stime,
        "db_cpu": backends.seconds if env.get("DATABASE_URL") else 0.0,
        "rss_mb": usage.ru_maxrss / 1024,
        "rate": inserted / importing,
        "load": f"{before} -> {load()}",
    }


HEADER = ("database", "file", "users", "seconds", "users/s", "import CPU", "DB CPU", "peak RSS", "failed", "load")
ROW = "{:<9} {:<9} {:>9} {:>8} {:>8} {:>11} {:>9} {:>8} {:>6}  {}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=200_000, help="users in each file")
    parser.add_argument("--shape", default="plain,rich", help=f"comma-separated, of {', '.join(SHAPES)}")
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument("--small", type=int, default=0, help="users in a first plain file (memory baseline)")
    parser.add_argument("--plain", type=int, default=0, help="users with plain passwords (hashed at cost 10)")
    parser.add_argument("--no-search-indexes", action="store_true", help="drop users 0004-0006's search indexes")
    parser.add_argument("--event-stream", action="store_true", help="each file also with an enabled event stream")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # a row at a time, also into a pipe
    shapes = [s for s in args.shape.split(",") if s]
    if not set(shapes) <= set(SHAPES):
        parser.error(f"--shape: one or more of {', '.join(SHAPES)}")

    work = Path(tempfile.mkdtemp(prefix="userdir-import-bench-"))
    files: list[tuple[str, Path, int]] = []
    if args.small:
        files.append(("plain", work / "small.json", args.small))
    files += [(shape, work / f"{shape}.json", args.users) for shape in shapes]
    for shape, path, count in files:
        write_users(path, count, shape=shape)
    one = work / "one.json"  # for the start-up's CPU: a user no other file has
    one.write_text(json.dumps([{"email": "start-up@example.net"}]))

    print(f"software: {versions()}")
    print(f"machine: {cpu_model()}, {os.cpu_count()} cores; load {load()}")
    print(f"machine speed: a 10,000,000-addition Python loop takes {loop_speed():.2f} s of CPU (lower is faster)")
    print(f"batch size: {args.batch_size}; search indexes: {'dropped' if args.no_search_indexes else 'as migrated'}")
    for shape, path, count in files:
        print(f"file {describe_file(path, shape, count)}")
    print("users/s: the import itself; CPU: per user, import process (less start-up) and the database's backends")
    if args.event_stream:
        print("+ES: with one enabled event stream subscribed to user.created (events written, not fanned out or sent)")
    databases = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    print(ROW.format(*HEADER))
    streams = (False, True) if args.event_stream else (False,)
    runs = [(shape, path, stream) for shape, path, _count in files for stream in streams]
    for db in databases:
        for n, (shape, path, stream) in enumerate(runs):
            env = fresh_database(db, tempfile.mkdtemp(prefix="userdir-import-bench-data-"))
            if args.no_search_indexes:
                drop_search_indexes(db, env)
            if stream:
                add_event_stream(env)
            start_up = run_import(env, one, args.batch_size)["cpu"]
            if not n:
                print(f"# {db}: {database_conditions(db, env)}; start-up and exit {start_up:.2f} s of CPU")
            r = run_import(env, path, args.batch_size)
            per_user = max(r["cpu"] - start_up, 0.0) / r["total"] * 1e6
            label = shape + ("+ES" if stream else "")
            db_cpu = f"{r['db_cpu'] / r['total'] * 1e6:.0f} µs" if db == "postgres" else "(in it)"
            print(
                ROW.format(
                    db, label, f"{r['inserted']:,}", f"{r['seconds']:.1f}", f"{r['rate']:,.0f}", f"{per_user:.0f} µs",
                    db_cpu, f"{r['rss_mb']:.0f} MB", int(r["failed"]), r["load"],
                )
            )  # fmt: skip
    if args.plain:
        plain = work / "passwords.json"
        write_users(plain, args.plain, plain=True)
        bound = bcrypt_bound(10)
        env = fresh_database(databases[0], tempfile.mkdtemp(prefix="userdir-import-bench-data-"))
        r = run_import(env, plain, args.batch_size)
        print(
            f"plain passwords ({databases[0]}): {r['rate']:.1f} users/s; bcrypt bound at cost 10: {bound:.1f} "
            f"hashes/s -> {r['rate'] / bound:.0%} of the bound"
        )


if __name__ == "__main__":
    main()
