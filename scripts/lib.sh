# Shared by scripts/serve.sh and scripts/test.sh: find a Python, make the virtualenv.
# Django 6 needs Python 3.12+; with only 3.11 the Django 5.2 LTS line is installed instead.

pick_python() {
  if [ -n "${PYTHON:-}" ]; then echo "$PYTHON"; return; fi
  local candidate
  for candidate in python3.14 python3.13 python3.12; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys' >/dev/null 2>&1; then
      echo "$candidate"; return
    fi
  done
  # pyenv installs versions it does not put on PATH; take the newest 3.12+ it has.
  if command -v pyenv >/dev/null 2>&1; then
    local best=""
    for candidate in "$(pyenv root)"/versions/3.1[2-9]*/bin/python3; do
      [ -x "$candidate" ] && best="$candidate"
    done
    if [ -n "$best" ]; then echo "$best"; return; fi
  fi
  echo python3
}

# ensure_venv EXTRAS: create .venv (if missing) and install the project with the given extras.
ensure_venv() {
  local extras="$1" python
  python="$(pick_python)"
  if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "Python 3.11+ is required (found: $("$python" --version 2>&1))" >&2
    exit 1
  fi
  if [ ! -x .venv/bin/python ]; then
    echo "Creating .venv with $("$python" --version)"
    "$python" -m venv .venv
  fi
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".${extras}"
}
