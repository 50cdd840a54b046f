"""Settings, read from the environment in this one place.

Every variable is listed in README.md and .env.example. Local runs get safe defaults (an SQLite file in the
data directory, a generated signing key); with ``DEBUG`` off the service refuses to start without a real
``SECRET_KEY``.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
import django
from django.core.exceptions import ImproperlyConfigured

from config.keys import load_signing_key

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false), got {value!r}")


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from exc


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return float(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a number, got {value!r}") from exc


DEBUG = env_bool("DEBUG", False)
DATA_DIR = Path(os.environ.get("DATA_DIR") or BASE_DIR / "var")

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY and (DATA_DIR / "secret_key").is_file():
    # Written once by scripts/serve.sh, so manage.py commands share the server's key.
    SECRET_KEY = (DATA_DIR / "secret_key").read_text().strip()
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set when DEBUG is off (the README's serve command generates one)."
        )
    SECRET_KEY = "django-insecure-local-development-only"  # noqa: S105 - DEBUG only
# Earlier SECRET_KEYs, comma-separated, newest first: still accepted for signatures and for decrypting stored
# secrets (core.crypto) after a rotation.
SECRET_KEY_FALLBACKS = [k.strip() for k in os.environ.get("SECRET_KEY_FALLBACKS", "").split(",") if k.strip()]

ALLOWED_HOSTS = [
    h.strip() for h in os.environ.get("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",") if h.strip()
]

INSTALLED_APPS = [
    # First, so its templates (the product's name, "API docs", the dashboard) override the admin's own.
    "adminsite",
    # Django's admin with adminsite.sites.UserdirAdminSite as admin.site.
    "adminsite.apps.UserdirAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "core",
    "api",
    "connections",
    "users",
    "clients",
    "audit",
    "idempotency",
    "jobs",
    "ratelimits",
    "tenants",
    "events",
    # Django's Tasks framework's database backend: the task queue the worker (manage.py run_jobs) runs.
    "django_tasks_db",
]

MIDDLEWARE = [
    # First: Django never deactivates a language, so anything answering before it (the guards below) would speak
    # the language of the thread's previous request. It reads only Accept-Language and the language cookie; Django's,
    # except that a language the header refuses (q=0) is never chosen.
    "api.locale.LocaleMiddleware",
    # Outside everything that answers: a HEAD answer leaves without its body, whoever made it.
    "api.middleware.HeadWithoutBodyMiddleware",
    "api.middleware.BodySizeLimitMiddleware",
    "api.middleware.ContentEncodingMiddleware",
    "api.middleware.UnsafeCharactersMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

try:
    DATABASES = {
        "default": dj_database_url.parse(
            os.environ.get("DATABASE_URL") or f"sqlite:///{DATA_DIR / 'db.sqlite3'}",
            conn_max_age=env_int("DB_CONN_MAX_AGE", 60),
            conn_health_checks=True,
        )
    }
except ValueError as exc:  # dj-database-url's messages name the scheme or the part, never the URL (its password)
    raise ImproperlyConfigured(f"DATABASE_URL is not a database URL: {exc}") from exc
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Concurrent writers wait for the lock (timeout) and take it up front (IMMEDIATE) instead of failing
    # with "database is locked"; WAL lets readers proceed while one writer works. The wait stays below
    # gunicorn's 30 s worker timeout, so a request behind a long lock gets a 503 rather than no answer at all.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    _sqlite_file = Path(DATABASES["default"]["NAME"])
    if str(_sqlite_file) != ":memory:" and not _sqlite_file.exists():
        # Created owner-only before SQLite creates it with the umask's 0644: it holds password hashes. SQLite
        # gives its -wal and -shm files the database file's mode. Another process starting at the same moment
        # may win the creation: its file is just as private.
        try:
            _sqlite_file.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileExistsError):
                os.close(os.open(_sqlite_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except OSError as exc:
            raise ImproperlyConfigured(
                f"DATABASE_URL (or DATA_DIR): cannot create the SQLite database {_sqlite_file}: {exc.strerror}"
            ) from exc
    # A file made before this rule (or by another tool) is made private too, with its -wal and -shm files.
    for _path in (_sqlite_file, Path(f"{_sqlite_file}-wal"), Path(f"{_sqlite_file}-shm")):
        with contextlib.suppress(OSError):
            if _path.stat().st_mode & 0o077 and _path.stat().st_uid == os.geteuid():
                _path.chmod(0o600)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Rate limits are token buckets shared by every server process (ratelimits.buckets): in Redis when REDIS_URL is
# set (keys under CACHE_KEY_PREFIX), else in the database (table ratelimits_bucket), so a limit holds exactly with
# any number of workers. Django's own cache holds nothing shared and stays the per-process default.
REDIS_URL = os.environ.get("REDIS_URL", "")
CACHE_KEY_PREFIX = os.environ.get("CACHE_KEY_PREFIX", "userdir")

# Requests per client (token azp): a bucket of N refilled at N per period, e.g. "1000/minute"; "off" disables it.
MANAGEMENT_API_RATE_LIMIT = os.environ.get("MANAGEMENT_API_RATE_LIMIT", "1000/minute")
# Public sign-ups per client IP address, a bucket like the one above ("off" disables the limit).
SIGNUP_RATE_LIMIT = os.environ.get("SIGNUP_RATE_LIMIT", "20/minute")
# POST /dbconnections/change_password: requests per client address, and per e-mail address asked about.
CHANGE_PASSWORD_RATE_LIMIT = os.environ.get("CHANGE_PASSWORD_RATE_LIMIT", "10/minute")
CHANGE_PASSWORD_RATE_LIMIT_PER_EMAIL = os.environ.get("CHANGE_PASSWORD_RATE_LIMIT_PER_EMAIL", "3/hour")
# Sign-up answers a taken e-mail or username with the generic invalid_signup unless this is on
# (Auth0's tenant flag enable_public_signup_user_exists_error): generic answers prevent account enumeration.
SIGNUP_USER_EXISTS_ERROR = env_bool("SIGNUP_USER_EXISTS_ERROR", False)
# Idempotency-Key on the create endpoints: how long an answer is kept, and after how long a claim whose
# request never finished (a killed process) is given up.
IDEMPOTENCY_KEY_TTL_SECONDS = env_int("IDEMPOTENCY_KEY_TTL_SECONDS", 86_400)
IDEMPOTENCY_LOCK_SECONDS = env_int("IDEMPOTENCY_LOCK_SECONDS", 60)
# Failed password logins (POST /oauth/token, password grants) per client IP and per username, as buckets
# ("off" disables); past the limit the endpoint answers 429 too_many_attempts without checking the password.
LOGIN_FAILURES_PER_IP = os.environ.get("LOGIN_FAILURES_PER_IP", "100/hour")
LOGIN_FAILURES_PER_USERNAME = os.environ.get("LOGIN_FAILURES_PER_USERNAME", "10/hour")
# Failed client authentications at POST /oauth/token (wrong client id or secret) per client IP and per client id
# ("off" disables); past either, 429 too_many_attempts without running bcrypt. A client's budget is reset by its
# next success; anyone who knows a client id can spend it, so it is kept well above what a misconfigured deploy
# retrying would use.
CLIENT_AUTH_FAILURES_PER_IP = os.environ.get("CLIENT_AUTH_FAILURES_PER_IP", "100/hour")
CLIENT_AUTH_FAILURES_PER_CLIENT = os.environ.get("CLIENT_AUTH_FAILURES_PER_CLIENT", "100/hour")
# Refused submissions of the password-reset page (POST /lo/reset: the policy, the password history) per client IP
# and per ticket ("off" disables); past either, the form again with 429 and Retry-After, no password checked. Each
# refusal can cost up to 24 bcrypt checks (password_history), and a refused submit leaves the ticket usable.
PASSWORD_RESET_FAILURES_PER_IP = os.environ.get("PASSWORD_RESET_FAILURES_PER_IP", "100/hour")
PASSWORD_RESET_FAILURES_PER_TICKET = os.environ.get("PASSWORD_RESET_FAILURES_PER_TICKET", "10/hour")
# The database connection the password grant uses when the request names no realm (Auth0's tenant setting).
DEFAULT_DIRECTORY = os.environ.get("DEFAULT_DIRECTORY", "")
# A tenant file (Auth0 Deploy CLI YAML/JSON or directory format) that `manage.py load_tenant --from-env` applies at
# start; empty: nothing is loaded.
TENANT_FILE = os.environ.get("TENANT_FILE", "")
# Audiences the password grant issues tokens for, besides the management API's (whose bearer authentication
# refuses them) and $AUTH_ISSUER/userinfo. Comma-separated.
PASSWORD_GRANT_AUDIENCES = [a.strip() for a in os.environ.get("PASSWORD_GRANT_AUDIENCES", "").split(",") if a.strip()]
# Bulk import jobs (POST /api/v2/jobs/users-imports and manage.py run_jobs): how many may be pending or
# processing at once (Auth0's tenant limit is 2), how often a running worker proves it is alive, after how long
# without a heartbeat another worker takes its job over, how many times a job is tried, how long finished jobs
# are kept (Auth0 deletes them after 24 h) and how often an idle worker looks for work.
JOBS_MAX_ACTIVE = env_int("JOBS_MAX_ACTIVE", 2)
JOBS_HEARTBEAT_SECONDS = env_int("JOBS_HEARTBEAT_SECONDS", 10)
JOBS_STALE_AFTER_SECONDS = env_int("JOBS_STALE_AFTER_SECONDS", 120)
JOBS_MAX_ATTEMPTS = env_int("JOBS_MAX_ATTEMPTS", 3)
JOBS_RETENTION_SECONDS = env_int("JOBS_RETENTION_SECONDS", 86_400)
JOBS_POLL_INTERVAL_SECONDS = env_int("JOBS_POLL_INTERVAL_SECONDS", 2)
# DELETE /api/v2/connections/{id} (and the admin's deletion) of a connection with at most this many users deletes it
# and them in the request (204); a larger one is marked as being deleted, gone at once for every reader and writer,
# and a task of the worker deletes its users 1,000 per transaction, then the row (202, Auth0's "The connection is
# being deleted."). 20,000 users took 3 to 3.5 s in one request; about 200,000 passed gunicorn's 30 s timeout and
# rolled back.
CONNECTION_DELETE_SYNC_MAX_USERS = env_int("CONNECTION_DELETE_SYNC_MAX_USERS", 1000)

# Django's Tasks framework with django-tasks-db's database backend: a task enqueued inside a transaction is a row
# written in that transaction (the outbox), run by `manage.py run_jobs`.
# core.tasks.DatabaseBackend is django-tasks-db's, with a cheaper enqueue (the same row).
TASKS = {"default": {"BACKEND": "core.tasks.DatabaseBackend"}}
# How often an idle worker looks for ready tasks, in seconds: the delay between a commit and its delivery.
TASKS_POLL_INTERVAL_SECONDS = env_float("TASKS_POLL_INTERVAL_SECONDS", 0.05)
# How long a worker that just ran every ready task waits before it looks again, in seconds (0: not at all): under
# load, each look then finds several creates' tasks to run together (jobs.taskworker.TaskWorker.lingers).
TASKS_LINGER_SECONDS = env_float("TASKS_LINGER_SECONDS", 0.2)
# Finished tasks are kept this long (seconds) for inspection in the admin, then deleted by the worker.
TASKS_RETENTION_SECONDS = env_int("TASKS_RETENTION_SECONDS", 86_400)
# Mails sent by the worker (verification, password reset): attempts, and the first retry's delay in seconds.
EMAIL_SEND_MAX_ATTEMPTS = env_int("EMAIL_SEND_MAX_ATTEMPTS", 5)
EMAIL_SEND_RETRY_BASE_SECONDS = env_float("EMAIL_SEND_RETRY_BASE_SECONDS", 30.0)


# Event streams (events/). Development and tests only: allow http endpoints and local/private addresses.
EVENT_STREAMS_ALLOW_INSECURE_ENDPOINTS = env_bool("EVENT_STREAMS_ALLOW_INSECURE_ENDPOINTS", False)
# One delivery request's connect and read timeouts, in seconds.
EVENT_STREAMS_TIMEOUT_SECONDS = env_float("EVENT_STREAMS_TIMEOUT_SECONDS", 10.0)
# Attempts per delivery before it is failed (Auth0 retries up to 12 times: 13 attempts).
EVENT_STREAMS_MAX_ATTEMPTS = env_int("EVENT_STREAMS_MAX_ATTEMPTS", 13)
# Backoff before attempt n+1: base x 2^(n-1) seconds, capped, with jitter; Retry-After is honoured up to the cap.
EVENT_STREAMS_RETRY_BASE_SECONDS = env_float("EVENT_STREAMS_RETRY_BASE_SECONDS", 5.0)
EVENT_STREAMS_RETRY_MAX_SECONDS = env_float("EVENT_STREAMS_RETRY_MAX_SECONDS", 3600.0)
# Failed attempts in a row that disable a stream (Auth0: 500 consecutive failures).
EVENT_STREAMS_DISABLE_AFTER_FAILURES = env_int("EVENT_STREAMS_DISABLE_AFTER_FAILURES", 500)
# Failed deliveries a stream may hold: reaching it disables the stream, and it cannot be enabled again until
# redeliveries (or the retention below) bring the count under it (Auth0: 5000 total failures).
EVENT_STREAMS_DISABLE_AFTER_TOTAL_FAILURES = env_int("EVENT_STREAMS_DISABLE_AFTER_TOTAL_FAILURES", 5000)
# Finished deliveries (delivered or failed) and their events are deleted this long after their last change, in
# seconds (pending ones never are); the worker's housekeeping does it.
EVENT_STREAMS_RETENTION_SECONDS = env_int("EVENT_STREAMS_RETENTION_SECONDS", 7 * 86_400)
# How long a worker owns the deliveries it claimed; must exceed the timeout (a killed worker's claim then lapses).
EVENT_STREAMS_CLAIM_SECONDS = env_float("EVENT_STREAMS_CLAIM_SECONDS", max(30.0, 3 * EVENT_STREAMS_TIMEOUT_SECONDS))
# The connection POST /v1/users creates users in.
V1_USERS_CONNECTION = os.environ.get("V1_USERS_CONNECTION", "Username-Password-Authentication")

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
# Messages of the APIs, the verification pages and the admin follow Accept-Language.
LANGUAGES = [("en", "English"), ("ja", "日本語")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
# Serve static files straight from the apps (no collectstatic): for test servers and quick local runs, and, unless
# STATIC_FROM_APPS says otherwise, whenever nothing was collected into STATIC_ROOT yet: `gunicorn config.wsgi` started
# after `manage.py migrate` alone (as the README's production line reads) answered the admin's and the API docs'
# styles and scripts with 404. serve.sh collects before gunicorn starts, so its servers serve the collected copies.
WHITENOISE_USE_FINDERS = env_bool("STATIC_FROM_APPS", not (STATIC_ROOT / "admin").is_dir())
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# Where people and links reach this service (verification and ticket links, create_client's token_endpoint) and,
# unless AUTH_ISSUER says otherwise, the tokens' issuer: one setting, so they cannot disagree. scripts/serve.sh
# derives it from BIND when it is not set (BIND=127.0.0.1:8001 -> http://localhost:8001).
PUBLIC_BASE_URL = (os.environ.get("PUBLIC_BASE_URL") or "http://localhost:8000").strip().rstrip("/")
# The admin's session and CSRF cookies travel over HTTPS only when the public URL is https (or when set).
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", PUBLIC_BASE_URL.lower().startswith("https://"))
# A CSRF refusal on the pages a person opens from an e-mail is their own HTML page (api.views.csrf_failure).
CSRF_FAILURE_VIEW = "api.views.csrf_failure"
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", PUBLIC_BASE_URL.lower().startswith("https://"))
# E-mail: the console by default; SMTP when EMAIL_HOST is set.
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "no-reply@localhost")
_smtp_host = os.environ.get("EMAIL_HOST", "")
_mailer: dict = (
    {
        "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "OPTIONS": {
            "host": _smtp_host,
            "port": env_int("EMAIL_PORT", 587),
            "username": os.environ.get("EMAIL_HOST_USER", ""),
            "password": os.environ.get("EMAIL_HOST_PASSWORD", ""),
            "use_tls": env_bool("EMAIL_USE_TLS", True),
            "timeout": env_int("EMAIL_TIMEOUT", 10),
        },
    }
    if _smtp_host
    # The console prints mails decoded (core.mail), so a link copied from the terminal works.
    else {"BACKEND": "core.mail.ConsoleEmailBackend", "OPTIONS": {}}
)
if django.VERSION >= (6, 1):
    MAILERS = {"default": _mailer}
else:  # Django 5.2 LTS (Python 3.11) predates MAILERS
    EMAIL_BACKEND = _mailer["BACKEND"]
    if _smtp_host:
        EMAIL_HOST = _smtp_host
        EMAIL_PORT = _mailer["OPTIONS"]["port"]
        EMAIL_HOST_USER = _mailer["OPTIONS"]["username"]
        EMAIL_HOST_PASSWORD = _mailer["OPTIONS"]["password"]
        EMAIL_USE_TLS = _mailer["OPTIONS"]["use_tls"]
        EMAIL_TIMEOUT = _mailer["OPTIONS"]["timeout"]
# How long a verification link stays valid (default five days, as Auth0's).
EMAIL_VERIFICATION_TTL_SECONDS = env_int("EMAIL_VERIFICATION_TTL_SECONDS", 5 * 86400)
# Lifetime of the link POST /dbconnections/change_password mails (Auth0's ticket default: five days).
PASSWORD_RESET_TTL_SECONDS = env_int("PASSWORD_RESET_TTL_SECONDS", 5 * 86400)

# A user search (GET /api/v2/users?q=) is stopped after this many milliseconds and answered 503, as Auth0 stops its
# searches after two seconds ("User Search Best Practices"); 0 lets it run as long as it takes.
USER_SEARCH_TIMEOUT_MS = env_int("USER_SEARCH_TIMEOUT_MS", 2000)
if USER_SEARCH_TIMEOUT_MS < 0:
    raise ImproperlyConfigured(f"USER_SEARCH_TIMEOUT_MS must be 0 or more, got {USER_SEARCH_TIMEOUT_MS}")

# Request bodies above this many bytes are refused with 413 before they are read (Auth0's own limit).
MAX_REQUEST_BODY_BYTES = env_int("MAX_REQUEST_BODY_BYTES", 512_000)
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_REQUEST_BODY_BYTES

BCRYPT_ROUNDS = env_int("BCRYPT_ROUNDS", 10)
if not 4 <= BCRYPT_ROUNDS <= 15:
    raise ImproperlyConfigured("BCRYPT_ROUNDS must be between 4 and 15")

# Tokens: RS256, Auth0's claim layout. The issuer keeps its trailing slash, as Auth0's does; like Auth0's
# (https://TENANT.auth0.com/) it is the service's public URL unless set apart. Tokens are issued and verified with
# these same two values, so whatever they are, a token this process issues is one it accepts.
AUTH_ISSUER = os.environ.get("AUTH_ISSUER") or f"{PUBLIC_BASE_URL}/"
if not AUTH_ISSUER.endswith("/"):
    AUTH_ISSUER += "/"
MANAGEMENT_API_AUDIENCE = os.environ.get("MANAGEMENT_API_AUDIENCE") or f"{AUTH_ISSUER}api/v2/"
# CloudEvents "source" and Auth0's "a0tenant" of our events: from the issuer's host as computed above (so from
# PUBLIC_BASE_URL when AUTH_ISSUER is not set; the raw AUTH_ISSUER variable alone named "localhost" for a server
# at https://users.example.com). Empty values mean the defaults, as for every other setting.
_ISSUER_HOST = urlsplit(AUTH_ISSUER).hostname or "localhost"
EVENT_STREAMS_SOURCE = os.environ.get("EVENT_STREAMS_SOURCE") or f"urn:auth0:{_ISSUER_HOST}"
EVENT_STREAMS_TENANT = os.environ.get("EVENT_STREAMS_TENANT") or _ISSUER_HOST.split(".")[0]
ACCESS_TOKEN_LIFETIME_SECONDS = env_int("ACCESS_TOKEN_LIFETIME_SECONDS", 86_400)
JWT_SIGNING_KEY = load_signing_key(
    pem=os.environ.get("JWT_PRIVATE_KEY"),
    pem_file=os.environ.get("JWT_PRIVATE_KEY_FILE"),
    data_dir=DATA_DIR,
)

SIMPLE_JWT = {
    "ALGORITHM": "RS256",
    "SIGNING_KEY": JWT_SIGNING_KEY.private_pem,
    "VERIFYING_KEY": JWT_SIGNING_KEY.public_pem,
    "AUDIENCE": MANAGEMENT_API_AUDIENCE,
    "ISSUER": AUTH_ISSUER,
    "LEEWAY": env_int("JWT_LEEWAY_SECONDS", 0),
    "AUTH_HEADER_TYPES": ("Bearer",),
    "TOKEN_TYPE_CLAIM": None,
    "JTI_CLAIM": None,
    "USER_ID_CLAIM": "sub",
    "UPDATE_LAST_LOGIN": False,
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["api.bearer.BearerTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["api.permissions.HasRequiredScopes"],
    "DEFAULT_PARSER_CLASSES": [
        "api.parsers.StrictJSONParser",
        "api.parsers.StrictFormParser",
    ],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # No ?format= renderer override: Auth0 has no such parameter, so "format" is a query parameter like any other
    # (400 where an endpoint validates its query, ignored where unknown ones are). DRF looked it up first: ?format=api
    # was a 404 on every view, and ?format=json a 400 on some.
    "URL_FORMAT_OVERRIDE": None,
    "EXCEPTION_HANDLER": "api.views.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
    "STRICT_JSON": True,
    # How many proxies in front of the service append to X-Forwarded-For (sign-up limits by client IP).
    "NUM_PROXIES": env_int("NUM_PROXIES", 0),
}

SPECTACULAR_SETTINGS = {
    "TITLE": "userdir: an Auth0-compatible user directory",
    "DESCRIPTION": (
        "Auth0's Management API for users and connections, client-credentials tokens, public sign-up and a "
        "plain /v1/users facade. Errors of the management API are "
        "{statusCode, error, message, errorCode, errors}; the Authentication API and /v1 use their own shapes."
    ),
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": False,
    "ENUM_GENERATE_CHOICE_DESCRIPTION": False,
    # Auth0's names for the event streams' enums (its OpenAPI document's), which would otherwise collide with the
    # other "status" fields' enums. Value lists: the documented enums carry no labels.
    "ENUM_NAME_OVERRIDES": {
        "EventStreamStatusEnum": ["enabled", "disabled"],
        "EventStreamDeliveryStatusEnum": ["pending", "delivered", "failed"],
        "EventStreamEventTypeEnum": ["user.created", "user.updated", "user.deleted"],
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "api.openapi.add_server_responses",
    ],
}

# One line format for every process serve.sh starts, as gunicorn writes its own ("[time] [pid] [LEVEL] ..."), with
# the logger's name: the web workers' lines and the job worker's (run_jobs) read alike. 4xx answers are the API
# working as documented and are in the access log: not WARNINGs of django.request (core.logs).
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        # A record's text (and an exception's in a traceback) cannot end its line: core.logs.OneLineFormatter.
        "plain": {
            "()": "core.logs.OneLineFormatter",
            "format": "[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s",
            "datefmt": "%Y-%m-%d %H:%M:%S %z",
        }
    },
    "filters": {
        "client_errors_are_debug": {"()": "core.logs.ClientErrorsAreDebug"},
        "endpoint_paths_hidden": {"()": "core.logs.EndpointPathsHidden"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    # Their own levels too: Django's "django" logger above them stays at INFO whatever LOG_LEVEL says (so the
    # worker wrote two INFO lines of django.tasks per task even with LOG_LEVEL=WARNING).
    "loggers": {
        "django.request": {"filters": ["client_errors_are_debug"], "level": os.environ.get("LOG_LEVEL", "INFO")},
        "django.tasks": {"level": os.environ.get("LOG_LEVEL", "INFO")},
        # A logger's filters see only its own records: each urllib3 module that logs a request's URL.
        "urllib3.connection": {"filters": ["endpoint_paths_hidden"]},
        "urllib3.connectionpool": {"filters": ["endpoint_paths_hidden"]},
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}
