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
# One name per test run, inherited by the servers and workers it starts: the channel layer, the
# cache and the Celery queue of a run never meet another run's (or a worker left behind by one)
# on the same Redis.
os.environ.setdefault("HONBU_TEST_QUEUE", f"honbu-test-{os.getpid()}")
CACHES["default"]["KEY_PREFIX"] = os.environ["HONBU_TEST_QUEUE"]  # noqa: F405
CHANNEL_LAYERS["default"]["CONFIG"]["prefix"] = os.environ["HONBU_TEST_QUEUE"]  # noqa: F405
CELERY_TASK_DEFAULT_QUEUE = os.environ["HONBU_TEST_QUEUE"]

# Browser tests that need websockets serve the test database from a Daphne subprocess
# (tests/browser/conftest.py: asgi_server). SQLite's default in-memory test database cannot be
# shared with another process, so tests use a file; the pid keeps concurrent runs apart.
# The subprocess is told the database to serve in HONBU_TEST_SERVE_DB (same for PostgreSQL,
# where it is the test database's name).
DATABASES["default"].setdefault("TEST", {})  # noqa: F405
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    DATABASES["default"]["TEST"]["NAME"] = str(VAR_DIR / f"test-db-{os.getpid()}.sqlite3")  # noqa: F405
    if not os.environ.get("HONBU_TEST_SERVE_DB"):
        import atexit

        def _remove_test_db_files(pattern: str = f"test-db-{os.getpid()}*") -> None:
            # Django removes the database file but not SQLite's -wal/-shm companions.
            for path in VAR_DIR.glob(pattern):  # noqa: F405
                path.unlink(missing_ok=True)

        atexit.register(_remove_test_db_files)
if os.environ.get("HONBU_TEST_SERVE_DB"):
    DATABASES["default"]["NAME"] = os.environ["HONBU_TEST_SERVE_DB"]  # noqa: F405
HONBU_CLOCK_CONTROLLABLE = True  # realtime/clock.py: tests move "now" for the worker too
# Consumers run database work on a thread pool; persistent connections there would outlive the
# tests and stop PostgreSQL from dropping the test database.
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
# A test that runs a real Celery worker and a real SMTP server (aiosmtpd) on 127.0.0.1 tells the
# worker where to send: HONBU_TEST_SMTP_PORT (tests/browser/test_safety_phone.py).
if os.environ.get("HONBU_TEST_SMTP_PORT"):
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST, EMAIL_PORT = "127.0.0.1", int(os.environ["HONBU_TEST_SMTP_PORT"])
    EMAIL_USE_TLS = EMAIL_USE_SSL = False
    EMAIL_HOST_USER = EMAIL_HOST_PASSWORD = ""
