"""Test settings: the real PostgreSQL/Redis when DATABASE_URL/REDIS_URL are set, else embedded."""

import os
from pathlib import Path

# The embedded Redis for tests is its own server, so flushing it never touches `make run`.
os.environ.setdefault("HONBU_VAR_DIR", str(Path(__file__).resolve().parents[2] / "var" / "test"))

from .base import *  # noqa: E402, F403

SECRET_KEY = "honbu-test-secret-key"  # noqa: S105
DEBUG = False
ALLOWED_HOSTS = ["*"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast, tests only
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CACHES["default"]["KEY_PREFIX"] = "honbu-test"  # noqa: F405
CHANNEL_LAYERS["default"]["CONFIG"]["prefix"] = "honbu-test"  # noqa: F405
CELERY_TASK_DEFAULT_QUEUE = "honbu-test"
