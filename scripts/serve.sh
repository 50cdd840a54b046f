#!/usr/bin/env bash
# Install and run the service: virtualenv, migrations on the embedded SQLite database (or DATABASE_URL),
# the demo connection, a printed bearer token, then gunicorn on 127.0.0.1:8000 with the job worker beside it.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

ensure_venv ""

export DATA_DIR="${DATA_DIR:-$PWD/var}"
mkdir -p "$DATA_DIR"
# A real SECRET_KEY, generated once and kept in the data directory (DEBUG stays off).
if [ -z "${SECRET_KEY:-}" ]; then
  if [ ! -s "$DATA_DIR/secret_key" ]; then
    (umask 077 && .venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(50))' > "$DATA_DIR/secret_key")
  fi
fi  # settings read $DATA_DIR/secret_key when SECRET_KEY is not set

BIND="${BIND:-127.0.0.1:8000}"
# A worker per core, four threads each: measured with bench/run.py (README, Performance). bcrypt releases the
# GIL while hashing, so two cores stay busy; spare threads hide database waits; more workers only cost CPU.

.venv/bin/python manage.py compile_translations >/dev/null
.venv/bin/python manage.py migrate --noinput >/dev/null
.venv/bin/python manage.py collectstatic --noinput >/dev/null
.venv/bin/python manage.py create_connection Username-Password-Authentication --strategy auth0 --if-missing >/dev/null
TOKEN="$(.venv/bin/python manage.py issue_token --scopes "create:users read:users" --client-id demo)"

cat <<INFO

User directory running on http://${BIND}
Connection: Username-Password-Authentication (strategy auth0, password policy "good")
Bearer token (create:users read:users, valid 24 h):

${TOKEN}

Try:
  curl -s http://${BIND}/api/v2/users -H "Authorization: Bearer \$TOKEN" -H "Content-Type: application/json" \\
    -d '{"connection":"Username-Password-Authentication","email":"jane@example.com","password":"Str0ng!Passw0rd"}'

INFO

# The worker (every queued task: event deliveries, e-mails, bulk imports) runs beside gunicorn and stops with it.
# Background commands of a script ignore SIGINT, so Ctrl-C (or a SIGTERM to this script) is passed on to both
# explicitly; each finishes cleanly (gunicorn its requests, the worker its current task; an import its batch).
.venv/bin/python manage.py run_jobs &
WORKER_PID=$!
# The access log names the path without its query string and leaves the Referer out: a ticket link
# (/lo/reset?ticket=..., /u/email-verification?ticket=...) or an address in ?email= would otherwise be written to it.
.venv/bin/gunicorn config.wsgi \
  --bind "$BIND" \
  --workers "${WEB_CONCURRENCY:-$(nproc 2>/dev/null || echo 2)}" \
  --threads "${GUNICORN_THREADS:-4}" \
  --access-logfile - \
  --access-logformat '%(h)s %(l)s %(u)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s "%(a)s"' \
  --forwarded-allow-ips "${FORWARDED_ALLOW_IPS:-127.0.0.1}" &
GUNICORN_PID=$!

stop_both() {
  kill -TERM "$GUNICORN_PID" "$WORKER_PID" 2>/dev/null || true
}
trap stop_both INT TERM

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
