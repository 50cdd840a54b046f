"""Benchmark user search, ``GET /api/v2/users?q=<Lucene>&search_engine=v3``, through gunicorn (issue 14).

    .venv/bin/python bench/search_bench.py [--db sqlite|postgres] [--users N] [--reuse] [--seed-only]
        [--project DIR] [--seed-with DIR] [--requests 200] [--warmup 20] [--budget 60] [--least 5]
        [--workers 1] [--port 8061] [--explain] [--kinds "exact email,prefix name,..."]

    # e.g. a branch under test, seeded once by main's import (kept in $TMPDIR for --reuse):
    .venv/bin/python bench/search_bench.py --db postgres --project ../wt-search --seed-with . --explain

Seeds N users (default 1,000,000 on PostgreSQL, 100,000 on SQLite) in three database connections through the
real bulk import (``manage.py import_users``, fed a JSON array on standard input; imported password hashes, so no
bcrypt cost): names from lists, e-mails over 400 domains with a Zipf spread, app_metadata and user_metadata of a
realistic shape (some users without, a few with empty arrays and objects). The import stamps every user with the
time of the import, so ``created_at`` is then spread over three years by one UPDATE (``updated_at`` a little
later; ``logins_count`` and ``last_login`` too when the model has them), and the output says so. The seeded
database is kept: ``--reuse`` measures it again without seeding (an interrupted seeding resumes: the import skips
the users it already has). Seeding prints its rate.

Then starts gunicorn on the seeded database (``--workers`` workers, 4 threads, as ``scripts/serve.sh`` does),
issues a ``read:users`` token with ``manage.py issue_token``, and for each query kind sends ``--warmup`` then
``--requests`` requests one after another over one keep-alive connection, each with values drawn from the seeded
users (so the intended matches exist), and prints per kind: p50 and p99 latency, the mean number of users
returned, the mean ``total`` where ``include_totals`` is asked, the target of issue 14 where it sets one, and
the load average at the end of the kind. A kind the server refuses (a 4xx, e.g. before search exists) is shown
with its status and message instead of figures. ``--explain`` then runs each kind once inside Django (the code of
``--project``), captures the SQL the view ran on the users table, and prints PostgreSQL's
``EXPLAIN (ANALYZE, BUFFERS)`` top node and times (SQLite: ``EXPLAIN QUERY PLAN``); the full plans go to a file.

PostgreSQL runs use ``BENCH_DATABASE_URL`` (default ``postgres://postgres@127.0.0.1:5432/userdir_bench``; it is
dropped and created unless ``--reuse`` finds it seeded). ``--project`` runs the server, the import and the
migrations from another checkout (e.g. a worktree of a branch under test) with this script. ``--data-dir``
(default ``$TMPDIR/userdir-search-bench-<db>-<N>``) holds the SQLite file, the signing key and the plans.
Rate limits stay on, in Redis when ``REDIS_URL`` is set, at a rate the benchmark cannot reach. A slow kind stops
after ``--budget`` seconds once ``--least`` requests are measured (the ``n`` column). ``--seed-with`` imports with
another checkout than the one measured (the measured one then migrates the seeded database: its new indexes are
built there, timed). Figures, not assertions.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import itertools
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import requests

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
DEFAULT_PG_URL = "postgres://postgres@127.0.0.1:5432/userdir_bench"
# Bump when the generated users change: a kept database of another shape is seeded again.
SHAPE = 1
SEED = 14

# Connections and the share of users in each (contiguous ranges of the user index).
CONNECTIONS = (("Username-Password-Authentication", 0.7), ("corp-directory", 0.2), ("legacy-import", 0.1))

# created_at spans three years before this instant (fixed, so every run draws the same dates).
SPAN_END = datetime(2026, 11, 1, tzinfo=UTC)
SPAN_SECONDS = 3 * 365 * 86400
SPAN_START = SPAN_END - timedelta(seconds=SPAN_SECONDS)
# Multipliers of the UPDATE that spreads the dates: id * K mod span scatters consecutive ids over the span.
SPREAD_K = 2654435761
UPDATE_K = 40503
# Share of all users a date-range query covers (10 %: 100,000 of a million).
RANGE_SHARE = 0.1


def _words(text: str) -> list[str]:
    return text.split()


GIVEN = _words(
    "James Mary John Patricia Robert Jennifer Michael Linda William Elizabeth David Barbara Richard Susan "
    "Joseph Jessica Thomas Sarah Charles Karen Christopher Nancy Daniel Lisa Matthew Betty Anthony Margaret "
    "Mark Sandra Donald Ashley Steven Kimberly Paul Emily Andrew Donna Joshua Michelle Kenneth Carol Kevin "
    "Amanda Brian Melissa George Deborah Timothy Stephanie Hiroshi Yuki Amelie Lucas Sofia Mateo Chloe Noah "
    "Ines Kenji"
)
FAMILY = _words(
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez "
    "Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark Ramirez "
    "Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams Nelson Baker "
    "Hall Rivera Campbell Mitchell Carter Roberts Dubois Moreau Laurent Schmidt Fischer Weber Rossi Russo "
    "Tanaka Suzuki Sato Watanabe Kowalski Novak Silva Santos Jensen Larsen Berg Lindqvist Murphy Kelly Walsh "
    "Byrne Cohen Levi"
)
PROVIDERS = ["gmail.com", "outlook.com", "yahoo.com", "hotmail.com", "icloud.com", "proton.me", "gmx.de", "yahoo.co.jp"]
DOMAINS = PROVIDERS + [f"company{k}.example" for k in range(1, 393)]  # 400, ranked for the Zipf spread
CITIES = (
    ("Paris", "FR"), ("London", "GB"), ("New York", "US"), ("Tokyo", "JP"), ("Berlin", "DE"), ("Madrid", "ES"),
    ("San Francisco", "US"), ("Osaka", "JP"), ("Lyon", "FR"), ("Munich", "DE"), ("Toronto", "CA"), ("Sydney", "AU"),
    ("Chicago", "US"), ("Rome", "IT"), ("Milan", "IT"), ("Amsterdam", "NL"), ("Dublin", "IE"), ("Lisbon", "PT"),
    ("Barcelona", "ES"), ("Seattle", "US"), ("Austin", "US"), ("Boston", "US"), ("Kyoto", "JP"), ("Hamburg", "DE"),
    ("Marseille", "FR"), ("Vienna", "AT"), ("Zurich", "CH"), ("Geneva", "CH"), ("Stockholm", "SE"), ("Oslo", "NO"),
    ("Copenhagen", "DK"), ("Helsinki", "FI"), ("Warsaw", "PL"), ("Prague", "CZ"), ("Brussels", "BE"),
    ("Montreal", "CA"), ("Vancouver", "CA"), ("Melbourne", "AU"), ("Auckland", "NZ"), ("Singapore", "SG"),
)  # fmt: skip
LANGUAGES = ("en", "fr", "de", "ja", "es", "it", "pt", "nl")
SUB_PLANS = ("starter", "team", "business", "enterprise")
TENANTS = 5000


def _zipf(n: int, s: float = 1.0) -> list[float]:
    """Cumulative Zipf weights of ``n`` ranks, for ``random.choices(cum_weights=...)``."""
    return list(itertools.accumulate(1 / rank**s for rank in range(1, n + 1)))


DOMAIN_CUM = _zipf(len(DOMAINS))
CITY_CUM = _zipf(len(CITIES))
LANGUAGE_CUM = _zipf(len(LANGUAGES), 1.5)


@dataclass(frozen=True)
class Seeded:
    """What a seeded database holds: enough to rebuild any user and to draw query values."""

    users: int

    def connection_of(self, i: int) -> str:
        edge = 0.0
        for name, share in CONNECTIONS:
            edge += share * self.users
            if i < edge:
                return name
        return CONNECTIONS[-1][0]

    def ranges(self) -> list[tuple[str, range]]:
        """Each connection's users, as a range of user indexes."""
        bounds, edge = [0], 0.0
        for _name, share in CONNECTIONS:
            edge += share * self.users
            bounds.append(round(edge))
        bounds[-1] = self.users
        return [(name, range(bounds[k], bounds[k + 1])) for k, (name, _share) in enumerate(CONNECTIONS)]


def local_id(i: int) -> str:
    """User ``i``'s id without the provider: 24 hex digits, like Auth0's."""
    return hashlib.blake2b(f"{SEED}-{i}".encode(), digest_size=12).hexdigest()


def make_user(i: int, password_hashes: list[str]) -> dict[str, Any]:
    """User ``i`` in Auth0's bulk-import format: the same every time for the same ``i``."""
    rnd = random.Random(SEED * 10_000_019 + i)
    given, family = rnd.choice(GIVEN), rnd.choice(FAMILY)
    domain = rnd.choices(DOMAINS, cum_weights=DOMAIN_CUM)[0]
    user: dict[str, Any] = {
        "user_id": local_id(i),
        "email": f"{given}.{family}.{i}@{domain}".lower(),
        "email_verified": rnd.random() < 0.7,
        "given_name": given,
        "family_name": family,
        "name": f"{given} {family}",
        "nickname": given.lower(),
        "password_hash": password_hashes[i % len(password_hashes)],
    }
    roll = rnd.random()
    if roll < 0.01:
        user["app_metadata"] = {}
    elif roll >= 0.1:  # 9 % have none
        plan = "gold" if rnd.random() < 0.1 else "silver" if rnd.random() < 0.3 else "free"
        app: dict[str, Any] = {"plan": plan, "tenant_id": f"t-{rnd.randrange(1, TENANTS + 1)}"}
        if rnd.random() < 0.6:
            app["subscription"] = {"plan": rnd.choice(SUB_PLANS), "seats": int(rnd.paretovariate(1.2))}
        roles = ["user"] + (["admin"] if rnd.random() < 0.05 else []) + (["billing"] if rnd.random() < 0.1 else [])
        app["roles"] = [] if rnd.random() < 0.01 else roles
        user["app_metadata"] = app
    roll = rnd.random()
    if roll < 0.01:
        user["user_metadata"] = {}
    elif roll >= 0.15:  # 14 % have none
        addresses = []
        for _n in range(rnd.choice((0, 1, 1, 1, 2)) if roll >= 0.17 else 0):  # 2 % an empty array
            city, country = rnd.choices(CITIES, cum_weights=CITY_CUM)[0]
            addresses.append({"city": city, "country": country})
        user["user_metadata"] = {
            "addresses": addresses,
            "preferences": {
                "language": rnd.choices(LANGUAGES, cum_weights=LANGUAGE_CUM)[0],
                "newsletter": rnd.random() < 0.3,
            },
        }
    return user


# --- the project under test: its commands, its server ------------------------------------------------------------


@dataclass
class Target:
    """The checkout that runs, and the database and data directory it runs on."""

    project: Path
    db: str
    url: str | None
    data_dir: Path
    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.env = {
            **os.environ,
            "DATA_DIR": str(self.data_dir),
            "SECRET_KEY": "bench",
            "LOG_LEVEL": "WARNING",
            "MANAGEMENT_API_RATE_LIMIT": "10000000/minute",
            "PYTHONPATH": str(self.project),
        }
        if self.url:
            self.env["DATABASE_URL"] = self.url
        else:
            self.env.pop("DATABASE_URL", None)

    def manage(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [PYTHON, str(self.project / "manage.py"), *args],
            env=self.env, cwd=self.project, check=True, text=True, capture_output=True, **kwargs,
        )  # fmt: skip

    def helper(self, task: str, payload: Any = None) -> Any:
        """Run ``task`` of this script inside Django with the project's code (``_in_project``); its JSON answer."""
        done = subprocess.run(
            [PYTHON, __file__, "--in-project", task],
            env=self.env, cwd=self.project, input=json.dumps(payload), text=True, capture_output=True,
        )  # fmt: skip
        if done.returncode:
            raise RuntimeError(f"{task} failed:\n{done.stderr}")
        return json.loads(done.stdout)

    @property
    def manifest(self) -> Path:
        return self.data_dir / "search_bench.json"


def read_manifest(target: Target) -> dict[str, Any]:
    try:
        return dict(json.loads(target.manifest.read_text()))
    except (OSError, ValueError):
        return {}


def write_manifest(target: Target, manifest: dict[str, Any]) -> None:
    target.manifest.write_text(json.dumps(manifest))


def prepare_database(target: Target, seeder: Target, users: int, reuse: bool) -> None:
    """A database of ``users`` seeded users, imported by ``seeder``'s checkout, then migrated by the project under
    test: kept when ``reuse`` finds it seeded, resumed when half done, else made afresh."""
    manifest = read_manifest(target)
    kept = reuse and manifest.get("users") == users and manifest.get("shape") == SHAPE
    if not kept:
        if target.data_dir.exists():
            shutil.rmtree(target.data_dir)
        if target.url:
            base, name = target.url.rsplit("/", 1)
            for sql in (f"DROP DATABASE IF EXISTS {name}", f"CREATE DATABASE {name}"):
                subprocess.run(["psql", base + "/postgres", "-qc", sql], check=True, capture_output=True)
        manifest = {"users": users, "shape": SHAPE, "imported": [], "spread": ""}
    target.data_dir.mkdir(parents=True, exist_ok=True)
    write_manifest(target, manifest)
    if kept:
        counted = target.helper("count")["users"] if len(manifest["imported"]) == len(CONNECTIONS) else -1
        if counted != users:  # an interrupted import: run them all again, the importer skips what is there
            print(f"resuming the seeding: {max(counted, 0):,} of {users:,} users present")
            manifest["imported"] = []
    if len(manifest["imported"]) < len(CONNECTIONS):
        seeder.manage("migrate", "-v0")
        for name, _share in CONNECTIONS:
            seeder.manage("create_connection", name, "--strategy", "auth0", "--if-missing")
        import_all(seeder, Seeded(users), manifest)
    # The migrations of the project under test (on a seeded database its indexes are built here: timed).
    started = time.monotonic()
    target.manage("migrate", "-v0")
    print(f"migrate ({target.project.name}): {time.monotonic() - started:.1f} s")
    state = target.helper("count")
    print(f"database: {state['users']:,} of {users:,} users")
    spread_dates(target, manifest, logins=state["logins"])


def import_all(target: Target, seeded: Seeded, manifest: dict[str, Any]) -> None:
    """Import the users not yet imported, connection by connection; print the rates."""
    import bcrypt  # only seeding needs it

    hashes = [bcrypt.hashpw(f"pool-{n}".encode(), bcrypt.gensalt(10)).decode() for n in range(8)]
    started = time.monotonic()
    imported = 0
    for name, indexes in seeded.ranges():
        if name in manifest["imported"]:
            continue
        t0 = time.monotonic()
        summary = import_range(target, name, indexes, hashes)
        seconds = time.monotonic() - t0
        imported += len(indexes)
        rate = len(indexes) / seconds
        print(f"seeded {name}: {len(indexes):,} users in {seconds:.1f} s ({rate:,.0f} users/s): {summary}")
        manifest["imported"].append(name)
        write_manifest(target, manifest)
    if imported:
        seconds = time.monotonic() - started
        print(f"import: {imported:,} users in {seconds:.1f} s ({imported / seconds:,.0f} users/s, load {load()})")


def spread_dates(target: Target, manifest: dict[str, Any], *, logins: bool) -> None:
    """Spread created_at (and the login statistics, once the model has them) unless done already."""
    done = {True: "dates", "": ""}.get(manifest["spread"], manifest["spread"])  # True: an older manifest
    if done == "dates+logins" or (done == "dates" and not logins):
        return
    t0 = time.monotonic()
    spread = target.helper("spread")
    print(
        f"dates: created_at spread over {SPAN_START:%Y-%m-%d}..{SPAN_END:%Y-%m-%d} by one UPDATE after the import "
        f"(the import stamps every user with its own time); {spread} ({time.monotonic() - t0:.1f} s)"
    )
    manifest["spread"] = "dates+logins" if logins else "dates"
    write_manifest(target, manifest)


def import_range(target: Target, connection: str, indexes: range, hashes: list[str]) -> str:
    """Feed users ``indexes`` to ``import_users -`` as one JSON array; the command's summary line."""
    with tempfile.TemporaryFile("w+") as out:
        child = subprocess.Popen(
            [PYTHON, str(target.project / "manage.py"), "import_users", "-", "--connection", connection,
             "--no-progress", "--rejects", str(target.data_dir / "rejects.json")],
            env=target.env, cwd=target.project, stdin=subprocess.PIPE, stdout=out, stderr=subprocess.STDOUT,
            text=True,
        )  # fmt: skip
        assert child.stdin is not None
        write_array(child.stdin, (make_user(i, hashes) for i in indexes))
        child.stdin.close()
        child.wait()
        out.seek(0)
        text = out.read().strip()
    summary = text.splitlines()[0] if text else ""
    if child.returncode not in (0, 1) or not re.match(r"\d+ users in ", summary):  # a crash exits 1 too
        raise RuntimeError(f"import_users failed: {text}")
    if child.returncode == 1:
        summary += f" (rejects in {target.data_dir / 'rejects.json'})"
    return summary


def write_array(stream: IO[str], users: Iterator[dict[str, Any]]) -> None:
    stream.write("[\n")
    chunk: list[str] = []
    for n, user in enumerate(users):
        chunk.append(("," if n else "") + json.dumps(user))
        if len(chunk) == 1000:
            stream.write("\n".join(chunk) + "\n")
            chunk = []
    stream.write("\n".join(chunk) + "\n]\n")


class Server:
    """gunicorn on the target, as ``scripts/serve.sh`` starts it; stopped by its own process id."""

    def __init__(self, target: Target, port: int, workers: int) -> None:
        self.base = f"http://127.0.0.1:{port}"
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                raise SystemExit(f"port {port} is in use: pass --port")
        self.process = subprocess.Popen(
            [PYTHON, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
             "--threads", "4", "--forwarded-allow-ips", "127.0.0.1", "--no-control-socket"],
            env=target.env, cwd=target.project, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            start_new_session=True,
        )  # fmt: skip
        try:
            self._wait_until_up()
        except BaseException:
            self.stop()
            raise

    def _wait_until_up(self) -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.base}/health", timeout=30).status_code == 200:
                    return
            except requests.RequestException:
                pass
            if self.process.poll() is not None:
                raise SystemExit(f"gunicorn exited: {self.process.stderr.read() if self.process.stderr else ''}")
            time.sleep(0.3)
        raise SystemExit("gunicorn did not answer /health within 120 s")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


# --- query kinds -----------------------------------------------------------------------------------------------


Params = dict[str, str]


@dataclass(frozen=True)
class Kind:
    name: str
    make: Callable[[random.Random], Params]
    target_ms: float | None = None  # issue 14's p50 target


def kinds(seeded: Seeded) -> list[Kind]:
    """Every query kind, each drawing its values from the seeded users."""
    n = seeded.users

    def user(rnd: random.Random) -> dict[str, Any]:
        return make_user(rnd.randrange(n), ["x"])

    def q(text: str, **extra: str) -> Params:
        return {"q": text, "search_engine": "v3", **extra}

    def mid_domain(rnd: random.Random) -> str:
        return DOMAINS[rnd.randrange(10, len(DOMAINS))]  # ranks 11..400: tens to thousands of users

    def date_range(rnd: random.Random) -> Params:
        width = SPAN_SECONDS * RANGE_SHARE
        start = SPAN_START + timedelta(seconds=rnd.uniform(0, SPAN_SECONDS - width))
        end = start + timedelta(seconds=width)
        return q(f"created_at:[{start:%Y-%m-%dT%H:%M:%S} TO {end:%Y-%m-%dT%H:%M:%S}]", include_totals="true")

    def city(rnd: random.Random) -> str:
        return str(rnd.choices(CITIES, cum_weights=CITY_CUM)[0][0])

    def email_prefix(rnd: random.Random) -> Params:
        someone = user(rnd)
        return q(f"email:{someone['given_name'].lower()}.{someone['family_name'][:3].lower()}*")

    def combo(rnd: random.Random) -> Params:
        language = rnd.choice(LANGUAGES[1:])
        return q(
            f'app_metadata.plan:"gold" AND (user_metadata.preferences.language:"{language}" '
            f'OR email.domain:"{mid_domain(rnd)}")'
        )

    return [
        Kind("baseline (no q)", lambda rnd: {"per_page": "50"}),
        Kind("exact email", lambda rnd: q(f'email:"{user(rnd)["email"]}"'), 5),
        Kind("exact user_id", lambda rnd: q(f'user_id:"auth0|{local_id(rnd.randrange(n))}"'), 5),
        Kind("email.domain", lambda rnd: q(f'email.domain:"{mid_domain(rnd)}"')),
        Kind("app_metadata exact", lambda rnd: q('app_metadata.plan:"gold"', per_page="50"), 10),
        Kind("app_metadata selective", lambda rnd: q(f'app_metadata.tenant_id:"t-{rnd.randrange(1, TENANTS)}"'), 10),
        Kind("nested metadata", lambda rnd: q(f'app_metadata.subscription.plan:"{rnd.choice(SUB_PLANS)}"')),
        Kind("metadata via array", lambda rnd: q(f'user_metadata.addresses.city:"{city(rnd)}"')),
        Kind("prefix email", email_prefix, 20),
        Kind("prefix name", lambda rnd: q(f"name:{rnd.choice(GIVEN)[:4].lower()}*"), 20),
        Kind("suffix email", lambda rnd: q(f"email:*@{mid_domain(rnd)}")),
        Kind("_exists_", lambda rnd: q("_exists_:app_metadata.subscription")),
        Kind("date range + totals", date_range, 150),
        Kind("logins_count range", lambda rnd: q(f"logins_count:[{rnd.randrange(50, 150)} TO 200]")),
        Kind("bare term", lambda rnd: q(rnd.choice(FAMILY).lower())),
        Kind("AND/OR", combo),
        Kind("sort last_login", lambda rnd: q('app_metadata.plan:"silver"', sort="last_login:-1")),
    ]


@dataclass
class Result:
    kind: Kind
    example: str
    times_ms: list[float] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)
    totals: list[int] = field(default_factory=list)
    error: str = ""
    load: str = ""


def measure(
    session: requests.Session, base: str, kind: Kind, count: int, warmup: int, seed: int, budget: float, least: int
) -> Result:
    """``warmup`` then ``count`` requests of ``kind``, one after another; stops at the first refusal. A slow kind
    warms up for at most a quarter of ``budget`` seconds and stops after ``budget`` once ``least`` requests are measured
    (its figures then rest on fewer requests: the table shows how many)."""
    rnd = random.Random(seed)
    started = time.monotonic()
    warm_until, deadline = started + budget / 4, started + budget
    example = kind.make(random.Random(seed))
    result = Result(kind, "&".join(f"{k}={v}" for k, v in example.items() if k != "search_engine"))
    warming = warmup
    while warming or len(result.times_ms) < count:
        params = kind.make(rnd)
        sent = time.perf_counter()
        try:
            response = session.get(f"{base}/api/v2/users", params=params, timeout=120)
        except requests.RequestException as exc:
            result.error = f"no answer: {exc}"
            break
        elapsed = (time.perf_counter() - sent) * 1000
        if response.status_code != 200:
            try:
                body = response.json()
                reason = f"{body.get('errorCode', '')}: {body.get('message', '')}"
            except ValueError:
                reason = response.text[:200]
            result.error = f"{response.status_code} {reason}"
            break
        if warming:
            warming = warming - 1 if time.monotonic() < warm_until else 0
            deadline = time.monotonic() + budget
            continue
        body = response.json()
        result.times_ms.append(elapsed)
        if isinstance(body, dict):
            result.rows.append(len(body["users"]))
            result.totals.append(int(body["total"]))
        else:
            result.rows.append(len(body))
        if len(result.times_ms) >= least and time.monotonic() > deadline:
            break
    result.load = load()
    return result


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def print_table(results: list[Result]) -> None:
    head = (
        f"{'kind':<23} {'n':>4} {'p50 ms':>8} {'p99 ms':>8} {'rows':>6} {'total':>9} {'target':>8} {'load':>15}  "
        "example q"
    )
    print(head)
    print("-" * len(head))
    refusals: dict[str, list[str]] = {}
    for r in results:
        target = f"<={r.kind.target_ms:g}" if r.kind.target_ms else ""
        if r.error:
            status = " ".join(r.error.split(" ", 2)[:2]).rstrip(":")
            print(f"{r.kind.name:<23} {'':>4} {status:<34} {target:>8} {r.load:>15}  {r.example}")
            refusals.setdefault(r.error, []).append(r.kind.name)
            continue
        p50 = statistics.median(r.times_ms)
        mark = ""
        if r.kind.target_ms:
            mark = " ok" if p50 <= r.kind.target_ms else " MISS"
        total = f"{statistics.mean(r.totals):,.0f}" if r.totals else ""
        print(
            f"{r.kind.name:<23} {len(r.times_ms):>4} {p50:>8.2f} {percentile(r.times_ms, 0.99):>8.2f} "
            f"{statistics.mean(r.rows):>6.1f} {total:>9} {target + mark:>8} {r.load:>15}  {r.example}"
        )
    for error, names in refusals.items():
        print(f"refused ({', '.join(names)}): {error}")


def print_plans(target: Target, results: list[Result], token: str, seed: int) -> None:
    """One request of each kind inside Django: the users-table SQL it ran, explained; full plans to a file."""
    requests_ = [(r.kind.name, r.kind.make(random.Random(seed))) for r in results if not r.error]
    plans = target.helper("explain", {"token": token, "requests": requests_})
    path = target.data_dir / f"plans-{target.db}.txt"
    with path.open("w") as out:
        print(f"\nplans ({'EXPLAIN (ANALYZE, BUFFERS)' if target.db == 'postgres' else 'EXPLAIN QUERY PLAN'}):")
        print(f"{'kind':<23} {'#':>2} {'ms':>9}  top node / plan")
        for plan in plans:
            out.write(f"== {plan['kind']} #{plan['n']}: {plan['sql']}\n{plan['plan']}\n\n")
            print(f"{plan['kind']:<23} {plan['n']:>2} {plan['ms']:>9.2f}  {plan['summary']}")
    print(f"full plans and SQL: {path}")


# --- inside Django (``--in-project``): counting, spreading dates, explaining ------------------------------------


def in_project(task: str) -> None:
    """Run ``task`` with the project of the working directory; print its JSON answer."""
    sys.path.insert(0, os.getcwd())
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    payload = json.loads(sys.stdin.read() or "null")
    answer = {"count": _count, "spread": _spread, "explain": _explain}[task](payload)
    print(json.dumps(answer))


def _count(_payload: Any) -> dict[str, Any]:
    """How many users there are, and whether the model has the login statistics (``logins_count``)."""
    from users.models import User

    names = {f.name for f in User._meta.get_fields()}
    return {"users": User.objects.count(), "logins": {"logins_count", "last_login"} <= names}


def _spread(_payload: Any) -> str:
    """created_at over the span (id * K mod span), updated_at up to 30 days later; logins when the model has them."""
    from django.core.exceptions import FieldDoesNotExist
    from django.db import connection
    from django.db.models import Field

    from users.models import User

    table = connection.ops.quote_name(User._meta.db_table)
    columns = {}
    for name in ("last_login", "logins_count"):
        with contextlib.suppress(FieldDoesNotExist):
            column = User._meta.get_field(name)
            if isinstance(column, Field) and column.column:
                columns[name] = connection.ops.quote_name(column.column)
    offset = f"((id * {SPREAD_K}) % {SPAN_SECONDS})"
    later = f"(({offset} + (id * {UPDATE_K}) % 2592000) % {SPAN_SECONDS})"
    start = int(SPAN_START.timestamp())
    if connection.vendor == "postgresql":
        base = f"to_timestamp({start})"
        created, updated = f"{base} + make_interval(secs => {offset})", f"{base} + make_interval(secs => {later})"
    else:
        created, updated = f"datetime({start} + {offset}, 'unixepoch')", f"datetime({start} + {later}, 'unixepoch')"
    sets = [f"created_at = {created}", f"updated_at = {updated}"]
    said = "updated_at up to 30 days after created_at"
    if len(columns) == 2:
        # Product of two uniform draws: most users log in rarely, a few often; no login means no last_login.
        logins = "(((id * 7919) % 1000) * ((id * 104729) % 1000) / 2500)"
        sets.append(f"{columns['logins_count']} = {logins}")
        sets.append(f"{columns['last_login']} = CASE WHEN {logins} = 0 THEN NULL ELSE {updated} END")
        said += "; logins_count 0..399 (skewed low), last_login = updated_at when logins_count > 0"
    else:
        said += "; the model has no logins_count/last_login columns: not seeded"
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET {', '.join(sets)}")  # noqa: S608 (our own expressions)
        rows = cursor.rowcount
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM ANALYZE {table}")  # what autovacuum would do after such an UPDATE
        said += "; then VACUUM ANALYZE"
    return f"{rows:,} rows; {said}"


def _explain(payload: dict[str, Any]) -> list[dict[str, Any]]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from users.models import User

    table = User._meta.db_table
    client = Client(SERVER_NAME="127.0.0.1", headers={"Authorization": f"Bearer {payload['token']}"})
    plans = []
    for kind, params in payload["requests"]:
        with CaptureQueriesContext(connection) as captured:
            status = client.get("/api/v2/users", params).status_code
        statements = [
            q["sql"] for q in captured.captured_queries if table in q["sql"] and q["sql"].startswith("SELECT")
        ]
        if status != 200:
            plans.append({"kind": kind, "n": 0, "ms": 0.0, "summary": f"status {status}", "sql": "", "plan": ""})
        for n, sql in enumerate(statements, 1):
            plans.append({"kind": kind, "n": n, "sql": sql, **_plan(connection, sql)})
    return plans


def _plan(connection: Any, sql: str) -> dict[str, Any]:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
            lines = [row[0] for row in cursor.fetchall()]
            text = "\n".join(lines)
            took = re.search(r"Execution Time: ([\d.]+) ms", text)
            top = re.match(r"\s*(?:->\s*)?(.*?)\s+\(cost=[^)]*\) \(actual time=[\d.]+\.\.([\d.]+) rows=(\d+)", lines[0])
            nodes = [m.group(1).strip() for line in lines[1:] if (m := re.match(r"\s*->\s*(.*?)\s+\(cost", line))]
            summary = f"{top.group(1)} rows={top.group(3)}" if top else lines[0]
            summary += " | " + " > ".join(nodes[:3]) if nodes else ""
            return {"ms": float(took.group(1)) if took else 0.0, "summary": summary[:150], "plan": text}
        cursor.execute(f"EXPLAIN QUERY PLAN {sql}")
        details = [str(row[-1]) for row in cursor.fetchall()]
        started = time.perf_counter()
        cursor.execute(sql)
        cursor.fetchall()
        ms = (time.perf_counter() - started) * 1000
        return {"ms": ms, "summary": "; ".join(details)[:150], "plan": "\n".join(details)}


# --- main --------------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--users", type=int, help="users to seed (default 1,000,000 on PostgreSQL, 100,000 on SQLite)")
    parser.add_argument("--reuse", action="store_true", help="measure the kept seeded database again (or resume)")
    parser.add_argument("--project", type=Path, default=ROOT, help="the checkout to run (default: this one)")
    parser.add_argument("--seed-with", type=Path, help="the checkout whose import seeds (default: --project)")
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--budget", type=float, default=60, help="seconds per kind before it stops early")
    parser.add_argument("--least", type=int, default=5, help="requests a kind measures even past its budget")
    parser.add_argument("--requests", type=int, default=200, help="measured requests per kind")
    parser.add_argument("--warmup", type=int, default=20, help="unmeasured requests per kind first")
    parser.add_argument("--workers", type=int, default=1, help="gunicorn workers (4 threads each)")
    parser.add_argument("--port", type=int, default=8061)
    parser.add_argument("--explain", action="store_true", help="explain each kind's SQL afterwards")
    parser.add_argument("--kinds", help="comma-separated kind names (default: all)")
    parser.add_argument("--seed-only", action="store_true", help="seed, then stop")
    parser.add_argument("--in-project", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.in_project:
        in_project(args.in_project)
        return

    users = args.users or (1_000_000 if args.db == "postgres" else 100_000)
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_PG_URL) if args.db == "postgres" else None
    data_dir = args.data_dir or Path(tempfile.gettempdir()) / f"userdir-search-bench-{args.db}-{users}"
    project = args.project.resolve()
    target = Target(project=project, db=args.db, url=url, data_dir=data_dir)
    seed_project = (args.seed_with or project).resolve()
    seeder = Target(project=seed_project, db=args.db, url=url, data_dir=data_dir)
    commit = subprocess.run(
        ["git", "-C", str(project), "log", "-1", "--format=%h %s"], capture_output=True, text=True
    ).stdout.strip()
    print(f"== {datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}, {os.cpu_count()} cores, load {load()}")
    print(f"== project {project} at {commit[:90]}")
    if seed_project != project:
        print(f"== seeding with {seed_project}")
    print(f"== {args.db}: {url or data_dir / 'db.sqlite3'}, {users:,} users")

    prepare_database(target, seeder, users, args.reuse)
    if args.seed_only:
        return
    token = target.manage("issue_token", "--scopes", "read:users", "--client-id", "search-bench").stdout.strip()
    chosen = kinds(Seeded(users))
    if args.kinds:
        wanted = {name.strip() for name in args.kinds.split(",")}
        chosen = [k for k in chosen if k.name in wanted]
    server = Server(target, args.port, args.workers)
    results = []
    try:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token}"
        print(f"== gunicorn: {args.workers} worker(s) x 4 threads; {args.warmup} + {args.requests} requests per kind")
        for n, kind in enumerate(chosen):
            budget = (args.budget, args.least)
            result = measure(session, server.base, kind, args.requests, args.warmup, SEED + n, *budget)
            results.append(result)
            done = result.error or f"p50 {statistics.median(result.times_ms):.1f} ms over {len(result.times_ms)}"
            print(f"  {kind.name}: {done}", file=sys.stderr, flush=True)
    finally:
        server.stop()
    print_table(results)
    if args.explain:
        print_plans(target, results, token, SEED)


if __name__ == "__main__":
    main()
