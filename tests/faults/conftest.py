"""Fault drills: the production layout (deploy/stack.py: nginx, two app servers, Celery workers
and beat) serving the test database, phones that speak the real protocol (clients.py), and the
checker (checker.py). Data must be committed for the stack to see it: transactional tests."""

from __future__ import annotations

import contextlib
import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.db import connection
from django.utils import timezone
from django.utils.crypto import get_random_string

from deploy.stack import Stack
from directory.models import Staff, User
from messaging import services
from messaging.models import CommandGroup, GroupMembership
from tests.factories import OrgUnitFactory, PostFactory, StaffFactory, UserFactory

# Phones in the app-server drill. The issue asks for 500: HONBU_DRILL_PHONES=500 (3–4 minutes on
# a busy 2-core machine, most of it the 500 phones' reads after the catch-up,
# docs/reliability.md). The suite's default, 200, keeps the drill near a minute.
PHONES = int(os.environ.get("HONBU_DRILL_PHONES", "200"))


@dataclass
class City:
    group: CommandGroup
    mayor: User
    members: list[User]
    sessions: dict[int, str]  # user id → session key


def sign_in(users: list[User]) -> dict[int, str]:
    """A session for each, written in bulk (signing 500 people in over HTTP would be the drill)."""
    store = SessionStore()
    expires = timezone.now() + timedelta(days=1)
    backend = "django.contrib.auth.backends.ModelBackend"
    rows = [
        Session(
            session_key=get_random_string(32, "abcdefghijklmnopqrstuvwxyz0123456789"),
            session_data=store.encode(
                {
                    SESSION_KEY: str(u.pk),
                    BACKEND_SESSION_KEY: backend,
                    HASH_SESSION_KEY: u.get_session_auth_hash(),
                }
            ),
            expire_date=expires,
        )
        for u in users
    ]
    Session.objects.bulk_create(rows, batch_size=1000)
    return {u.pk: s.session_key for u, s in zip(users, rows, strict=True)}


def make_city(size: int, *, emails: bool = True) -> City:
    """A headquarters group of ``size`` members with accounts and sessions, and the mayor
    (本部長, its commander) who sends the instructions."""
    mayor = UserFactory(role="hq_member")
    StaffFactory(user=mayor)
    group = services.group_create(
        name="大阪市災害対策本部", kind=CommandGroup.Kind.HEADQUARTERS, actor=None
    )
    post = PostFactory(name="本部長", holder=mayor.staff)
    services.group_add_member(group=group, post=post, role="commander", actor=None)
    unit = OrgUnitFactory()
    tag = uuid.uuid4().hex[:6]
    User.objects.bulk_create(
        [
            User(
                username=f"D{tag}{i:04d}",
                email=f"d{tag}{i}@city.example.jp" if emails else "",
                role="hq_member",
            )
            for i in range(size)
        ]
    )
    members = list(User.objects.filter(username__startswith=f"D{tag}").order_by("pk"))
    Staff.objects.bulk_create(
        [
            Staff(
                employee_number=f"8{tag}{i:04d}",
                family_name="訓練",
                given_name=f"{i}",
                family_kana="くんれん",
                given_kana=f"{i}",
                unit=unit,
                user=user,
            )
            for i, user in enumerate(members)
        ]
    )
    staff = Staff.objects.filter(employee_number__startswith=f"8{tag}")
    GroupMembership.objects.bulk_create(
        [GroupMembership(group=group, staff=s, role="member") for s in staff]
    )
    return City(group, mayor, members, sign_in([mayor, *members]))


@contextlib.contextmanager
def drill_stack(django_db_blocker, tmp_path, **kwargs) -> Iterator[Stack]:
    """deploy/stack.py on the test database (test settings: the controllable clock, the test
    queue name), its logs in tmp_path; the last lines of each are printed if the drill fails.
    With ``database_url``, on that database instead."""
    with django_db_blocker.unblock():
        db_name = str(connection.settings_dict["NAME"])
    serve = {} if kwargs.get("database_url") else {"HONBU_TEST_SERVE_DB": db_name}
    env = {
        **serve,  # HONBU_TEST_SERVE_DB: read by config/settings/test.py
        "HONBU_SWEEP_SECONDS": "1",
        "HONBU_DRILL_SWEEP_SECONDS": "1",
        **kwargs.pop("env", {}),
    }
    kwargs.setdefault("redis_url", settings.REDIS_URL)
    stack = Stack(
        settings="config.settings.test",
        env=env,
        migrate=False,
        worker_concurrency=1,
        log_level="warning",
        workdir=tmp_path / "stack",
        **kwargs,
    )
    stack.workdir.mkdir(parents=True, exist_ok=True)
    ok = False
    try:
        with stack:
            yield stack
            ok = True
    finally:
        if not ok:
            for name in stack.processes:
                print(f"--- {name}\n{stack.tail(name, 15)}")
        if stack.redis_url == settings.REDIS_URL:
            _purge_queue()


def _purge_queue() -> None:
    """The stack's beat queued a sweep every second on the session's Celery queue; what its
    workers had not taken when they stopped would otherwise be waiting for the next test's
    worker (which then takes minutes to answer its health check)."""
    import redis

    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:  # kombu keeps one list per priority step
        client.delete(queue, *(f"{queue}\x06\x16{p}" for p in (3, 6, 9)))
    finally:
        client.close()


def sockets_on(port: int) -> int:
    """Established connections to a local port (nginx's websockets to one app server)."""
    out = subprocess.run(
        ["ss", "-Htn", "state", "established", f"( sport = :{port} )"],
        capture_output=True,
        text=True,
        check=False,
    )
    return len(out.stdout.splitlines())


@pytest.fixture
def stack_factory(django_db_blocker, tmp_path):
    def make(**kwargs):
        return drill_stack(django_db_blocker, tmp_path, **kwargs)

    return make
