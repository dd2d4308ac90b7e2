"""``calls.sweep_task`` through a real Celery worker killed -9 mid-sweep (issue 13: every task
has a kill drill; docs/reliability.md). Calls that nobody answered past their ring deadline are
ended by the sweep, each in its own transaction, each leaving a line in the two people's
conversation and a missed-call notification for the callee. The worker is killed while the
sweep waits for one call's row (the test holds its lock), with some calls ended before it; a
new worker's sweep ends the rest: every call ended once, one line and one missed call each."""

from __future__ import annotations

import time
from collections import Counter

import pytest
from django.conf import settings
from django.db import transaction

from calls import services
from calls.models import Call
from calls.notices import KIND_MISSED
from calls.tasks import calls_sweep_task
from messaging.models import Message
from notifications.models import Notification
from realtime import clock
from tests.calls.conftest import person
from tests.faults.checker import session_waits_for_a_lock
from tests.faults.conftest import _purge_queue
from tests.messaging.test_escalation_worker import start_worker, wait_for  # noqa: F401

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(240)]

PAIRS = 20
HELD = 10  # the call whose row the test holds (in the sweep's order: newest first)


@pytest.mark.skipif(
    not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"),
    reason="holds one call's row lock: PostgreSQL (SQLite locks the whole database)",
)
def test_a_worker_killed_mid_sweep_ends_every_call_once(start_worker):  # noqa: F811
    clock.reset()
    _purge_queue()  # what earlier tests left on the session's queue goes first otherwise
    calls = [services.call_start(caller=person(), callee=person().staff) for _ in range(PAIRS)]
    assert all(c.state == Call.State.RINGING for c in calls)
    ordered = list(Call.objects.filter(pk__in=[c.pk for c in calls]))  # the sweep's order
    held = ordered[HELD]
    ended = Call.objects.filter(pk__in=[c.pk for c in calls], state=Call.State.ENDED)
    try:
        clock.advance(settings.HONBU_CALL_RING_SECONDS + 5)
        with transaction.atomic():
            Call.objects.select_for_update().get(pk=held.pk)
            worker = start_worker()
            calls_sweep_task.delay()
            wait_for(session_waits_for_a_lock, worker=worker)
            worker.kill()  # the whole worker, mid-sweep: its task is gone with it
        before = ended.count()
        assert 0 < before < PAIRS, before
        assert Call.objects.get(pk=held.pk).state == Call.State.RINGING

        fresh = start_worker()
        calls_sweep_task.delay()  # what beat does every HONBU_SWEEP_SECONDS
        wait_for(lambda: ended.count() == PAIRS, worker=fresh)
        calls_sweep_task.delay()  # and again: nothing more
        time.sleep(1.5)
    finally:
        clock.reset()

    for call in Call.objects.filter(pk__in=[c.pk for c in calls]):
        assert (call.outcome, call.end_reason) == (Call.Outcome.NO_ANSWER, "timeout")
        lines = Message.objects.filter(group_id=call.group_id)
        assert lines.count() == 1, (call.pk, list(lines.values_list("body", flat=True)))
    missed = Counter(
        Notification.objects.filter(kind=KIND_MISSED).values_list("once_key", "channel")
    )
    assert {key for key, _channel in missed} == {f"call:{c.pk}:missed" for c in calls}
    assert set(missed.values()) == {1}, missed
    print(f"\nkilled with {before} of {PAIRS} calls ended; all {PAIRS} ended once after")
