"""Benchmark ``manage.py import_users``: users/s and peak memory on SQLite and PostgreSQL, and plain passwords
against the bcrypt bound of this machine.

    .venv/bin/python bench/import_bench.py [--users 1000000] [--small 100000] [--plain 400] [--db sqlite|postgres|both]

Generates files of users in Auth0's bulk-import format (a JSON array; each user with a cost-10 bcrypt
``password_hash``, names and metadata), imports them into fresh databases with the real command, and prints
users/s and the command's peak resident memory for a small and the large file (flat memory means the two
peaks are alike). Then imports users with plain passwords, which the importer hashes over all cores, and prints
that rate beside the bcrypt bound measured in the same run. Figures, not assertions.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import bcrypt

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from run import bcrypt_bound, found  # noqa: E402 (bench/run.py, beside this file)

PYTHON = sys.executable
CONNECTION = "Username-Password-Authentication"


def write_users(path: Path, count: int, *, plain: bool = False) -> None:
    """``count`` users as one JSON array, written as a stream. Hashes come from a small pool of real cost-10
    bcrypt hashes: the importer stores hashes as they are, so computing a million of them would measure nothing.
    """
    pool = [bcrypt.hashpw(f"pool-{i}".encode(), bcrypt.gensalt(10)).decode() for i in range(16)]
    with path.open("w") as f:
        f.write("[\n")
        for i in range(count):
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
            else:
                user["password_hash"] = pool[i % len(pool)]
            f.write(("," if i else "") + json.dumps(user) + "\n")
        f.write("]\n")


def fresh_database(db: str, data_dir: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DATA_DIR": data_dir,
        "SECRET_KEY": "bench",
        "BCRYPT_ROUNDS": "10",
        "LOG_LEVEL": "WARNING",
    }
    if db == "postgres":
        url = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/userdir_import_bench")
        base, name = url.rsplit("/", 1)
        for sql in (f"DROP DATABASE IF EXISTS {name}", f"CREATE DATABASE {name}"):
            subprocess.run(["psql", base + "/postgres", "-qc", sql], check=True, capture_output=True)
        env["DATABASE_URL"] = url
    manage = [PYTHON, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], env=env, check=True, cwd=ROOT)
    subprocess.run([*manage, "create_connection", CONNECTION], env=env, check=True, cwd=ROOT, capture_output=True)
    return env


def run_import(env: dict[str, str], path: Path) -> dict[str, float]:
    """The real command in a child process; its wall time, counts and peak RSS (from wait4's rusage)."""
    started = time.monotonic()
    with tempfile.TemporaryFile("w+") as out:
        child = subprocess.Popen(
            [PYTHON, str(ROOT / "manage.py"), "import_users", str(path), "--connection", CONNECTION, "--no-progress"],
            env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        _pid, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.monotonic() - started
        out.seek(0)
        text = out.read()
    if child.returncode not in (0, 1):
        raise RuntimeError(f"import_users failed: {text}")
    inserted = int(found(r"inserted (\d+)", text))
    failed = int(found(r"failed (\d+)", text))
    importing = float(found(r"users in ([\d.]+) s", text))  # the command's own, without start-up
    return {
        "seconds": importing,
        "wall": seconds,
        "inserted": inserted,
        "failed": failed,
        "rss_mb": usage.ru_maxrss / 1024,
        "rate": inserted / importing,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=1_000_000, help="users in the large file")
    parser.add_argument("--small", type=int, default=100_000, help="users in the small file (memory baseline)")
    parser.add_argument("--plain", type=int, default=400, help="users with plain passwords (hashed at cost 10)")
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="userdir-import-bench-"))
    files = {"small": work / "small.json", "large": work / "large.json", "plain": work / "plain.json"}
    write_users(files["small"], args.small)
    write_users(files["large"], args.users)
    write_users(files["plain"], args.plain, plain=True)
    size = files["large"].stat().st_size / 1e6
    print(f"machine: {os.cpu_count()} cores; files: {args.small:,} and {args.users:,} users ({size:,.0f} MB)")
    print("users/s counts the import itself; 'with start-up' adds the command's Django start-up and exit")
    header = ("database", "users", "seconds", "users/s", "with start-up", "peak RSS", "failed")
    print("{:<10} {:>10} {:>8} {:>9} {:>14} {:>9} {:>7}".format(*header))
    databases = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    for db in databases:
        for label in ("small", "large"):
            env = fresh_database(db, tempfile.mkdtemp(prefix="userdir-import-bench-data-"))
            r = run_import(env, files[label])
            print(
                f"{db:<10} {r['inserted']:>10,} {r['seconds']:>8.1f} {r['rate']:>9,.0f} "
                f"{r['inserted'] / r['wall']:>14,.0f} "
                f"{r['rss_mb']:>6.0f} MB {int(r['failed']):>7}"
            )
    bound = bcrypt_bound(10)
    env = fresh_database(databases[0], tempfile.mkdtemp(prefix="userdir-import-bench-data-"))
    r = run_import(env, files["plain"])
    print(
        f"plain passwords ({databases[0]}): {r['rate']:.1f} users/s; bcrypt bound at cost 10: {bound:.1f} hashes/s "
        f"-> {r['rate'] / bound:.0%} of the bound"
    )


if __name__ == "__main__":
    main()
