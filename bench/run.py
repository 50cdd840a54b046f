"""Benchmark creates against gunicorn with wrk, beside the bcrypt bound of this machine.

    .venv/bin/python bench/run.py [--db sqlite|postgres] [--workers N] [--threads N] [--duration S]

Prints, for concurrency 1, 4 and 16: creates/s and p50/p90/p99 latency; the bcrypt bound (hashes per second over
all cores at the configured cost) and the ratio of the two; and the same run with the cheapest bcrypt cost (4),
which shows the server's own work per create. Needs wrk (apt-get install wrk). Figures, not assertions.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import bcrypt

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


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


def _latency_ms(text: str, label: str) -> float:
    match = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    if not match:
        return float("nan")
    value, unit = float(match.group(1)), match.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def run_wrk(url: str, token: str, concurrency: int, duration: int) -> dict[str, float]:
    env = {**os.environ, "BENCH_TOKEN": token, "BENCH_RUN": secrets.token_hex(4)}
    out = subprocess.run(
        ["wrk", "-t", str(min(concurrency, 4)), "-c", str(concurrency), "-d", f"{duration}s", "--latency",
         "-s", str(ROOT / "bench" / "create_users.lua"), url],
        capture_output=True, text=True, env=env, check=True,
    ).stdout  # fmt: skip
    requests = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": requests,
        "p50": _latency_ms(out, "50"),
        "p90": _latency_ms(out, "90"),
        "p99": _latency_ms(out, "99"),
        "non2xx": float(errors.group(1)) if errors else 0.0,
    }


def serve(env: dict[str, str], workers: int, threads: int) -> subprocess.Popen:
    manage = [PYTHON, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], env=env, check=True, cwd=ROOT)
    subprocess.run(
        [*manage, "create_connection", "Username-Password-Authentication", "--if-missing"],
        env=env, check=True, cwd=ROOT, capture_output=True,
    )  # fmt: skip
    process = subprocess.Popen(
        [PYTHON, "-m", "gunicorn", "config.wsgi", "-b", "127.0.0.1:8799",
         "-w", str(workers), "--threads", str(threads)],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    time.sleep(3)
    return process


def bench(db: str, rounds: int, workers: int, threads: int, duration: int) -> list[tuple[int, dict[str, float]]]:
    data = tempfile.mkdtemp(prefix="userdir-bench-")
    env = {
        **os.environ,
        "DATA_DIR": data,
        "SECRET_KEY": "bench",
        "BCRYPT_ROUNDS": str(rounds),
        "MANAGEMENT_API_RATE_LIMIT": "off",
        "LOG_LEVEL": "WARNING",
    }
    if db == "postgres":
        env["DATABASE_URL"] = os.environ.get(
            "BENCH_DATABASE_URL", "postgres://postgres:postgres@127.0.0.1:5432/userdir_bench"
        )
        subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-c", "DROP DATABASE IF EXISTS userdir_bench"],
                       capture_output=True)  # fmt: skip
        subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-c", "CREATE DATABASE userdir_bench"],
                       capture_output=True)  # fmt: skip
    token = subprocess.run(
        [PYTHON, str(ROOT / "manage.py"), "issue_token", "--scopes", "create:users"],
        env=env, cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    server = serve(env, workers, threads)
    try:
        return [(c, run_wrk("http://127.0.0.1:8799", token, c, duration)) for c in (1, 4, 16)]
    finally:
        server.terminate()
        server.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--duration", type=int, default=10)
    args = parser.parse_args()

    bound = bcrypt_bound(args.rounds)
    print(f"machine: {os.cpu_count()} cores; bcrypt bound at cost {args.rounds}: {bound:.1f} hashes/s")
    print(f"server: gunicorn {args.workers} workers x {args.threads} threads, {args.db}")
    print(f"{'conc':>4} {'creates/s':>10} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'vs bound':>9} {'non-2xx':>8}")
    for concurrency, r in bench(args.db, args.rounds, args.workers, args.threads, args.duration):
        print(
            f"{concurrency:>4} {r['rps']:>10.1f} {r['p50']:>8.1f} {r['p90']:>8.1f} {r['p99']:>8.1f} "
            f"{r['rps'] / bound:>8.0%} {int(r['non2xx']):>8}"
        )
    cheap = bench(args.db, 4, args.workers, args.threads, args.duration)
    best = max(r["rps"] for _c, r in cheap)
    cores = os.cpu_count() or 1
    print(f"cheapest hash (cost 4): up to {best:.0f} creates/s -> about {cores * 1000 / best:.2f} ms of CPU per create")


if __name__ == "__main__":
    main()
