"""Test settings: the real ``config.settings`` with a test secret, cheap bcrypt and a throwaway data dir."""

import os
import tempfile

os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production")
os.environ.setdefault("BCRYPT_ROUNDS", "4")
os.environ.setdefault("DATA_DIR", tempfile.mkdtemp(prefix="userdir-test-"))

from config.settings import *  # noqa: F403
