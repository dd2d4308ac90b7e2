"""A round with a real Celery worker and a real SMTP server on 127.0.0.1: the first e-mail and
each re-send go once to those still unanswered, even with two sweeps at once; a worker killed
mid-batch (twice) loses no answer and still sends each step exactly once to each person."""

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


def _kill_mid_batch(sink, worker) -> None:
    """Wait until the worker is mid-batch, its next e-mail held by the mail server before it
    was received, and SIGKILL the whole worker there."""
    wait_for(sink.holding.is_set, worker=worker)
    worker.kill()
    sink.release.set()  # the held message is refused: it was never received
    wait_for(lambda: not sink.holding.is_set())
    sink.release.clear()


def _redeliver_with_a_new_worker(start_worker) -> None:  # noqa: F811
    """What beat does after a crash: a new worker, and the redelivery sweep once the dead
    delivery's claims are stale."""
    fresh = start_worker()
    clock.advance(STALE_CLAIM + 60)
    notifications_redeliver_task.delay()
    wait_for(
        lambda: (
            not Notification.objects.filter(
                kind="safety_request", status__in=("pending", "sending")
            ).exists()
        ),
        worker=fresh,
        timeout=40,
    )
    return fresh


def test_a_worker_killed_mid_batch_loses_no_answer_and_sends_each_step_once(
    city,
    sink,
    start_worker,  # noqa: F811
):
    """The worker is SIGKILLed in the middle of the round's first batch of e-mails and again
    in the middle of the first re-send; after a new worker has run, everybody has exactly one
    e-mail per step, and the answers given over HTTP meanwhile are all there."""
    for _ in range(120):
        StaffFactory(unit=city.chuo)
    sink.hold_at = 30  # the worker dies with 29 e-mails handed over and recorded
    worker = start_worker()
    round_ = rounds.round_start(
        actor=city.mayor, title="安否確認", target={"all": True}, resend_minutes=[15]
    )
    total = round_.total
    requests = list(SafetyRequest.objects.filter(round=round_).select_related("staff__user"))
    _kill_mid_batch(sink, worker)
    assert len(sink.messages) == 29

    # Answers keep coming over HTTP while no worker runs: each stored, none lost.
    phone = Client()
    answered = sorted(requests, key=lambda r: r.pk)[:40]
    for request in answered:
        token = link_token(request_id=request.pk, nonce=request.nonce)
        assert phone.post(f"/s/{token}/", SAFE).status_code == 200
    assert SafetyAnswer.objects.filter(round=round_).count() == 40

    fresh = _redeliver_with_a_new_worker(start_worker)
    first = per_address(sink)
    assert {address(r): first[address(r)] for r in requests} == {address(r): 1 for r in requests}
    assert len(sink.messages) == total  # and nobody else

    # The first re-send (after 15 minutes) to the 40 fewer still unanswered, killed mid-batch.
    sink.hold_at = sink.recipients + 30
    clock.advance(15 * 60)
    safety_resend_sweep_task.delay()
    _kill_mid_batch(sink, fresh)
    _redeliver_with_a_new_worker(start_worker)
    resent = per_address(sink) - first
    unanswered = [r for r in requests if r not in answered]
    assert {address(r): resent[address(r)] for r in requests} == {
        address(r): 0 if r in answered else 1 for r in requests
    }
    assert sum(resent.values()) == len(unanswered)
    assert not Notification.objects.filter(channel="email", status="failed").exists()
    totals = selectors.round_totals(round_=round_, fresh=True)
    assert (totals.total, totals.answered) == (total, 40)
    assert SafetyAnswer.objects.filter(round=round_).count() == 40


def test_a_worker_killed_mid_poll_starts_the_round_once(
    city,
    jma,
    sink,
    monkeypatch,
    start_worker,  # noqa: F811
):
    """``safety.jma_poll_task`` killed -9 (the whole worker) while it downloads a 震度5強
    report it has leased: nothing is started, the report stays pending; after the lease the
    next poll, on a new worker, starts the round once and everybody's first message is written
    once (docs/reliability.md, every Celery task and its kill drill)."""
    from safety.jma.models import JmaReport
    from safety.jma.poller import LEASE_SECONDS
    from safety.models import SafetyRound
    from safety.tasks import safety_jma_poll_task
    from tests.faults import checker

    document = "/data/VXSE53_5plus_osaka.xml"
    monkeypatch.setenv("HONBU_JMA_FEED_URL", jma.feed_url)  # the workers poll it
    monkeypatch.setenv("HONBU_JMA_TIMEOUT_SECONDS", "60")  # the held download outlasts the kill
    jma.publish("VXSE53_5plus_osaka.xml")
    jma.delays[document] = 60  # the feed server holds the report's download
    worker = start_worker()
    safety_jma_poll_task.delay()
    wait_for(lambda: jma.hits(document) == 1, worker=worker)
    worker.kill()
    assert not SafetyRound.objects.exists()
    [report] = JmaReport.objects.all()
    assert report.state == JmaReport.State.PENDING and report.lease_until is not None

    jma.delays.clear()
    fresh = start_worker()
    clock.advance(LEASE_SECONDS + 5)  # the dead poll's lease runs out
    safety_jma_poll_task.delay()  # what beat does every 30 s
    started = SafetyRound.objects.filter(notified_at__isnull=False)
    wait_for(started.exists, worker=fresh)
    safety_jma_poll_task.delay()  # and again: nothing more
    wait_for(lambda: jma.hits("/feed.xml") >= 3, worker=fresh)
    time.sleep(1.5)

    [round_] = SafetyRound.objects.all()
    assert JmaReport.objects.get().state == JmaReport.State.DONE
    assert jma.hits(document) == 2  # the held download, and the new worker's
    report_ = checker.Report()
    checker.check_round_start(report_, round_id=round_.pk)
    report_.assert_clean()
    assert round_.total > 0
