"""Test settings: the real ``config.settings`` with a test secret, cheap bcrypt and a throwaway data dir."""

import os
import tempfile

# The README's walk-through has its shell export the server's PUBLIC_BASE_URL; tests run with the defaults whatever
# shell starts them (a served port would otherwise become every test token's issuer).
os.environ.pop("PUBLIC_BASE_URL", None)
os.environ.pop("AUTH_ISSUER", None)
os.environ.pop("MANAGEMENT_API_AUDIENCE", None)
os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production")
os.environ.setdefault("BCRYPT_ROUNDS", "4")
os.environ.setdefault("DATA_DIR", tempfile.mkdtemp(prefix="userdir-test-"))
# Each pytest-xdist worker inherits the controller's environment: give it its own data dir (so its own SQLite test
# database, logs and files) and its own Redis key prefix (the per-test clean-up deletes every key under it).
if _worker := os.environ.get("PYTEST_XDIST_WORKER"):
    os.makedirs(os.environ["DATA_DIR"], exist_ok=True)
    os.environ["DATA_DIR"] = tempfile.mkdtemp(prefix=f"{_worker}-", dir=os.environ["DATA_DIR"])
    os.environ["CACHE_KEY_PREFIX"] = f"{os.environ.get('CACHE_KEY_PREFIX', 'userdir')}-{_worker}"

from config.settings import *  # noqa: F403

# Live-server tests run gunicorn in another process, so the SQLite test database must be a file.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": os.path.join(os.environ["DATA_DIR"], "test.sqlite3")}  # noqa: F405

# Operators' passwords (Django's auth.User, e.g. pytest-django's admin_client) hashed cheaply: see tests/hashers.py.
PASSWORD_HASHERS = ["tests.hashers.FastPBKDF2PasswordHasher"]

# Serve admin assets straight from the apps (no collectstatic in tests).
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
os.makedirs(STATIC_ROOT, exist_ok=True)  # noqa: F405
