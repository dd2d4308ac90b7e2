"""Drills through the services with a controllable clock: injects fire on time and once,
pause and resume move what is due, a missed expectation fires its contingency (a met one does
not), exercise traffic is marked on every channel, a real disaster stops or pauses the drill,
and only coordinators and administrators run drills."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from directory import services as directory_services
from directory.models import User
from drills import metrics, runs
from drills.models import Inject, Run, RunEntry, RunInject, Scenario
from messaging import alerts, escalation, services
from messaging import selectors as messaging_selectors
from messaging.models import Message
from notifications import kinds
from notifications.delivery import notifications_deliver
from notifications.models import Notification
from safety import incidents
from safety.models import SafetyRound
from tests import smtp
from tests.factories import StaffFactory, UserFactory
from tests.push import decrypt, subscribe

pytestmark = pytest.mark.django_db


@pytest.fixture
def drill(city):
    """The 2019 drill: the mayor (本部長) tells the wards to move residents to the 3rd floor;
    the 北区長 is expected to read within 2 minutes and reply within 5; if not, the control cell
    sends a follow-up."""
    coordinator = UserFactory(role=User.Role.COORDINATOR)
    StaffFactory(user=coordinator, unit=city.crisis)
    services.group_add_member(
        group=city.group, staff=coordinator.staff, role="commander", actor=None
    )
    scenario = Scenario.objects.create(title="2019年1月 地震訓練", created_by=coordinator)
    head_post = city.mayor.staff.posts_held.get()
    follow_up = Inject.objects.create(
        scenario=scenario,
        number=3,
        offset=0,
        kind=Inject.Kind.SITUATION,
        to_group=city.group,
        text="北区長からの報告がありません。第1代行者は報告してください。",
        only_as_contingency=True,
    )
    first = Inject.objects.create(
        scenario=scenario,
        number=1,
        offset=60,
        kind=Inject.Kind.INSTRUCTION,
        from_post=head_post,
        to_group=city.group,
        text="住民を3階以上へ避難させてください",
        expectations=[
            {"check": "read", "minutes": 2, "posts": ["北区長"]},
            {"check": "reply", "minutes": 5, "posts": ["北区長"]},
        ],
        objective="本部長の指示が区長に届く",
        contingency=follow_up,
    )
    second = Inject.objects.create(
        scenario=scenario,
        number=2,
        offset=600,
        kind=Inject.Kind.SITUATION,
        to_group=city.group,
        text="震度6強を観測。被害状況を確認中。",
    )
    return scenario, coordinator, first, second


def test_injects_fire_on_time_and_once(city, drill):
    scenario, coordinator, first, second = drill
    run = runs.run_start(scenario=scenario, actor=coordinator, speed=2)
    t0 = run.start_at

    assert runs.drills_sweep(now=t0 + timedelta(seconds=29)) == 0
    assert runs.drills_sweep(now=t0 + timedelta(seconds=30)) == 1  # 60 s at 2× speed
    assert runs.drills_sweep(now=t0 + timedelta(seconds=31)) == 0  # never twice
    ri = RunInject.objects.get(run=run, number=1)
    assert ri.status == "fired" and ri.message.sender == city.mayor
    message = ri.message
    assert message.exercise and message.body.startswith("【訓練】")
    assert (message.kind, message.priority, message.requires_ack) == ("instruction", "urgent", True)
    assert runs.drills_sweep(now=t0 + timedelta(seconds=300)) == 1
    second = RunInject.objects.get(run=run, number=2).message
    assert second.body == "【訓練】震度6強を観測。被害状況を確認中。"
    # The contingency is not scheduled; it was added once, because the ward head stayed silent.
    assert RunInject.objects.get(run=run, number=3, contingency_of=None).due_at is None
    assert RunInject.objects.filter(run=run, number=3, contingency_of__number=1).count() == 1


def test_pause_and_resume_move_what_is_due(city, drill):
    scenario, coordinator, *_ = drill
    run = runs.run_start(scenario=scenario, actor=coordinator)
    due = RunInject.objects.get(run=run, number=2).due_at
    from realtime import clock

    clock.advance(100)
    try:
        runs.run_pause(run=run, actor=coordinator)
        assert runs.drills_sweep(now=clock.now() + timedelta(hours=1)) == 0  # paused: nothing
        clock.advance(300)
        runs.run_resume(run=run, actor=coordinator)
    finally:
        clock.reset()
    moved = RunInject.objects.get(run=run, number=2).due_at
    assert abs((moved - due).total_seconds() - 300) < 1
    assert list(RunEntry.objects.filter(run=run).values_list("action", flat=True)) == [
        "start",
        "pause",
        "resume",
    ]


def test_a_missed_expectation_fires_the_contingency_and_a_met_one_does_not(city, drill):
    scenario, coordinator, *_ = drill
    missed = runs.run_start(scenario=scenario, actor=coordinator)
    t0 = missed.start_at
    runs.drills_sweep(now=t0 + timedelta(seconds=60))
    runs.drills_sweep(now=t0 + timedelta(seconds=60 + 5 * 60 + 1))  # the ward head stayed silent

    follow = RunInject.objects.get(run=missed, number=3, contingency_of__isnull=False)
    assert follow.contingency_of.number == 1 and follow.due_at is not None
    runs.drills_sweep(now=t0 + timedelta(seconds=60 + 5 * 60 + 2))
    follow.refresh_from_db()
    assert follow.status == "fired" and "第1代行者" in follow.message.body

    met = runs.run_start(scenario=scenario, actor=coordinator)
    t1 = met.start_at
    runs.drills_sweep(now=t1 + timedelta(seconds=60))
    instruction = RunInject.objects.get(run=met, number=1).message
    for user in (city.ward_head,):
        services.receipt_mark_read(user=user, group=city.group, up_to_seq=instruction.seq)
    services.message_send(
        group=city.group,
        sender=city.ward_head,
        body="公用車で住民に呼びかけ中",
        client_id=uuid.uuid4(),
        reply_to_id=instruction.pk,
    )
    runs.drills_sweep(now=t1 + timedelta(seconds=60 + 5 * 60 + 1))
    assert not RunInject.objects.filter(run=met, contingency_of__isnull=False).exists()


def test_measurements_are_the_record(city, drill):
    scenario, coordinator, *_ = drill
    run = runs.run_start(scenario=scenario, actor=coordinator)
    runs.drills_sweep(now=run.start_at + timedelta(seconds=60))
    ri = RunInject.objects.get(run=run, number=1)
    message = ri.message
    services.receipt_mark_read(user=city.ward_head, group=city.group, up_to_seq=message.seq)
    services.receipt_acknowledge(user=city.ward_head, message=message)
    reply = services.message_send(
        group=city.group,
        sender=city.ward_head,
        body="公用車で住民に呼びかけ中",
        client_id=uuid.uuid4(),
        reply_to_id=message.pk,
    ).message

    [ward] = [p for p in metrics.people(ri) if p.user_id == city.ward_head.pk]
    fired = ri.fired_at
    assert ward.read == pytest.approx(
        (message.receipts.get(user=city.ward_head).read_at - fired).total_seconds()
    )
    assert ward.replied == pytest.approx((reply.created_at - fired).total_seconds())
    assert reply.exercise and reply.body.startswith("【訓練】")  # a reply to a drill is a drill
    exps = metrics.expectations(ri, now=fired + timedelta(minutes=10))
    assert [(e.check, e.met) for e in exps] == [("read", True), ("reply", True)]


def test_exercise_reminders_say_so(city, drill):
    scenario, coordinator, *_ = drill
    run = runs.run_start(scenario=scenario, actor=coordinator)
    runs.drills_sweep(now=run.start_at + timedelta(seconds=60))
    message = RunInject.objects.get(run=run, number=1).message
    escalation.escalation_sweep(now=message.created_at + timedelta(minutes=3))
    note = Notification.objects.filter(kind="reminder", user=city.ward_head, channel="push").get()

    assert kinds.get("reminder").render(note).title.startswith("【訓練】")


def test_a_safety_round_inject_is_an_exercise_round(city, drill):
    scenario, coordinator, *_ = drill
    Inject.objects.create(
        scenario=scenario, number=4, offset=0, kind=Inject.Kind.SAFETY_ROUND, text="訓練 安否確認"
    )
    run = runs.run_start(scenario=scenario, actor=coordinator)
    runs.drills_sweep(now=run.start_at)
    round_ = RunInject.objects.get(run=run, number=4).round
    assert round_.is_drill and round_.total == SafetyRound.objects.get(pk=round_.pk).total > 0


@pytest.mark.parametrize("choice", ["stop", "pause"])
def test_a_real_disaster_stops_or_pauses_the_drill_at_once(city, drill, choice):
    scenario, coordinator, *_ = drill
    run = runs.run_start(scenario=scenario, actor=coordinator, on_real_incident=choice)

    incidents.incident_declare(
        actor=city.mayor, title="本物の地震", kind="earthquake", level=city.emergency
    )

    run.refresh_from_db()
    assert run.status == ("stopped" if choice == "stop" else "paused")
    assert runs.drills_sweep(now=run.start_at + timedelta(hours=2)) == 0
    assert not Message.objects.filter(exercise=True).exists()


def test_an_exercise_incident_does_not_stop_the_drill(city, drill):
    scenario, coordinator, *_ = drill
    run = runs.run_start(scenario=scenario, actor=coordinator)
    incidents.incident_declare(
        actor=city.mayor, title="訓練", kind="earthquake", level=city.emergency, is_drill=True
    )
    run.refresh_from_db()
    assert run.status == "running"


def test_only_coordinators_and_administrators_run_drills(city, drill):
    scenario, coordinator, *_ = drill
    for user in (city.mayor, city.ward_head, city.staff_user):
        with pytest.raises(PermissionDenied):
            runs.run_start(scenario=scenario, actor=user)
    assert Run.objects.count() == 0
    run = runs.run_start(scenario=scenario, actor=coordinator)
    with pytest.raises(PermissionDenied):
        runs.run_pause(run=run, actor=city.mayor)
    run.refresh_from_db()
    assert run.status == "running"


def test_a_run_that_cannot_send_is_refused_before_it_starts(city, drill):
    scenario, coordinator, first, _second = drill
    first.from_post = None  # the control cell, but now to a group the coordinator is not in
    from messaging.models import CommandGroup

    other = services.group_create(name="別グループ", kind=CommandGroup.Kind.AD_HOC, actor=None)
    first.to_group = other
    first.save()
    with pytest.raises(ValidationError) as exc:
        runs.run_start(scenario=scenario, actor=coordinator)
    assert "別グループ" in " ".join(exc.value.messages)
    assert Run.objects.count() == 0


def test_players_never_see_the_control_page(client, city, drill):
    scenario, coordinator, *_ = drill
    run = runs.run_start(scenario=scenario, actor=coordinator)
    for user in (city.mayor, city.ward_head):
        client.force_login(user)
        for url in (f"/drills/runs/{run.pk}/", f"/drills/runs/{run.pk}/report/", "/drills/"):
            assert client.get(url).status_code == 403
        assert client.post(f"/drills/runs/{run.pk}/action/", {"action": "stop"}).status_code == 403
    run.refresh_from_db()
    assert run.status == "running"
    client.force_login(coordinator)
    assert client.get(f"/drills/runs/{run.pk}/").status_code == 200


def test_exercise_traffic_can_be_left_out_of_the_record_or_exported_alone(
    client, city, drill, admin_user
):
    scenario, coordinator, *_ = drill
    services.message_send(
        group=city.group, sender=city.mayor, body="本物の指示", client_id=uuid.uuid4()
    )
    run = runs.run_start(scenario=scenario, actor=coordinator)
    runs.drills_sweep(now=run.start_at + timedelta(seconds=60))
    client.force_login(admin_user)
    url = f"/messages/records/{city.group.pk}/export.json"

    def texts(exercise):
        data = client.get(url, {"exercise": exercise}).json()
        return [m["text"] for m in data["messages"]]

    assert texts("all") == ["本物の指示", "【訓練】住民を3階以上へ避難させてください"]
    assert texts("exclude") == ["本物の指示"]
    assert texts("only") == ["【訓練】住民を3階以上へ避難させてください"]


def test_exercise_traffic_is_marked_on_every_channel(city, drill, smtp_server, push_service, vapid):
    """The exercise instruction, its arrival push, the reminders (in-app, push, e-mail), the
    deputy's hand-over and the unreached report all say 【訓練】 first, as sent."""

    scenario, coordinator, first, _second = drill
    Inject.objects.filter(pk=first.pk).update(priority=Message.Priority.URGENT)
    phone = subscribe(city.ward_head, push_service)
    deputy = UserFactory()
    StaffFactory(user=deputy, unit=city.ward_head.staff.unit)
    directory_services.post_set_deputies(
        post=city.ward_head.staff.posts_held.get(), deputies=[deputy.staff], actor=None
    )
    run = runs.run_start(scenario=scenario, actor=coordinator)
    runs.drills_sweep(now=run.start_at + timedelta(seconds=60))
    message = RunInject.objects.get(run=run, number=1).message
    assert message.exercise and message.body.startswith("【訓練】")

    alerts.instruction_alert(message_id=message.pk)  # the arrival push (the task, run here)
    for minutes in (3, 6, 9, 12, 15, 20, 30):  # reminders, the deputies, the unreached report
        escalation.escalation_sweep(now=message.created_at + timedelta(minutes=minutes))
    notes = list(Notification.objects.filter(subject_id=message.pk))
    kinds_sent = {(n.kind, n.channel) for n in notes}
    assert {("instruction", "push"), ("reminder", "push"), ("reminder", "email")} <= kinds_sent
    assert {"reminder", "escalation", "unreached"} <= {n.kind for n in notes}

    for note in notes:  # in-app banners, push and e-mail are rendered from these texts
        assert kinds.get(note.kind).render(note).title.startswith("【訓練】"), note.kind
    notifications_deliver(notification_ids=[n.pk for n in notes if n.channel in ("push", "email")])
    pushed = [decrypt(phone, r) for r in push_service.received]
    assert pushed and all(p["title"].startswith("【訓練】") for p in pushed)
    subjects = [smtp.subject(m) for m in smtp_server.messages]
    assert subjects and all("【訓練】" in s for s in subjects), subjects


def test_real_instructions_stand_above_exercise_ones_on_home(client, city, drill):
    """A real instruction sent before a drill's stays at the top of the ward head's Home."""

    def send(body: str, exercise: bool) -> Message:
        return services.message_send(
            group=city.group,
            sender=city.mayor,
            body=body,
            client_id=uuid.uuid4(),
            kind="instruction",
            priority="urgent",
            requires_ack=True,
            exercise=exercise,
        ).message

    real = send("実際の指示: 本庁舎に参集", exercise=False)
    drill_message = send("訓練の指示", exercise=True)
    waiting = messaging_selectors.user_waiting_instructions(user=city.ward_head)
    assert [r.message_id for r in waiting] == [real.pk, drill_message.pk]
    client.force_login(city.ward_head)
    page = client.get("/").content.decode()
    assert page.index("実際の指示") < page.index("【訓練】訓練の指示")


def test_a_run_of_part_of_the_city(client, city, drill):
    """北区 alone plays: the round asks only 北区's staff, the measurements count only its
    people, and the coordinator chooses it on the start page."""
    scenario, coordinator, first, _second = drill
    Inject.objects.create(
        scenario=scenario, number=4, offset=0, kind=Inject.Kind.SAFETY_ROUND, text="安否確認"
    )
    client.force_login(coordinator)
    page = client.get(reverse("drills:scenario_detail", args=[scenario.pk])).content.decode()
    assert "北区" in page and "中央区" in page  # the wards to choose from
    response = client.post(
        reverse("drills:scenario_detail", args=[scenario.pk]),
        {"speed": 1, "on_real_incident": "stop", "units": [city.kita.pk]},
    )
    run = Run.objects.get(scenario=scenario)
    assert response.status_code == 302 and list(run.units.all()) == [city.kita]

    runs.drills_sweep(now=run.start_at + timedelta(seconds=60))
    round_ = RunInject.objects.get(run=run, number=4).round
    asked = set(round_.requests.values_list("staff__unit__path", flat=True))
    assert asked and all(path.startswith(city.kita.path) for path in asked)
    message_inject = RunInject.objects.get(run=run, number=1)
    counted = {p.user_id for p in metrics.people(message_inject)}
    members = set(
        message_inject.message.receipts.filter(observer=False).values_list("user_id", flat=True)
    )
    assert counted == {
        uid
        for uid in members
        if User.objects.get(pk=uid).staff.unit.path.startswith(city.kita.path)
    }
    assert city.ward_head.pk in counted and city.mayor.pk not in counted
    assert "北区" in client.get(reverse("drills:run_control", args=[run.pk])).content.decode()


def test_a_round_inject_outside_the_units_taking_part_is_not_sent(city, drill):
    scenario, coordinator, *_ = drill
    chuo_round = Inject.objects.create(
        scenario=scenario, number=4, offset=0, kind=Inject.Kind.SAFETY_ROUND, text="中央区 安否"
    )
    chuo_round.to_units.set([city.chuo])
    run = runs.run_start(scenario=scenario, actor=coordinator, units=[city.kita])
    runs.drills_sweep(now=run.start_at)
    ri = RunInject.objects.get(run=run, number=4)
    assert ri.status == RunInject.Status.FAILED and ri.round is None
    assert str(runs.ERR_OUTSIDE_UNITS) in ri.detail
    assert not SafetyRound.objects.exists()
