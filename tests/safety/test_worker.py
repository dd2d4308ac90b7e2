"""A round with a real Celery worker and a real SMTP server on 127.0.0.1: the first e-mail and
each re-send go once to those still unanswered, even with two sweeps at once; a worker killed
mid-round loses no answer and leaves nobody without their e-mail."""

from __future__ import annotations

import time
from collections import Counter

import pytest
from django.test import Client

from notifications.models import Notification
from notifications.selectors import STALE_CLAIM
from notifications.tasks import notifications_redeliver_task
from realtime import clock
from safety import answers, rounds, selectors
from safety.links import link_token
from safety.models import SafetyAnswer, SafetyRequest
from safety.tasks import safety_resend_sweep_task
from tests import smtp
from tests.factories import StaffFactory
from tests.messaging.test_escalation_worker import start_worker, wait_for  # noqa: F401
from tests.safety.conftest import SAFE

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def sink(monkeypatch):
    controller, received, port = smtp.start()
    monkeypatch.setenv("HONBU_TEST_SMTP_PORT", str(port))  # the workers send here
    yield received
    controller.stop()


def per_address(sink) -> Counter:
    return Counter(m["X-Envelope-To"] for m in sink.messages)


def address(request: SafetyRequest) -> str:
    staff = request.staff
    return staff.user.email if staff.user_id else staff.email


def test_each_re_send_reaches_the_unanswered_once_with_two_sweeps_at_once(
    city,
    sink,
    start_worker,  # noqa: F811
):
    worker = start_worker()
    round_ = rounds.round_start(
        actor=city.mayor, title="安否確認", target={"all": True}, resend_minutes=[1]
    )
    requests = list(SafetyRequest.objects.filter(round=round_).select_related("staff__user"))
    wait_for(lambda: len(sink.messages) == len(requests), worker=worker)
    answered = next(r for r in requests if r.staff == city.kita_staff[0])
    answers.answer_from_link(request=answered, data=SAFE)

    clock.advance(61)
    for _ in range(2):  # two beats at once (or two workers)
        safety_resend_sweep_task.delay()
    wait_for(lambda: len(sink.messages) == 2 * len(requests) - 1, worker=worker)
    time.sleep(1.5)  # nothing more may come

    counts = per_address(sink)
    assert counts[address(answered)] == 1
    assert all(counts[address(r)] == 2 for r in requests if r != answered)
    assert len(sink.messages) == 2 * len(requests) - 1


def test_a_worker_killed_mid_round_loses_no_answer_and_no_e_mail(
    city,
    sink,
    start_worker,  # noqa: F811
):
    for _ in range(120):
        StaffFactory(unit=city.chuo)
    sink.delay = 0.03  # a slow mail server: the worker is mid-batch when it dies
    worker = start_worker()
    round_ = rounds.round_start(actor=city.mayor, title="安否確認", target={"all": True})
    total = round_.total
    wait_for(lambda: len(sink.messages) >= 20, worker=worker)

    worker.kill()  # the whole worker, mid-delivery

    # Answers keep coming over HTTP while no worker runs: each stored, none lost.
    phone = Client()
    answered = list(SafetyRequest.objects.filter(round=round_).order_by("pk")[:40])
    for request in answered:
        token = link_token(request_id=request.pk, nonce=request.nonce)
        assert phone.post(f"/s/{token}/", SAFE).status_code == 200
    assert SafetyAnswer.objects.filter(round=round_).count() == 40

    # A new worker; the redelivery sweep (beat) hands out what the dead one had claimed.
    sink.delay = 0
    fresh = start_worker()
    clock.advance(STALE_CLAIM + 60)  # the dead delivery's claims are now stale
    notifications_redeliver_task.delay()
    wait_for(
        lambda: (
            not Notification.objects.filter(
                kind="safety_request", status__in=("pending", "sending")
            ).exists()
        ),
        worker=fresh,
        timeout=60,
    )

    counts = per_address(sink)
    requests = SafetyRequest.objects.filter(round=round_).select_related("staff__user")
    assert all(counts[address(r)] >= 1 for r in requests)  # nobody left without it
    # each outcome is recorded once sent: only a message whose OK came in the instant before
    # the kill can go twice, one per pool process
    assert sum(n - 1 for n in counts.values()) <= 2
    totals = selectors.round_totals(round_=round_, fresh=True)
    assert (totals.total, totals.answered) == (total, 40)
