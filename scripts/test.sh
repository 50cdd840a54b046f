#!/usr/bin/env bash
# Install the project with its dev tools and run the whole test suite (SQLite unless DATABASE_URL is set).
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

ensure_venv "[dev]"
exec .venv/bin/python -m pytest "$@"
