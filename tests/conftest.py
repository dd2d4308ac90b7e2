from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection

from config.server import server_command
from directory.models import User
from tests import push, smtp
from tests.factories import StaffFactory, UserFactory


@pytest.fixture(scope="session", autouse=True)
def _release_the_test_database(django_db_setup, django_db_blocker):
    """Async tests reach the ORM from per-test event-loop threads whose connections outlive
    them; PostgreSQL refuses to drop a database in use, so end those sessions first."""
    yield
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


@pytest.fixture(autouse=True)
def _clear_cache():
    """Rate-limit counters and cached values live in Redis; start every test clean."""
    cache.clear()
    yield


def _user_with_staff(role: str, **staff_kwargs) -> User:
    user = UserFactory(role=role)
    StaffFactory(user=user, **staff_kwargs)
    return user


@pytest.fixture
def push_service(monkeypatch):
    """A Web Push service on 127.0.0.1 that records (and lets the test decrypt) each push."""
    yield from push.push_service_running(monkeypatch)


@pytest.fixture
def vapid(settings):
    """The server's VAPID key, given as HONBU_VAPID_PRIVATE_KEY."""
    yield from push.vapid_key(settings)


@pytest.fixture
def smtp_server(settings):
    """A real SMTP server on 127.0.0.1 receiving what Django's SMTP backend sends."""
    controller, sink, port = smtp.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    sink.port = port
    yield sink
    controller.stop()


@pytest.fixture
def staff_user(db) -> User:
    return _user_with_staff(User.Role.STAFF)


@pytest.fixture
def admin_user(db) -> User:
    return _user_with_staff(User.Role.ADMIN)


@pytest.fixture
def hq_user(db) -> User:
    return _user_with_staff(User.Role.HQ_MEMBER)


def pytest_report_header(config):
    from django.conf import settings

    return [
        f"honbu database: {settings.DATABASES['default']['ENGINE']}",
        f"honbu redis: {'embedded ' if settings.REDIS_EMBEDDED else ''}{settings.REDIS_URL}",
        f"CI: {os.environ.get('CI', '')}",
    ]


def pytest_sessionfinish(session, exitstatus):
    """Stop the embedded test Redis (started by the settings when REDIS_URL is unset)."""
    from django.conf import settings

    if getattr(settings, "REDIS_EMBEDDED", False):
        from config.embedded import stop

        stop(settings.VAR_DIR)


# --- an ASGI server with websockets -------------------------------------------------------------
# pytest-django's live_server is WSGI (no websockets). For pages that need the live channel,
# the ASGI server (uvicorn, config/server.py) runs in a subprocess on the test database that
# pytest-django created, sharing the test Redis. Data must be committed to be seen: use
# `transactional_db`.


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class ServedURL(str):
    pid: int


@contextlib.contextmanager
def serve_test_database(
    django_db_blocker, *, port: int | None = None, **extra_env: str
) -> Iterator[ServedURL]:
    """The ASGI server (config/server.py) on the test database, with settings from
    ``extra_env``, on ``port`` (default: a free one; a restarted server takes its old port);
    yields its base URL (with the process id) and stops it."""
    with django_db_blocker.unblock():
        db_name = str(connection.settings_dict["NAME"])
    port = port or _free_port()
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "HONBU_TEST_SERVE_DB": db_name,  # read by config/settings/test.py
            "REDIS_URL": settings.REDIS_URL,  # the same Redis (channel layer) as the test process
            "PYTHONUNBUFFERED": "1",
            **extra_env,
        }
    )
    log = tempfile.NamedTemporaryFile(prefix="honbu-asgi-", suffix=".log", delete=False)
    proc = subprocess.Popen(
        server_command("127.0.0.1", port, log_level="info"),
        cwd=settings.BASE_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while not _answers(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                output = Path(log.name).read_text(errors="replace")
                pytest.fail(
                    f"the ASGI server did not start (exit {proc.returncode}):\n{output}",
                    pytrace=False,
                )
            time.sleep(0.1)
        served = ServedURL(f"http://127.0.0.1:{port}")
        served.pid = proc.pid  # for tests that watch the server process itself
        yield served
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        Path(log.name).unlink(missing_ok=True)


@pytest.fixture(scope="session")
def asgi_server(django_db_setup, django_db_blocker) -> Iterator[ServedURL]:
    """The ASGI server on the test database for the whole session; yields its base URL.

    Torn down before the test database is destroyed (PostgreSQL refuses to drop a database that
    still has connections)."""
    with serve_test_database(django_db_blocker) as served:
        yield served
