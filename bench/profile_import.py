"""Profile ``users.imports.import_users`` in one process and one thread: where an import's own CPU goes.

    .venv/bin/python bench/profile_import.py [--users 20000] [--shape plain|rich|nohash] [--db sqlite|postgres]
                                             [--profile pyinstrument|cprofile|none]

Writes a file of ``bench/import_bench.py``'s users, migrates a fresh database (SQLite in a temporary data directory,
or ``BENCH_DATABASE_URL``, dropped and created), and imports it with ``pipelined=False`` so reading, validation,
row building and the database's statements all run in the profiled thread. Prints the profile (pyinstrument's
call tree, or cProfile's top functions by own time), then the import's CPU time per user and the load average.
The database server's own work is not in the profile (on PostgreSQL it runs in another process: see the
``DB CPU`` column of ``bench/import_bench.py``). A profiler slows Python code down several times, unevenly: read
the shares, not the times.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from import_bench import CONNECTION, DEFAULT_PG_URL, SHAPES, load, write_users  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--shape", choices=SHAPES, default="plain")
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--profile", choices=["pyinstrument", "cprofile", "none"], default="pyinstrument")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="userdir-import-profile-"))
    path = work / "users.json"
    write_users(path, args.users, shape=args.shape)
    settings = {"DJANGO_SETTINGS_MODULE": "config.settings", "SECRET_KEY": "bench", "LOG_LEVEL": "WARNING"}
    os.environ.update({**settings, "DATA_DIR": str(work)})
    if args.db == "postgres":
        url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_PG_URL)
        base, name = url.rsplit("/", 1)
        for sql in (f"DROP DATABASE IF EXISTS {name}", f"CREATE DATABASE {name}"):
            subprocess.run(["psql", base + "/postgres", "-qc", sql], check=True, capture_output=True)
        os.environ["DATABASE_URL"] = url

    import django

    django.setup()
    from django.core.management import call_command

    from connections.selectors import get_connection
    from core.actors import Actor
    from users.imports import import_users

    call_command("migrate", verbosity=0)
    call_command("create_connection", CONNECTION, stdout=open(os.devnull, "w"))  # noqa: SIM115
    connection = get_connection(name=CONNECTION)

    def run() -> None:
        with path.open("rb") as source:
            import_users(source, connection=connection, actor=Actor(kind="system", id="bench"), pipelined=False)

    started = time.process_time()
    if args.profile == "pyinstrument":
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.001)
        profiler.start()
        run()
        profiler.stop()
        print(profiler.output_text(unicode=True, color=False))
    elif args.profile == "cprofile":
        import cProfile
        import pstats

        profile = cProfile.Profile()
        profile.runcall(run)
        pstats.Stats(profile).sort_stats("tottime").print_stats(30)
    else:
        run()
    cpu = time.process_time() - started
    print(
        f"{args.users:,} {args.shape} users into {args.db}: {cpu:.2f} s of CPU ({cpu / args.users * 1e6:.0f} µs/user)"
    )
    print(f"load {load()}")


if __name__ == "__main__":
    main()
