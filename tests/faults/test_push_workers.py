"""Drill: kill -9 a real Celery worker (its whole process group) mid-task for the two tasks that
push (issue 13; the e-mail tasks are test_workers.py, the escalation sweep
tests/messaging/test_escalation_worker.py). A headquarters of MEMBERS people, each with a
browser subscribed to Web Push — every fourth with two devices — on a push service that is a
real HTTP server on 127.0.0.1 (tests/push.py; the worker encrypts and signs each push as for a
browser vendor's service, and the checker decrypts it). The mayor sends an urgent instruction
without a chase (the alert is then its only push) while nobody has a page open:

1. **the immediate alert** (``messaging.instruction_alert_task``): the test holds the
   notification table's write lock, starts a worker, and kills it -9 while its alert is
   waiting to write everyone's push — the task is gone with it (acks-late: unacknowledged in
   Redis for the visibility timeout, an hour). A new worker's escalation sweep must run the
   owed alert (``alerts.instruction_alerts_overdue``);
2. **Web Push delivery** (``notifications.deliver_task``): the push service holds the request
   to a person's *second* device (the first already accepted) without answering, and the worker
   sending it is killed -9; after STALE_CLAIM the redelivery sweep hands out what it had
   claimed, and a new worker sends it.

The checker: every member has exactly one alert written and sent, and every device received the
instruction's push exactly once (0 lost, 0 twice; docs/reliability.md)."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter

import pytest
from django.db import connection, transaction

from messaging import alerts, services
from messaging.models import Message
from messaging.tasks import escalation_sweep_task
from notifications.models import Notification
from notifications.selectors import STALE_CLAIM
from notifications.tasks import notifications_redeliver_task
from realtime import clock
from tests.faults import checker
from tests.faults.conftest import _purge_queue, make_city
from tests.messaging.test_escalation_worker import start_worker, wait_for  # noqa: F401
from tests.push import subscribe

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(300)]

MEMBERS = 120
HOLD_AFTER = 30  # the push service holds the first second-device push after 30 accepted


def _lock_out_notification_writes() -> None:
    """Hold the notification table's write lock (PostgreSQL: SHARE ROW EXCLUSIVE; SQLite: the
    database's, by the IMMEDIATE transaction itself) until the transaction ends."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("LOCK TABLE notifications_notification IN SHARE ROW EXCLUSIVE MODE")
    else:
        Notification.objects.filter(pk=0).update(detail="")


def _alert_waiting_for_the_lock() -> bool:
    """The worker's alert is at its write, waiting for the lock (PostgreSQL: a session of the
    test database waits for a lock — the statement text is not shown yet while its Parse
    waits, psycopg binds on the server); elsewhere: the
    task has left the queue (the worker holds it, unacknowledged) — a second more and it is
    inside its transaction or before it, either way nothing of it can commit."""
    if connection.vendor == "postgresql":
        return checker.session_waits_for_a_lock()
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        if client.llen(settings.CELERY_TASK_DEFAULT_QUEUE):
            return False
    finally:
        client.close()
    time.sleep(1.0)
    return True


def test_push_workers_killed_mid_task_lose_and_double_nothing(
    push_service,
    vapid,
    monkeypatch,
    settings,
    capsys,
    start_worker,  # noqa: F811
):
    monkeypatch.setenv("HONBU_VAPID_PRIVATE_KEY", settings.HONBU_VAPID_PRIVATE_KEY)  # workers
    # Tasks earlier tests left on the session's queue (deliveries of rows long gone) would be
    # taken first and wait for the lock below too, leaving no process for the health check.
    _purge_queue()
    city = make_city(MEMBERS, emails=False)
    devices = {}
    second = set()
    for i, member in enumerate(city.members):
        for n in range(2 if i % 4 == 0 else 1):
            device = subscribe(member, push_service)
            path = "/" + device.subscription.endpoint.split("/", 3)[3]
            devices[path] = device
            if n:
                second.add(path)
    lock = threading.Lock()

    def hold_a_second_device(path: str) -> bool:
        with lock:
            if push_service.held or path not in second:
                return False
            return len(push_service.received) >= HOLD_AFTER

    notes: list[str] = []
    clock.reset()
    try:
        # 1. The alert task: sent while no worker runs; the worker that takes it is killed
        # while it waits to write the pushes.
        message = services.message_send(
            group=city.group,
            sender=city.mayor,
            body="大津波警報。沿岸部の職員は直ちに高台へ避難してください。",
            client_id=uuid.uuid4(),
            kind="instruction",
            priority="urgent",
            escalation={"enabled": False},  # no chase: the alert is the only push it gets
        ).message
        alerts_ = Notification.objects.filter(kind="instruction", subject_id=message.pk)
        with transaction.atomic():
            _lock_out_notification_writes()
            worker = start_worker()
            wait_for(_alert_waiting_for_the_lock, worker=worker)
            worker.kill()
        written = alerts_.count()
        notes.append(f"alert: worker killed -9 while its alert waited to write; {written} written")
        assert written == 0, "the kill did not land before the alert's commit"
        assert Message.objects.get(pk=message.pk).alerted_at is None

        # 2. A new worker: the sweep runs the owed alert; the push service holds a person's
        # second device and the worker sending it is killed.
        push_service.hold = hold_a_second_device
        worker = start_worker()
        clock.advance(alerts.ALERT_GRACE_SECONDS + 5)
        escalation_sweep_task.delay()  # what beat does every second
        assert push_service.holding.wait(90), "the push service never got a push to hold"
        worker.kill()
        push_service.release.set()
        accepted = len(push_service.received)
        notes.append(
            f"alert written by the sweep: {alerts_.count()} of {MEMBERS}; delivery: worker "
            f"killed -9 while the push service held {push_service.held[0]} (a second device), "
            f"{accepted} pushes accepted before it"
        )
        assert alerts_.count() == MEMBERS
        assert 0 < accepted < len(devices)

        # 3. A new worker and the redelivery sweep once the dead delivery's claims are stale.
        worker = start_worker()
        clock.advance(STALE_CLAIM + 10)
        notifications_redeliver_task.delay()
        sent = alerts_.filter(status="sent")
        wait_for(lambda: sent.count() == MEMBERS, worker=worker, timeout=90)
        escalation_sweep_task.delay()  # a later sweep writes nothing more
        time.sleep(2.0)  # nothing more may come
        notes.append(
            f"notifications: {dict(Counter(alerts_.values_list('status', flat=True)))}; push "
            f"service accepted {len(push_service.received)} for {len(devices)} devices, "
            f"dropped the held one: {len(push_service.held)}"
        )
    finally:
        clock.reset()

    report = checker.Report(notes=notes)
    checker.check_alerts(report, message_ids=[message.pk], user_ids=[u.pk for u in city.members])
    checker.check_pushes(
        report,
        push_service.received,
        devices,
        tags=[f"honbu-{message.pk}"],
        what="pushes received (per device)",
    )
    with capsys.disabled():
        print("\n" + report.table())
    report.assert_clean()
    assert not Notification.objects.filter(channel="push").exclude(kind="instruction").exists()
    assert Message.objects.get(pk=message.pk).alerted_at is not None
