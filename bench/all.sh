#!/usr/bin/env bash
# Every figure of the README's Performance section from one run: creates through gunicorn on SQLite and
# PostgreSQL (with the verification mail, as Auth0's default create sends it, then without), then bulk import.
# Needs wrk (apt-get install wrk) and, for PostgreSQL, BENCH_DATABASE_URL or a local server (trust auth).
# DURATION sets the seconds per wrk run (default 10). Takes about 15 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
echo "== $(date -u +%FT%TZ) on $(nproc) cores, $(uname -sr), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== creates: POST /api/v2/users through gunicorn, each create also sending the verification mail"
$PY bench/run.py --db both --duration "${DURATION:-10}"
echo "== the same creates without the verification mail (\"verify_email\": false): own CPU per create"
$PY bench/run.py --db both --no-mail --cheap-only --duration "${DURATION:-10}"
echo "== bulk import: manage.py import_users"
$PY bench/import_bench.py
