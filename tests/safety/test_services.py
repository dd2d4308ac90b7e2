"""Disaster mode, rounds and answers through the services: who may, what is written, what is
kept, and what is sent once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from directory.models import AuditEntry
from messaging.models import Chase, Message, Receipt
from notifications.models import Notification
from safety import answers, incidents, rounds, selectors
from safety.links import link_matches, link_parse, link_token
from safety.models import Incident, IncidentEntry, SafetyAnswer, SafetyRequest
from safety.notify import round_notify_start, round_resend_due
from tests.safety.conftest import SAFE

pytestmark = pytest.mark.django_db


def declare(city, actor=None, **kw):
    return incidents.incident_declare(
        actor=actor or city.mayor,
        title=kw.pop("title", "大阪府北部地震"),
        kind="earthquake",
        level=kw.pop("level", city.emergency),
        affected_units=kw.pop("units", [city.kita]),
        **kw,
    )


# --- disaster mode --------------------------------------------------------------------------
def test_the_mayor_declares_and_the_declaration_is_an_urgent_instruction(city):
    incident = declare(city)

    assert incident.is_open and incident.hq_group == city.group
    message = incident.declaration
    assert (message.kind, message.priority, message.requires_ack) == ("instruction", "urgent", True)
    assert message.group == city.group and message.sender == city.mayor
    assert (
        "大阪府北部地震" in message.body and "非常体制" in message.body and "北区" in message.body
    )
    [entry] = IncidentEntry.objects.filter(incident=incident)
    assert (entry.action, entry.actor, entry.data["level"]) == ("declare", city.mayor, "emergency")
    assert AuditEntry.objects.filter(action="incident.declare", actor=city.mayor).count() == 1
    assert selectors.incident_banner()["title"] == "大阪府北部地震"


@pytest.mark.parametrize("who", ["officer", "mayor"])
def test_the_crisis_office_and_the_mayor_may_declare(city, who):
    assert declare(city, actor=getattr(city, who)).is_open


@pytest.mark.parametrize("who", ["ward_head", "staff_user", "coordinator"])
def test_others_may_not_declare_and_nothing_changes(city, who):
    with pytest.raises(PermissionDenied):
        declare(city, actor=getattr(city, who))
    assert Incident.objects.count() == 0 and Message.objects.count() == 0
    assert IncidentEntry.objects.count() == 0


def test_level_changes_and_the_end_are_audited_entries(city):
    incident = declare(city)

    incidents.incident_set_level(incident=incident, level=city.alert, actor=city.mayor)
    with pytest.raises(ValidationError):
        incidents.incident_set_level(incident=incident, level=city.alert, actor=city.officer)
    with pytest.raises(PermissionDenied):
        incidents.incident_end(incident=incident, actor=city.ward_head)
    incidents.incident_end(incident=incident, actor=city.mayor)
    with pytest.raises(ValidationError):
        incidents.incident_end(incident=incident, actor=city.mayor)

    actions = list(IncidentEntry.objects.filter(incident=incident).values_list("action", "data"))
    assert actions == [
        ("declare", actions[0][1]),
        ("level", {"previous": "emergency", "level": "alert"}),
        ("end", {"reason": ""}),
    ]
    incident.refresh_from_db()
    assert incident.ended_at is not None and selectors.incident_banner() is None
    # The announcements: declared (urgent), level (important), ended (important).
    assert list(Message.objects.order_by("seq").values_list("priority", flat=True)) == [
        "urgent",
        "important",
        "important",
    ]


# --- rounds ---------------------------------------------------------------------------------
def test_a_round_asks_exactly_its_target(city):
    everyone = rounds.round_start(actor=city.mayor, title="全職員", target={"all": True})
    wards = rounds.round_start(
        actor=city.mayor, title="北区", target={"workplace_units": [city.kita.pk]}
    )
    chuo = rounds.round_start(actor=city.officer, title="中央区", target={"units": [city.chuo.pk]})

    def asked(r):
        return set(SafetyRequest.objects.filter(round=r).values_list("staff_id", flat=True))

    assert everyone.total == 12 == len(asked(everyone))
    assert asked(wards) == {s.pk for s in city.kita_staff} | {
        city.ward_head.staff.pk,
        city.staff_user.staff.pk,
    }
    assert asked(chuo) == {s.pk for s in city.chuo_staff} | {city.coordinator.staff.pk}
    with pytest.raises(ValidationError):
        rounds.round_start(actor=city.mayor, title="x", target={})
    with pytest.raises(PermissionDenied):
        rounds.round_start(actor=city.staff_user, title="x", target={"all": True})


def test_the_round_is_announced_in_hq_and_an_answer_there_stops_the_chase(city):
    round_ = rounds.round_start(actor=city.mayor, title="安否確認", target={"all": True})
    message = round_.hq_message
    assert message is not None and message.requires_ack and message.priority == "urgent"
    chase = Chase.objects.get(message=message, receipt__user=city.ward_head)
    assert chase.state == "active"
    request = SafetyRequest.objects.get(round=round_, staff=city.ward_head.staff)

    answers.answer_in_app(user=city.ward_head, round_=round_, data=SAFE)
    answers._acknowledge_hq(request.pk, message.pk)  # what the after-commit hook runs

    receipt = Receipt.objects.get(message=message, user=city.ward_head)
    chase.refresh_from_db()
    assert receipt.acked_at is not None and chase.state == "covered"


def test_links_are_personal_and_tamper_proof(city):
    round_ = rounds.round_start(actor=city.mayor, title="安否確認", target={"all": True})
    other = rounds.round_start(actor=city.mayor, title="2回目", target={"all": True})
    a = SafetyRequest.objects.get(round=round_, staff=city.kita_staff[0])
    b = SafetyRequest.objects.get(round=other, staff=city.kita_staff[0])
    token = link_token(request_id=a.pk, nonce=a.nonce)
    request_id, tag = link_parse(token)

    assert request_id == a.pk and link_matches(request_id=a.pk, nonce=a.nonce, tag=tag)
    assert not link_matches(request_id=b.pk, nonce=b.nonce, tag=tag)  # another round
    tampered = tag[:-1] + ("b" if tag.endswith("a") else "a")
    assert not link_matches(request_id=a.pk, nonce=a.nonce, tag=tampered)
    assert link_parse("12") is None and link_parse("x.y") is None
    revoked = rounds.request_revoke(request=a, actor=city.mayor)
    assert not link_matches(request_id=a.pk, nonce=revoked.nonce, tag=tag)


def test_every_answer_is_kept_and_the_first_time_never_moves(city):
    round_ = rounds.round_start(actor=city.mayor, title="安否確認", target={"all": True})
    request = SafetyRequest.objects.get(round=round_, staff=city.kita_staff[0])

    first = answers.answer_from_link(request=request, data=SAFE)
    second = answers.answer_from_link(
        request=request, data={**SAFE, "self": "minor", "attend": "late", "eta": "9:30"}
    )

    request.refresh_from_db()
    assert request.first_answer_at == first.at and request.answer == second
    assert list(SafetyAnswer.objects.filter(request=request).values_list("values", flat=True)) == [
        {"self": "safe", "family": "safe", "home": "ok", "attend": "yes", "place": "own"},
        {
            "self": "minor",
            "family": "safe",
            "home": "ok",
            "attend": "late",
            "eta": "09:30",
            "place": "own",
        },
    ]


def test_bad_answers_are_refused_with_reasons_and_nothing_is_stored(city):
    round_ = rounds.round_start(actor=city.mayor, title="安否確認", target={"all": True})
    request = SafetyRequest.objects.get(round=round_, staff=city.kita_staff[0])

    with pytest.raises(answers.AnswerInvalid) as exc:
        answers.answer_from_link(
            request=request, data={"self": "zombie", "attend": "late", "eta": "25:00"}
        )

    assert set(exc.value.errors) == {"self", "family", "home", "eta", "place"}
    assert SafetyAnswer.objects.count() == 0
    request.refresh_from_db()
    assert request.first_answer_at is None and request.answer is None


def test_on_behalf_answers_are_tagged_and_the_persons_own_answer_takes_over(city):
    round_ = rounds.round_start(actor=city.mayor, title="安否確認", target={"all": True})
    request = SafetyRequest.objects.get(round=round_, staff=city.kita_staff[0])

    proxy = answers.answer_on_behalf(
        actor=city.ward_head, request=request, data=SAFE, via="phone", note="電話で確認"
    )
    request.refresh_from_db()
    assert request.answer == proxy and proxy.entered_by == city.ward_head and proxy.on_behalf
    own = answers.answer_from_link(request=request, data={**SAFE, "attend": "no"})
    later_proxy = answers.answer_on_behalf(
        actor=city.officer, request=request, data=SAFE, via="other"
    )

    request.refresh_from_db()
    assert request.answer == own  # a later answer on behalf does not replace the person's own
    assert request.first_answer_at == proxy.at
    assert SafetyAnswer.objects.filter(request=request).count() == 3
    assert later_proxy.entered_by == city.officer
    assert AuditEntry.objects.filter(action="safety.answer_on_behalf").count() == 2


def test_only_unit_heads_for_their_unit_and_administrators_answer_on_behalf(city, admin_user):
    round_ = rounds.round_start(actor=city.mayor, title="安否確認", target={"all": True})
    chuo = SafetyRequest.objects.get(round=round_, staff=city.chuo_staff[0])

    with pytest.raises(PermissionDenied):
        answers.answer_on_behalf(actor=city.ward_head, request=chuo, data=SAFE, via="phone")
    with pytest.raises(PermissionDenied):
        answers.answer_on_behalf(actor=city.staff_user, request=chuo, data=SAFE, via="phone")
    assert SafetyAnswer.objects.count() == 0
    answers.answer_on_behalf(actor=admin_user, request=chuo, data=SAFE, via="person")
    assert SafetyAnswer.objects.count() == 1


def test_a_closed_round_takes_no_answers(city):
    round_ = rounds.round_start(actor=city.mayor, title="安否確認", target={"all": True})
    request = SafetyRequest.objects.get(round=round_, staff=city.kita_staff[0])
    rounds.round_close(round_=round_, actor=city.mayor)

    with pytest.raises(ValidationError):
        answers.answer_from_link(request=request, data=SAFE)
    assert SafetyAnswer.objects.count() == 0


# --- sending and re-sending -----------------------------------------------------------------
def test_everyone_is_asked_once_on_their_channels(city):
    round_ = rounds.round_start(actor=city.mayor, title="安否確認", target={"all": True})

    first = round_notify_start(round_id=round_.pk)
    again = round_notify_start(round_id=round_.pk)

    notes = Notification.objects.filter(kind="safety_request")
    assert first == notes.count() and again == 0
    # Staff without accounts: e-mail only; with accounts: in-app, push, e-mail.
    kita0 = city.kita_staff[0]
    assert list(notes.filter(staff=kita0).values_list("channel", flat=True)) == ["email"]
    assert set(notes.filter(user=city.ward_head).values_list("channel", flat=True)) == {
        "inapp",
        "push",
        "email",
    }


def test_re_sends_go_to_the_unanswered_once_per_step(city):
    round_ = rounds.round_start(
        actor=city.mayor, title="安否確認", target={"all": True}, resend_minutes=[15, 30]
    )
    answered = SafetyRequest.objects.get(round=round_, staff=city.kita_staff[0])
    answers.answer_from_link(request=answered, data=SAFE)
    t0 = round_.started_at

    assert round_resend_due(now=t0 + timedelta(minutes=14)) == 0
    assert round_resend_due(now=t0 + timedelta(minutes=16)) == 11
    assert round_resend_due(now=t0 + timedelta(minutes=16)) == 0  # a second worker: nothing
    assert round_resend_due(now=t0 + timedelta(minutes=31)) == 11
    assert round_resend_due(now=t0 + timedelta(minutes=90)) == 0  # no third step

    keys = Notification.objects.filter(staff=city.kita_staff[1]).values_list("once_key", flat=True)
    # "start" too: no worker ran the round's first task here, so the first sweep wrote it
    assert sorted(k.rsplit(":", 1)[1] for k in keys) == ["r1", "r2", "start"]
    assert not Notification.objects.filter(staff=city.kita_staff[0]).exists()
    assert rounds.round_resend_now(round_=round_, actor=city.officer) == 11


# --- totals ---------------------------------------------------------------------------------
def test_totals_roll_up_the_tree_with_counts_per_answer_and_the_curve(city):
    round_ = rounds.round_start(actor=city.mayor, title="安否確認", target={"all": True})
    for staff in city.kita_staff[:3]:
        request = SafetyRequest.objects.get(round=round_, staff=staff)
        answers.answer_from_link(request=request, data=SAFE)
    injured = SafetyRequest.objects.get(round=round_, staff=city.chuo_staff[0])
    answers.answer_from_link(request=injured, data={**SAFE, "self": "serious", "attend": "no"})

    totals = selectors.round_totals(round_=round_, fresh=True)

    by_name = {u.name: u for u in totals.units}
    assert (totals.total, totals.answered) == (12, 4)
    assert (by_name["大阪市"].total, by_name["大阪市"].answered) == (12, 4)
    assert (by_name["北区"].total, by_name["北区"].answered) == (6, 3)  # ward head, section
    assert (by_name["北区総務課"].total, by_name["北区総務課"].answered) == (5, 3)
    assert by_name["中央区"].answers["self"] == {"serious": 1}
    assert by_name["大阪市"].answers["attend"] == {"yes": 3, "no": 1}
    assert [u.name for u in totals.units][:2] == ["大阪市", "危機管理室"]
    assert totals.curve[25] is not None and totals.curve[50] is None
    unanswered, count = selectors.round_unanswered(round_=round_, unit=city.kita)
    assert count == 3 and {u.staff_id for u in unanswered} == {
        city.kita_staff[3].pk,
        city.ward_head.staff.pk,
        city.staff_user.staff.pk,
    }


def test_totals_after_a_change_never_come_from_an_older_cache(city, monkeypatch):
    """The live page asks for totals computed after the change its frame told of: the cache
    (1 s) must not leave it short of the last answers of a burst."""
    monkeypatch.setattr(selectors, "TOTALS_CACHE_SECONDS", 60)
    round_ = rounds.round_start(actor=city.mayor, title="安否確認", target={"all": True})
    cached = selectors.round_totals(round_=round_)
    request = SafetyRequest.objects.get(round=round_, staff=city.kita_staff[0])
    answers.answer_from_link(request=request, data=SAFE)
    changed_at = cached.computed_at + 0.001  # the change's frame: after the cached totals

    assert selectors.round_totals(round_=round_).answered == 0  # the cache, as before
    assert selectors.round_totals(round_=round_, since=cached.computed_at).answered == 0
    fresh = selectors.round_totals(round_=round_, since=changed_at)
    assert fresh.answered == 1
    assert selectors.round_totals(round_=round_).answered == 1  # and it is what is cached now


def test_a_round_whose_first_messages_were_never_written_is_caught_up_by_the_sweep_once(city):
    # Given a round whose first task never ran (its worker was killed) and one early answer
    round_ = rounds.round_start(actor=city.mayor, title="安否確認", target={"all": True})
    answered = SafetyRequest.objects.get(round=round_, staff=city.kita_staff[0])
    answers.answer_from_link(request=answered, data=SAFE)
    t0 = round_.started_at
    starts = Notification.objects.filter(once_key__endswith=":start")

    # Within the grace the task may still be running: the sweep leaves it alone
    round_resend_due(now=t0 + timedelta(seconds=30))
    assert not starts.exists()

    # After it, the sweep writes everyone's first message but the one who answered, once
    round_resend_due(now=t0 + timedelta(seconds=61))
    unanswered = SafetyRequest.objects.filter(round=round_, first_answer_at__isnull=True)
    assert starts.values("subject_id").distinct().count() == unanswered.count() == 11
    assert not starts.filter(subject_id=answered.pk).exists()
    round_.refresh_from_db()
    assert round_.notified_at is not None
    count = starts.count()
    round_resend_due(now=t0 + timedelta(seconds=120))
    assert starts.count() == count


def test_a_re_send_batch_that_fails_after_its_claim_leaves_nobody_claimed(city, monkeypatch):
    # Given a round whose re-send is due, and a batch that dies while writing its notifications
    round_ = rounds.round_start(
        actor=city.mayor, title="安否確認", target={"all": True}, resend_minutes=[15]
    )
    round_notify_start(round_id=round_.pk)
    t0 = round_.started_at

    def killed(**kwargs):
        raise RuntimeError("the worker died here")

    monkeypatch.setattr("safety.notify.requests_notify", killed)
    with pytest.raises(RuntimeError):
        round_resend_due(now=t0 + timedelta(minutes=16))

    # Then no request is counted as re-sent without its notification, and the next sweep sends
    assert not SafetyRequest.objects.filter(round=round_, resends__gt=0).exists()
    monkeypatch.undo()
    assert round_resend_due(now=t0 + timedelta(minutes=16)) == 12
    assert (
        Notification.objects.filter(once_key__endswith=":r1")
        .values("subject_id")
        .distinct()
        .count()
        == 12
    )
