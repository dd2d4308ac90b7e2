from __future__ import annotations

import os

import pytest
from django.core.cache import cache

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
