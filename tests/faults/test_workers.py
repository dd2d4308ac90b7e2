"""Drill: kill -9 a Celery worker of the stack mid-batch, for each task that sends. (The
escalation sweep's kill is tests/messaging/test_escalation_worker.py; drill injects,
tests/drills/test_worker.py.) One safety round for 400 staff, e-mail through a real SMTP server
(aiosmtpd) on 127.0.0.1:

1. **the round's first messages** (``safety.round_notify_task``, written 50 people a
   transaction here): the worker writing them is killed after its first batches, so the task
   is gone with it (unacked, for an hour); the sweep finishes the round after 60 s;
2. **e-mail delivery** (``notifications.deliver_task``): the mail server holds a message
   without answering, the worker sending it is killed mid-conversation; the redelivery sweep
   hands out what it had claimed.

The checker matches every e-mail notification to what the server received by Message-ID:
0 lost, 0 received twice; every person's first message written once (docs/reliability.md)."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import threading
import time
import uuid
from collections import Counter

import pytest
from django.db import connection, transaction

from directory.models import Staff
from notifications.models import Notification
from notifications.selectors import STALE_CLAIM
from realtime import clock
from safety import rounds
from safety.models import SafetyRound
from safety.notify import KIND_REQUEST, START_GRACE_SECONDS
from tests import smtp
from tests.factories import OrgUnitFactory
from tests.faults import checker

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(300)]

STAFF = 400
BATCH = 50  # people a transaction (HONBU_SAFETY_NOTIFY_BATCH)
HOLD_AFTER = 20  # once the round is written: the mail server holds the 20th message after


class HoldingSink(smtp.Sink):
    """The test mail server; it holds the ``hold_data_at``-th message (its DATA; the base sink
    can hold a recipient instead, ``hold_at``) without answering until the
    connection closes, and then keeps nothing of it — the sender never heard OK, so the message
    was not accepted (RFC 5321 §4.1.1.4: responsibility passes with the OK reply)."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0
        self.hold_data_at = 0  # 0: hold nothing
        self.data_holding = threading.Event()
        self.held_peer: tuple | None = None
        self.dropped = 0

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        with self.lock:
            self.count += 1
            n = self.count
        if n == self.hold_data_at:
            self.held_peer = session.peer
            self.data_holding.set()
            try:  # aiosmtpd cancels the handler when the connection is lost
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
                return "421 closing"
            finally:
                self.dropped += 1
        return await super().handle_DATA(server, session, envelope)


def _staff(size: int) -> None:
    unit = OrgUnitFactory()
    tag = uuid.uuid4().hex[:6]
    Staff.objects.bulk_create(
        [
            Staff(
                employee_number=f"7{tag}{i:04d}",
                family_name="職員",
                given_name=f"{i}",
                family_kana="しょくいん",
                given_kana=f"{i}",
                unit=unit,
                email=f"s{tag}{i}@city.example.jp",
            )
            for i in range(size)
        ]
    )


def _worker_running(stack, task: str) -> str:
    """The stack's worker whose log says it received ``task``."""
    for name in ("worker1", "worker2"):
        if f"{task}[" in stack.processes[name].log.read_text(errors="replace"):
            return name
    raise AssertionError(f"no worker received {task}")


def _worker_with_connection_from(stack, port: int) -> str:
    """The stack's worker whose (pool) process owns the client end of a TCP connection."""
    out = subprocess.run(
        ["ss", "-Htnp", "state", "established", f"( sport = :{port} )"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    pids = {int(p) for p in re.findall(r"pid=(\d+)", out)}
    for name in ("worker1", "worker2"):
        leader = stack.processes[name].pid
        for pid in pids:
            try:
                if pid == leader or os.getpgid(pid) == leader:
                    return name
            except ProcessLookupError:
                continue
    raise AssertionError(f"no worker owns port {port}: {out!r}")


def _lock_out_notification_writes():
    """Hold the table's write lock (PostgreSQL: a SHARE ROW EXCLUSIVE table lock; SQLite: the
    database's, by the IMMEDIATE transaction itself) so the worker stops at its next batch."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("LOCK TABLE notifications_notification IN SHARE ROW EXCLUSIVE MODE")
    else:
        Notification.objects.filter(pk=0).update(detail="")  # takes SQLite's write lock


def wait_for(condition, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_workers_killed_mid_batch_lose_and_double_nothing(stack_factory, monkeypatch, capsys):
    sink = HoldingSink()
    controller = smtp.Controller(sink, hostname="127.0.0.1", port=_port())
    controller.start()
    clock.reset()
    notes: list[str] = []
    try:
        _staff(STAFF)
        env = {
            "HONBU_TEST_SMTP_PORT": str(controller.port),
            "HONBU_SAFETY_NOTIFY_BATCH": str(BATCH),
        }
        with stack_factory(env=env) as stack:
            requests = Notification.objects.filter(kind=KIND_REQUEST)

            # 1. The round's first messages: the worker writing them is killed mid-task.
            round_ = rounds.round_start(actor=None, title="安否確認（訓練）", target={"all": True})
            wait_for(lambda: requests.exists(), timeout=60, what="the first batch")
            with transaction.atomic():
                _lock_out_notification_writes()
                written = requests.count()
                name = _worker_running(stack, "safety.round_notify_task")
                stack.kill(name)  # kill -9, the whole worker: its task is gone with it
            notes.append(
                f"round start: {name} killed -9 with {written} of {STAFF} first messages "
                f"written ({BATCH} a transaction)"
            )
            assert 0 < written < STAFF, "the kill did not land mid-task"
            stack.start_process(name)
            clock.advance(START_GRACE_SECONDS + 5)  # the sweep takes the round over
            finished = SafetyRound.objects.filter(pk=round_.pk, notified_at__isnull=False)
            wait_for(finished.exists, timeout=60, what="the sweep to finish the round")
            assert requests.count() == STAFF

            # 2. Delivery: the worker sending the held message is killed mid-conversation.
            with sink.lock:
                sink.hold_data_at = sink.count + HOLD_AFTER
            assert sink.data_holding.wait(90), "the mail server never got the message to hold"
            name = _worker_with_connection_from(stack, sink.held_peer[1])
            stack.kill(name)
            sent_before = len(sink.messages)
            notes.append(
                f"delivery: {name} killed -9 while the mail server held message "
                f"{sink.hold_data_at} ({sent_before} accepted before it)"
            )
            stack.start_process(name)
            # what the dead worker had claimed is stale after STALE_CLAIM; the sweep re-sends
            clock.advance(STALE_CLAIM + 10)
            done = Notification.objects.filter(kind=KIND_REQUEST, status="sent")
            wait_for(lambda: done.count() == STAFF, timeout=90, what="every e-mail sent")
            time.sleep(2.0)  # nothing more may come
            by_status = Counter(requests.values_list("status", flat=True))
            notes.append(
                f"notifications: {dict(by_status)}; mail server received "
                f"{len(sink.messages)}, dropped the held one: {sink.dropped}"
            )
    finally:
        clock.reset()
        controller.stop()

    report = checker.Report(notes=notes)
    checker.check_round_start(report, round_id=round_.pk)
    checker.check_mail(report, sink.messages, kinds=[KIND_REQUEST], what="round e-mails received")
    with capsys.disabled():
        print("\n" + report.table())
    report.assert_clean()
    assert SafetyRound.objects.get(pk=round_.pk).notified_at is not None


def _port() -> int:
    from deploy.stack import free_port

    return free_port()
