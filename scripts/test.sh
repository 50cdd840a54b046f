#!/usr/bin/env bash
# Install the project with its dev tools and run the whole test suite (SQLite unless DATABASE_URL is set).
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

ensure_venv "[dev]"
# One pytest-xdist worker per core (each has its own test database, data dir and live server), unless the
# caller chose (-n 0 runs in one process, e.g. for --pdb).
case " $* " in
  *" -n "* | *" -n="* | *" -n"[0-9]* | *" --numprocesses"* | *" -p no:xdist "*) exec .venv/bin/python -m pytest "$@" ;;
  *) exec .venv/bin/python -m pytest -n auto "$@" ;;
esac
