"""The inject sweep on a real Celery worker with the controllable clock (issue 11): injects fire
on time and once even with two sweeps at once, pause and resume move what is due, and a worker
killed mid-sweep leaves nothing fired twice and nothing lost — the next worker fires the rest.
A drill's safety round goes out by e-mail marked as an exercise."""

from __future__ import annotations

import time

import pytest

from drills import runs
from drills.models import Inject, RunInject, Scenario
from drills.tasks import drills_sweep_task
from messaging.models import Message
from realtime import clock
from tests import smtp
from tests.messaging.test_escalation_worker import start_worker, wait_for  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def sink(monkeypatch):
    controller, received, port = smtp.start()
    monkeypatch.setenv("HONBU_TEST_SMTP_PORT", str(port))  # the workers send here
    yield received
    controller.stop()


def _scenario(city, coordinator, *, count: int = 2, offset_step: int = 60) -> Scenario:
    scenario = Scenario.objects.create(title="訓練 ワーカー", created_by=coordinator)
    head = city.mayor.staff.posts_held.get()
    for n in range(1, count + 1):
        Inject.objects.create(
            scenario=scenario,
            number=n,
            offset=offset_step * n,
            kind=Inject.Kind.INSTRUCTION,
            from_post=head,
            to_group=city.group,
            text=f"指示 {n}",
        )
    return scenario


def _fired(run) -> dict[int, int]:
    """Messages per inject number: the exercise messages the run produced, counted by text."""
    texts = list(Message.objects.filter(exercise=True).values_list("body", flat=True))
    return {
        number: sum(body.endswith(f"指示 {number}") for body in texts)
        for number in RunInject.objects.filter(run=run).values_list("number", flat=True)
    }


def test_injects_fire_on_time_and_once_with_two_sweeps_at_once(
    city,
    start_worker,  # noqa: F811
):
    worker = start_worker()
    run = runs.run_start(scenario=_scenario(city, city.coordinator), actor=city.coordinator)

    clock.advance(30)  # nothing is due yet
    drills_sweep_task.delay()
    drills_sweep_task.delay()
    time.sleep(1.5)
    assert _fired(run) == {1: 0, 2: 0}

    clock.advance(31)  # the first is due
    for _ in range(3):  # three beats at once, on two worker processes
        drills_sweep_task.delay()
    wait_for(lambda: _fired(run)[1] == 1, worker=worker)
    time.sleep(1.5)  # nothing more may come
    assert _fired(run) == {1: 1, 2: 0}
    first = RunInject.objects.get(run=run, number=1)
    assert first.status == RunInject.Status.FIRED and first.message.exercise

    clock.advance(60)
    drills_sweep_task.delay()
    drills_sweep_task.delay()
    wait_for(lambda: _fired(run)[2] == 1, worker=worker)
    time.sleep(1.0)
    assert _fired(run) == {1: 1, 2: 1}


def test_pause_and_resume_on_the_worker(
    city,
    start_worker,  # noqa: F811
):
    worker = start_worker()
    run = runs.run_start(scenario=_scenario(city, city.coordinator), actor=city.coordinator)
    clock.advance(30)
    runs.run_pause(run=run, actor=city.coordinator)
    clock.advance(120)  # the first would be due now, but the drill is paused
    drills_sweep_task.delay()
    time.sleep(1.5)
    assert _fired(run) == {1: 0, 2: 0}

    runs.run_resume(run=run, actor=city.coordinator)  # due times move by the 120 s pause
    drills_sweep_task.delay()
    time.sleep(1.5)
    assert _fired(run) == {1: 0, 2: 0}
    clock.advance(31)
    drills_sweep_task.delay()
    wait_for(lambda: _fired(run)[1] == 1, worker=worker)
    assert _fired(run) == {1: 1, 2: 0}


def test_a_worker_killed_mid_sweep_fires_nothing_twice_and_loses_nothing(
    city,
    start_worker,  # noqa: F811
):
    """120 injects due at once, fired in transactions of 50: the first worker is killed as soon
    as its first batch is committed (while it fires the next); another worker's sweep fires
    exactly the ones it had not committed."""
    count = 120
    scenario = _scenario(city, city.coordinator, count=count, offset_step=1)
    run = runs.run_start(scenario=scenario, actor=city.coordinator)
    clock.advance(count + 10)
    first = start_worker()
    drills_sweep_task.delay()
    wait_for(lambda: any(_fired(run).values()), worker=first, timeout=60)
    first.kill()
    # What the dead worker left is whole batches: never half of one.
    assert sum(_fired(run).values()) in (runs.BATCH, 2 * runs.BATCH, count)

    second = start_worker()
    drills_sweep_task.delay()
    wait_for(lambda: all(_fired(run).values()), worker=second, timeout=90)
    time.sleep(1.0)
    fired = _fired(run)
    assert set(fired.values()) == {1}, fired  # every inject exactly once
    assert RunInject.objects.filter(run=run, status=RunInject.Status.FIRED).count() == count


def test_exercise_e_mails_say_so(
    city,
    sink,
    start_worker,  # noqa: F811
):
    """A drill's safety round goes out by e-mail through the worker, marked as an exercise."""
    scenario = Scenario.objects.create(title="訓練 安否", created_by=city.coordinator)
    Inject.objects.create(
        scenario=scenario, number=1, offset=0, kind=Inject.Kind.SAFETY_ROUND, text="訓練 安否確認"
    )
    worker = start_worker()
    run = runs.run_start(scenario=scenario, actor=city.coordinator)
    drills_sweep_task.delay()
    round_ = None

    def sent() -> bool:
        nonlocal round_
        round_ = RunInject.objects.get(run=run, number=1).round
        return round_ is not None and len(sink.messages) >= round_.total

    wait_for(sent, worker=worker, timeout=60)
    assert round_.is_drill
    subjects = {smtp.subject(m) for m in sink.messages}
    assert subjects and all("訓練" in s for s in subjects), subjects
