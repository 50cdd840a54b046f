#!/usr/bin/env bash
# Install (when the dependencies changed) and run the service: migrations on the embedded SQLite database (or
# DATABASE_URL), the Username-Password-Authentication connection, gunicorn on $BIND (127.0.0.1:8000) with the job
# worker beside it, then a banner with a ready `export TOKEN=...` line. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

BIND="${BIND:-127.0.0.1:8000}"
# Chosen once: ensure_venv's pick_python takes $PYTHON as it is (each search tries interpreters, half a second
# through pyenv's shims).
PYTHON="$(pick_python)"
# Before anything slow: a taken port is one line, not an install, a banner and a gunicorn traceback.
"$PYTHON" scripts/serve_checks.py port "$BIND"

ensure_venv ""

export DATA_DIR="${DATA_DIR:-$PWD/var}"
mkdir -p "$DATA_DIR"
# A real SECRET_KEY, generated once and kept in the data directory (DEBUG stays off).
if [ -z "${SECRET_KEY:-}" ]; then
  if [ ! -s "$DATA_DIR/secret_key" ]; then
    (umask 077 && .venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(50))' > "$DATA_DIR/secret_key")
  fi
fi  # settings read $DATA_DIR/secret_key when SECRET_KEY is not set
# Links in mails, create_client's token_endpoint and the tokens' issuer and audience follow the address served
# (settings derive AUTH_ISSUER from PUBLIC_BASE_URL), unless PUBLIC_BASE_URL is set.
if [ -z "${PUBLIC_BASE_URL:-}" ]; then
  PUBLIC_BASE_URL="$(.venv/bin/python scripts/serve_checks.py public-url "$BIND")"
fi
if [ -n "$PUBLIC_BASE_URL" ]; then export PUBLIC_BASE_URL; else unset PUBLIC_BASE_URL; fi
# A bad DATABASE_URL (or any setting) is one line naming it, before migrations would print a traceback. Then, in
# the same Python process (one Django start-up, not eight: tenants/management/commands/serve_setup.py), every step
# before serving: compile the translations, migrate, collect the static files (skipped when nothing changed), apply
# TENANT_FILE (a declarative tenant: connections, clients with fixed ids, users; its summary is shown), make the
# Username-Password-Authentication connection if missing, and issue a token with every management scope
# (clients/scopes.py), so each example of the README runs with the one token printed. Its four lines for the
# banner come back on fd 3, its summary goes to the terminal: the effective public URL (PUBLIC_BASE_URL as
# settings read it), the token's lifetime, the connection as it is (a TENANT_FILE may have set its password
# policy: "con_... strategy auth0, password ...") and the token.
{ SETUP="$(.venv/bin/python scripts/serve_checks.py setup --connection Username-Password-Authentication \
  --client-id serve.sh --values-fd 3 3>&1 1>&4)"; } 4>&1
{ read -r PUBLIC_URL; read -r LIFETIME; read -r CONNECTION; read -r TOKEN; } <<<"$SETUP"
CONNECTION_ID="${CONNECTION%% *}"

# The worker (every queued task: event deliveries, e-mails, bulk imports), started beside gunicorn and stopped with
# it: the one place that names it.
WORKER_COMMAND=(.venv/bin/python manage.py run_jobs)

# Each instance has its own gunicorn control socket (gunicornc -s PATH): two servers on one machine would
# otherwise share $XDG_RUNTIME_DIR/gunicorn.ctl, the second taking it from the first.
CONTROL_SOCKET="${GUNICORN_CONTROL_SOCKET:-$DATA_DIR/gunicorn-$(printf '%s' "$BIND" | tr -c 'A-Za-z0-9.-' '_').ctl}"

# Background commands of a script ignore SIGINT, so Ctrl-C (or a SIGTERM to this script) is passed on to both
# explicitly; each finishes cleanly (gunicorn its requests, the worker its current batch).
"${WORKER_COMMAND[@]}" &
WORKER_PID=$!
# A worker per core, four threads each: measured with bench/run.py (README, Performance). bcrypt releases the
# GIL while hashing, so two cores stay busy; spare threads hide database waits; more workers only cost CPU.
# The access log names the path without its query string and leaves the Referer out: a ticket link
# (/lo/reset?ticket=..., /u/email-verification?ticket=...) or an address in ?email= would otherwise be written to it.
# Its logger class escapes the control characters a request's path or headers carry (core/access_log.py): a
# percent-encoded line break would otherwise end the line and let anyone write one of their own after it.
.venv/bin/gunicorn config.wsgi \
  --bind "$BIND" \
  --workers "${WEB_CONCURRENCY:-$(nproc 2>/dev/null || echo 2)}" \
  --threads "${GUNICORN_THREADS:-4}" \
  --control-socket "$CONTROL_SOCKET" \
  --access-logfile - \
  --logger-class core.access_log.AccessLogLogger \
  --access-logformat '%(h)s %(l)s %(u)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s "%(a)s"' \
  --forwarded-allow-ips "${FORWARDED_ALLOW_IPS:-127.0.0.1}" &
GUNICORN_PID=$!

stop_both() {
  kill -TERM "$GUNICORN_PID" "$WORKER_PID" 2>/dev/null || true
}
trap stop_both INT TERM

# The banner only once gunicorn answers: until then nothing it says would work.
until .venv/bin/python scripts/serve_checks.py listening "$BIND" 2>/dev/null; do
  if ! kill -0 "$GUNICORN_PID" 2>/dev/null; then
    echo "serve.sh: gunicorn did not start (its lines above say why)" >&2
    stop_both
    wait "$WORKER_PID" 2>/dev/null || true
    exit 1
  fi
  sleep 0.2
done

cat <<INFO

================================================================================
userdir is running on ${PUBLIC_URL} (listening on ${BIND}); Ctrl-C stops it.
Connection Username-Password-Authentication: ${CONNECTION_ID} (${CONNECTION#* })

In the shell where you follow the README, paste these lines: a token with every management scope (valid ${LIFETIME}),
the connection's id, and the public URL manage.py needs there to issue tokens this server accepts.

export TOKEN=${TOKEN}
export CONNECTION_ID=${CONNECTION_ID}
export PUBLIC_BASE_URL=${PUBLIC_URL}

Try:  curl -s ${PUBLIC_URL}/api/v2/users -H "Authorization: Bearer \$TOKEN"
Docs: ${PUBLIC_URL}/api/v2/docs
Admin: ${PUBLIC_URL}/admin/ (sign-in first: .venv/bin/python manage.py createsuperuser)
Narrower tokens: .venv/bin/python manage.py issue_token --scopes "read:users" [--expires-in 3600]
================================================================================

INFO

status=0
wait "$GUNICORN_PID" || status=$?
# A trapped signal interrupts wait before gunicorn has finished stopping: wait until it really has.
while kill -0 "$GUNICORN_PID" 2>/dev/null; do
  wait "$GUNICORN_PID" || status=$?
done
# gunicorn is gone (stopped, or failed to start): the worker goes too.
kill -TERM "$WORKER_PID" 2>/dev/null || true
wait "$WORKER_PID" 2>/dev/null || true
exit "$status"
