"""Escalation through a real Celery worker (prefork, two processes) on the test Redis and the
test database, with the controllable clock (realtime/clock.py) shared through Redis.

The test process commits its data (transactional tests), moves the clock, enqueues
``escalation_sweep_task`` and waits for the worker's effect in the database. The in-process
service tests are tests/messaging/test_escalation.py.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection, connections
from django.db.models import Count, QuerySet

from directory import services as directory_services
from directory.models import Staff, User
from directory.tasks import healthcheck_task
from messaging import escalation, services
from messaging.models import Chase, GroupMembership, StandIn
from messaging.tasks import escalation_sweep_task
from notifications.models import Notification
from realtime import clock
from tests.factories import OrgUnitFactory, StaffFactory, UserFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(240)]

POLICY = {
    "first_after": 60,
    "repeat_every": 60,
    "repeat_count": 1,
    "deputy_wait": 60,
    "use_deputies": True,
    "stop_on": "ack",
    "enabled": True,
}
STEP = 61  # seconds the clock moves to make the next step due
WAIT = 60.0  # seconds to wait for the worker's effect
CHANNELS = 3  # in-app, push and e-mail: every test user has an address and default settings

# Test-only hook for the kill test, run in the worker before Celery starts (children are forked
# from it): the sweep works in batches of HONBU_TEST_BATCH, and the second batch, after it has
# written its steps and notifications but before it commits, raises a flag in Redis and sleeps
# so the test can SIGKILL that process mid-batch. The flag is set once (cache.add).
# A watchdog thread kills the worker's process group when the test process goes away.
WORKER_MAIN = """
import functools, os, signal, sys, threading, time

def _die_with_the_test_process(parent=int(os.environ["HONBU_TEST_PARENT_PID"])):
    # A test run killed from outside (timeout, ^C) must not leave a worker consuming the queue.
    while os.getppid() == parent:
        time.sleep(0.5)
    os.killpg(0, signal.SIGKILL)

threading.Thread(target=_die_with_the_test_process, daemon=True).start()
import django
django.setup()
from django.core.cache import cache
from messaging import escalation

batch = int(os.environ.get("HONBU_TEST_BATCH", "0"))
if batch:
    escalation.escalation_sweep = functools.partial(escalation.escalation_sweep, batch_size=batch)
    _report = escalation._report_unreached

    def _slow_report(**kwargs):
        cache.add("test:batches", 0, timeout=600)
        mid_batch = cache.incr("test:batches") == 2
        if mid_batch and cache.add("test:mid-batch", os.getpid(), timeout=600):
            time.sleep(120)
        return _report(**kwargs)

    escalation._report_unreached = _slow_report
from celery.__main__ import main
sys.argv = ["celery"] + sys.argv[1:]
main()
"""


class Worker:
    """A real Celery worker process group; ``kill()`` SIGKILLs all of it."""

    def __init__(self, *, log_dir: Path, batch: int = 0) -> None:
        env = dict(
            os.environ,
            DJANGO_SETTINGS_MODULE="config.settings.test",
            REDIS_URL=settings.REDIS_URL,
            # read by config/settings/test.py: serve this (the test) database
            HONBU_TEST_SERVE_DB=str(connection.settings_dict["NAME"]),
            HONBU_TEST_BATCH=str(batch),
            HONBU_TEST_PARENT_PID=str(os.getpid()),
        )
        self.log = open(log_dir / "celery.log", "ab")  # noqa: SIM115 — closed in stop()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                WORKER_MAIN,
                "-A",
                "config",
                "worker",
                "--pool",
                "prefork",
                "--concurrency",
                "2",
                "-Q",
                settings.CELERY_TASK_DEFAULT_QUEUE,
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--loglevel",
                "WARNING",
            ],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self) -> Worker:
        token = uuid.uuid4().hex
        healthcheck_task.delay(token)
        wait_for(lambda: cache.get(f"healthcheck:{token}") == "ok", worker=self)
        return self

    def alive(self) -> bool:
        return self.proc.poll() is None

    def children(self) -> list[int]:
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True)
        return [int(p) for p in out.stdout.split()]

    def kill(self) -> None:
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


@pytest.fixture
def start_worker(tmp_path) -> Iterator[Callable[..., Worker]]:
    """Start workers on demand; teardown stops them all. Their output is in tmp_path/celery.log."""
    clock.reset()
    started: list[Worker] = []

    def start(**kwargs) -> Worker:
        started.append(
            Worker(log_dir=tmp_path, **kwargs)
        )  # registered first: teardown stops it even if not ready
        return started[-1].wait_ready()

    yield start
    for worker in started:
        worker.stop()
    clock.reset()


@pytest.fixture
def worker(start_worker) -> Worker:
    return start_worker()


def wait_for(
    condition: Callable[[], bool], *, worker: Worker | None = None, timeout: float = WAIT
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if worker is not None:
            assert worker.alive(), "the Celery worker exited"
        assert time.monotonic() < deadline, "timed out waiting for the worker"
        time.sleep(0.05)


def sweep_and_wait(condition: Callable[[], bool], *, worker: Worker, advance: float = STEP) -> None:
    """Move the clock, enqueue a sweep (as beat does) and wait for its effect."""
    clock.advance(advance)
    escalation_sweep_task.delay()
    wait_for(condition, worker=worker)


def instruct(hq, **policy):
    return services.message_send(
        group=hq.group,
        sender=hq.mayor,
        body="住民を3階以上へ避難させてください",
        client_id=uuid.uuid4(),
        kind="instruction",
        priority="urgent",
        requires_ack=True,
        escalation={**POLICY, **policy},
    ).message


def inapp(user, kind: str, message=None) -> int:
    qs = Notification.objects.filter(user=user, kind=kind, channel="inapp")
    return (qs.filter(message=message) if message else qs).count()


def chased() -> QuerySet:
    """The chase's notifications: reminders, hand-overs and reports. (An urgent instruction is
    also pushed at send time to those with no page open: kind "instruction", issue 9.)"""
    return Notification.objects.exclude(kind="instruction")


def chase_of(message, user) -> Chase:
    return Chase.objects.get(message=message, receipt__user=user)


def assert_each_step_once() -> None:
    """No (chase, step, person, channel) twice — the constraint, checked as data."""
    dupes = (
        Notification.objects.exclude(once_key="")  # once_key = "chase:<chase>:<step>"
        .values("once_key", "user", "channel")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )
    assert list(dupes) == []


@pytest.fixture
def deputies(hq):
    """Two deputies for the 北区長 post (the ward head), with accounts."""
    post = hq.ward_head.staff.posts_held.get()
    d1, d2 = StaffFactory(user=UserFactory()), StaffFactory(user=UserFactory())
    directory_services.post_set_deputies(post=post, deputies=[d1, d2], actor=None)
    return d1.user, d2.user


# --- the chase, step by step, on the worker --------------------------------------------------
def test_reminder_after_n_minutes_repeats_then_first_and_second_deputy(hq, deputies, worker):
    d1, d2 = deputies
    message = instruct(hq)
    early = instruct(hq, first_after=20)  # shows a sweep ran while `message` was not yet due

    sweep_and_wait(lambda: inapp(hq.ward_head, "reminder", early) == 1, worker=worker, advance=30)
    assert inapp(hq.ward_head, "reminder", message) == 0  # not due before first_after
    assert chase_of(message, hq.ward_head).step == 0

    sweep_and_wait(lambda: inapp(hq.ward_head, "reminder", message) == 1, worker=worker, advance=31)
    assert chase_of(message, hq.ward_head).step == 1
    assert chased().filter(message=message, user=hq.ward_head).count() == CHANNELS
    sweep_and_wait(lambda: inapp(hq.ward_head, "reminder", message) == 2, worker=worker)  # repeat
    sweep_and_wait(lambda: inapp(d1, "escalation", message) == 1, worker=worker)
    assert StandIn.objects.get(chase__message=message, deputy=d1).rank == 1
    assert inapp(d2, "escalation", message) == 0
    sweep_and_wait(lambda: inapp(d2, "escalation", message) == 1, worker=worker)
    assert StandIn.objects.get(chase__message=message, deputy=d2).rank == 2
    sweep_and_wait(lambda: chase_of(message, hq.ward_head).state == "unreached", worker=worker)
    wait_for(lambda: inapp(hq.mayor, "unreached", message) == 1, worker=worker)

    chase = chase_of(message, hq.ward_head)
    assert (chase.step, chase.reminders, chase.deputy_rank) == (5, 2, 2)  # 5th: unreached
    assert inapp(hq.ward_head, "reminder", message) == 2 and inapp(d1, "escalation", message) == 1
    assert (
        "北区長"
        in Notification.objects.get(
            message=message, user=hq.mayor, kind="unreached", channel="inapp"
        ).detail
    )
    # A sweep much later (shown by a newer instruction's first reminder) changes nothing here.
    late = instruct(hq)
    sweep_and_wait(lambda: inapp(hq.ward_head, "reminder", late) == 1, worker=worker, advance=3600)
    assert inapp(hq.mayor, "unreached", message) == 1
    assert inapp(hq.ward_head, "reminder", message) == 2
    assert inapp(d2, "escalation", message) == 1
    assert_each_step_once()


def test_acknowledging_stops_the_chase(hq, worker):
    message = instruct(hq)
    sweep_and_wait(lambda: inapp(hq.ward_head, "reminder") == 1, worker=worker)

    services.receipt_acknowledge(user=hq.ward_head, message=message)

    # The others are still chased; by the time their repeat is written the sweep has passed.
    sweep_and_wait(lambda: inapp(hq.bureau_head, "reminder") == 2, worker=worker)
    assert chase_of(message, hq.ward_head).state == "covered"
    assert inapp(hq.ward_head, "reminder") == 1
    assert chased().filter(user=hq.ward_head).count() == CHANNELS


def test_reading_stops_a_read_chase_but_not_an_ack_chase(hq, worker):
    by_read = instruct(hq, stop_on="read")
    by_ack = instruct(hq, stop_on="ack")

    services.receipt_mark_read(user=hq.ward_head, group=hq.group, up_to_seq=by_ack.seq)

    sweep_and_wait(
        lambda: (
            Notification.objects.filter(
                message=by_ack, user=hq.ward_head, kind="reminder", channel="inapp"
            ).count()
            == 1
        ),
        worker=worker,
    )
    wait_for(lambda: chased().filter(message=by_read, user=hq.bureau_head).count() == CHANNELS)
    assert chase_of(by_read, hq.ward_head).state == "covered"
    assert chased().filter(message=by_read, user=hq.ward_head).count() == 0
    assert chase_of(by_ack, hq.ward_head).state == "active"


def test_a_deputy_acknowledging_for_the_post_stops_the_chase(hq, deputies, worker):
    d1, d2 = deputies
    message = instruct(hq, repeat_count=0)
    later = instruct(hq, first_after=150)  # first due at the third sweep: shows it ran
    sweep_and_wait(lambda: inapp(hq.ward_head, "reminder") == 1, worker=worker)
    sweep_and_wait(lambda: inapp(d1, "escalation") == 1, worker=worker)

    escalation.standin_respond(user=d1, stand_in=StandIn.objects.get(deputy=d1), acknowledge=True)

    sweep_and_wait(lambda: inapp(hq.ward_head, "reminder", later) == 1, worker=worker)
    chase = chase_of(message, hq.ward_head)
    assert chase.state == "covered" and chase.covered_by == d1
    assert inapp(d2, "escalation") == 0 and not StandIn.objects.filter(deputy=d2).exists()
    assert inapp(hq.ward_head, "reminder", message) == 1
    assert chase_of(message, hq.bureau_head).state == "unreached"  # no deputies: ran out


# --- concurrency and failure -----------------------------------------------------------------
def test_concurrent_sweeps_fire_each_step_once(hq, worker):
    first, second = instruct(hq), instruct(hq, repeat_count=3)
    clock.advance(STEP)
    errors: list[BaseException] = []

    def in_process() -> None:
        try:
            escalation.escalation_sweep()
        except BaseException as exc:  # noqa: BLE001 — reported by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=in_process)
    for _ in range(6):
        escalation_sweep_task.delay()
    thread.start()
    escalation.escalation_sweep()
    thread.join(timeout=WAIT)
    wait_for(
        lambda: Notification.objects.filter(kind="reminder").count() == 2 * 2 * CHANNELS,
        worker=worker,
    )
    time.sleep(1.0)  # let the other sweeps finish; nothing more may appear

    assert errors == []
    for message in (first, second):
        for user in (hq.ward_head, hq.bureau_head):  # the observer is not chased (issue 9)
            chase = chase_of(message, user)
            assert (chase.step, chase.reminders) == (1, 1)
            assert Notification.objects.filter(data__chase=chase.pk).count() == CHANNELS
    assert chased().count() == 2 * 2 * CHANNELS
    assert_each_step_once()


def crowd(hq, size: int) -> list[int]:
    """``size`` more members with accounts in the group, built in bulk."""
    unit = OrgUnitFactory()
    tag = uuid.uuid4().hex[:6]
    users = User.objects.bulk_create(
        [
            User(username=f"K{tag}{i:04d}", email=f"k{tag}{i}@city.example.jp", role="staff")
            for i in range(size)
        ]
    )
    users = list(User.objects.filter(username__startswith=f"K{tag}"))
    staff = Staff.objects.bulk_create(
        [
            Staff(
                employee_number=f"9{tag}{i:04d}",
                family_name="大阪",
                given_name=f"{i}",
                family_kana="おおさか",
                given_kana=f"{i}",
                unit=unit,
                user=user,
            )
            for i, user in enumerate(users)
        ]
    )
    staff = list(Staff.objects.filter(employee_number__startswith=f"9{tag}"))
    GroupMembership.objects.bulk_create(
        [GroupMembership(group=hq.group, staff=s, role="member") for s in staff]
    )
    return [u.pk for u in users]


KILL_BATCH = 40


def _kill_mid_batch_setup(hq, start_worker, size: int = 300):
    crowd(hq, size)
    message = instruct(hq)
    due = Chase.objects.filter(message=message).count()
    assert due == size + 2  # the crowd, the ward head and the bureau head (not the observer)
    worker = start_worker(batch=KILL_BATCH)
    clock.advance(STEP)
    escalation_sweep_task.delay()
    wait_for(lambda: cache.get("test:mid-batch") is not None, worker=worker)
    # The first batch is committed; the second has written but not committed.
    assert Notification.objects.filter(kind="reminder").count() == KILL_BATCH * CHANNELS
    return message, due, worker


def _assert_every_due_step_fired_once(message, due: int) -> None:
    assert Chase.objects.filter(message=message, step=1, reminders=1).count() == due
    assert Notification.objects.filter(kind="reminder", channel="inapp").count() == due
    assert Notification.objects.filter(kind="reminder").count() == due * CHANNELS
    assert_each_step_once()


def test_a_pool_process_killed_mid_batch_loses_and_duplicates_nothing(hq, start_worker):
    message, due, worker = _kill_mid_batch_setup(hq, start_worker)
    child = int(cache.get("test:mid-batch"))
    assert child in worker.children()

    os.kill(child, signal.SIGKILL)

    # acks_late + reject_on_worker_lost: the task goes back to the queue and the other pool
    # process runs it again from the state in the database; no new sweep is enqueued.
    wait_for(
        lambda: Notification.objects.filter(kind="reminder", channel="inapp").count() == due,
        worker=worker,
    )
    time.sleep(1.0)
    _assert_every_due_step_fired_once(message, due)


def test_a_worker_killed_mid_batch_loses_and_duplicates_nothing(hq, start_worker):
    message, due, worker = _kill_mid_batch_setup(hq, start_worker)

    worker.kill()  # the whole worker, parent and pool: nothing is left to requeue the task

    assert Notification.objects.filter(kind="reminder").count() == KILL_BATCH * CHANNELS
    fresh = start_worker()
    escalation_sweep_task.delay()  # beat's next tick: all the state is in the database
    wait_for(
        lambda: Notification.objects.filter(kind="reminder", channel="inapp").count() == due,
        worker=fresh,
    )
    time.sleep(1.0)
    _assert_every_due_step_fired_once(message, due)
