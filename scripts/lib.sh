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

# install_digest EXTRAS: what an install of the project depends on (the files declaring the dependencies, the
# venv's Python version, the extras asked for), as one SHA-256.
install_digest() {
  {
    cat pyproject.toml setup.py
    .venv/bin/python -c 'import sys; print(sys.version)'
    echo "extras=$1"
  } | .venv/bin/python -c 'import hashlib, sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())'
}

# The stamp of an install with EXTRAS ("" or "[dev]"): .venv/.userdir-install<EXTRAS>, holding its digest.
stamp_path() { echo ".venv/.userdir-install${1}"; }

# venv_is_current EXTRAS: true when the last install with EXTRAS (or, for the plain install, with any extras,
# which all include the plain dependencies) was made from the same dependency files and Python.
venv_is_current() {
  local extras="$1" stamp
  [ -x .venv/bin/python ] || return 1
  if [ -z "$extras" ]; then
    for stamp in .venv/.userdir-install*; do
      [ -f "$stamp" ] || continue
      [ "$(cat "$stamp")" = "$(install_digest "${stamp#.venv/.userdir-install}")" ] && return 0
    done
    return 1
  fi
  [ -f "$(stamp_path "$extras")" ] && [ "$(cat "$(stamp_path "$extras")")" = "$(install_digest "$extras")" ]
}

# ensure_venv EXTRAS: create .venv (if missing) and install the project with the given extras, unless the last
# install already did so from the same pyproject.toml, setup.py and Python (the stamp above): a start then costs
# no pip run at all.
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
  if venv_is_current "$extras"; then
    return 0
  fi
  echo "Installing the project${extras:+ with $extras} into .venv (again only when pyproject.toml or setup.py change)"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".${extras}"
  install_digest "$extras" > "$(stamp_path "$extras")"
}
