"""Escalation services with a controlled clock (the sweep takes ``now``). The real Celery worker
runs the same sweep in tests/messaging/test_escalation_worker.py."""

import uuid
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied

from directory import services as directory_services
from messaging import escalation, services
from messaging.models import Chase, Message, StandIn
from notifications.models import Notification
from tests.factories import OrgUnitFactory, StaffFactory, UserFactory

pytestmark = pytest.mark.django_db
POLICY = {
    "first_after": 60,
    "repeat_every": 60,
    "repeat_count": 1,
    "deputy_wait": 60,
    "use_deputies": True,
    "stop_on": "ack",
    "enabled": True,
}


@pytest.fixture
def deputies(hq):
    """Two deputies for the 北区長 post (the ward head), with accounts."""
    post = hq.ward_head.staff.posts_held.get()
    d1, d2 = StaffFactory(user=UserFactory()), StaffFactory(user=UserFactory())
    directory_services.post_set_deputies(post=post, deputies=[d1, d2], actor=None)
    return d1.user, d2.user


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


def chase_of(message, user):
    return Chase.objects.get(message=message, receipt__user=user)


def notes(user, kind=None):
    qs = Notification.objects.filter(user=user, channel="inapp")
    return qs.filter(kind=kind) if kind else qs


def test_nothing_fires_before_the_first_reminder_is_due(hq):
    message = instruct(hq)
    result = escalation.escalation_sweep(now=message.created_at + timedelta(seconds=59))
    assert result.processed == 0 and Notification.objects.count() == 0


def test_reminders_then_first_then_second_deputy_then_unreached(hq, deputies):
    d1, d2 = deputies
    message = instruct(hq)
    t0 = message.created_at

    escalation.escalation_sweep(now=t0 + timedelta(seconds=60))
    assert notes(hq.ward_head, "reminder").count() == 1
    escalation.escalation_sweep(now=t0 + timedelta(seconds=120))
    assert notes(hq.ward_head, "reminder").count() == 2  # first + 1 repeat
    escalation.escalation_sweep(now=t0 + timedelta(seconds=180))
    assert StandIn.objects.get(deputy=d1).rank == 1 and notes(d1, "escalation").count() == 1
    escalation.escalation_sweep(now=t0 + timedelta(seconds=240))
    assert StandIn.objects.get(deputy=d2).rank == 2 and notes(d2, "escalation").count() == 1
    escalation.escalation_sweep(now=t0 + timedelta(seconds=300))

    chase = chase_of(message, hq.ward_head)
    assert chase.state == "unreached" and chase.reminders == 2 and chase.deputy_rank == 2
    # Members without deputies ran out earlier; the mayor got one report listing the unreached.
    report = notes(hq.mayor, "unreached").get()
    assert "北区長" in report.detail
    message.refresh_from_db()
    assert message.unreached_reported_at is not None
    escalation.escalation_sweep(now=t0 + timedelta(hours=1))
    assert notes(hq.mayor, "unreached").count() == 1  # reported once


def test_acknowledging_stops_the_chase(hq):
    message = instruct(hq)
    escalation.escalation_sweep(now=message.created_at + timedelta(seconds=60))
    services.receipt_acknowledge(user=hq.ward_head, message=message)

    assert chase_of(message, hq.ward_head).state == "covered"
    escalation.escalation_sweep(now=message.created_at + timedelta(seconds=600))
    assert notes(hq.ward_head).count() == 1


def test_read_is_enough_when_the_policy_says_read(hq):
    message = instruct(hq, stop_on="read")
    services.receipt_mark_read(user=hq.ward_head, group=hq.group, up_to_seq=message.seq)
    assert chase_of(message, hq.ward_head).state == "covered"
    escalation.escalation_sweep(now=message.created_at + timedelta(seconds=60))
    assert notes(hq.ward_head).count() == 0


def test_reading_does_not_stop_an_ack_chase(hq):
    message = instruct(hq, stop_on="ack")
    services.receipt_mark_read(user=hq.ward_head, group=hq.group, up_to_seq=message.seq)
    escalation.escalation_sweep(now=message.created_at + timedelta(seconds=60))
    assert chase_of(message, hq.ward_head).state == "active"
    assert notes(hq.ward_head, "reminder").count() == 1


def test_a_deputy_acknowledging_covers_the_post_and_the_holder_is_recorded_later(hq, deputies):
    d1, d2 = deputies
    message = instruct(hq, repeat_count=0)
    t0 = message.created_at
    escalation.escalation_sweep(now=t0 + timedelta(seconds=60))  # reminder
    escalation.escalation_sweep(now=t0 + timedelta(seconds=120))  # → deputy 1
    stand_in = StandIn.objects.get(deputy=d1)

    escalation.standin_respond(user=d1, stand_in=stand_in, acknowledge=True)

    chase = chase_of(message, hq.ward_head)
    assert chase.state == "covered" and chase.covered_by == d1
    escalation.escalation_sweep(now=t0 + timedelta(seconds=600))
    assert not StandIn.objects.filter(deputy=d2).exists()  # nobody is chased after cover
    services.receipt_acknowledge(user=hq.ward_head, message=message)  # the holder, later
    receipt = chase.receipt
    receipt.refresh_from_db()
    assert receipt.acked_at is not None
    assert chase_of(message, hq.ward_head).covered_by == d1


def test_someone_else_cannot_answer_a_stand_in(hq, deputies):
    d1, _d2 = deputies
    message = instruct(hq, repeat_count=0)
    escalation.escalation_sweep(now=message.created_at + timedelta(seconds=60))
    escalation.escalation_sweep(now=message.created_at + timedelta(seconds=120))
    stand_in = StandIn.objects.get(deputy=d1)
    with pytest.raises(PermissionDenied):
        escalation.standin_respond(user=hq.bureau_head, stand_in=stand_in, acknowledge=True)
    stand_in.refresh_from_db()
    assert stand_in.acked_at is None and chase_of(message, hq.ward_head).state == "active"


def test_sweeping_twice_at_the_same_moment_fires_each_step_once(hq):
    message = instruct(hq)
    due = message.created_at + timedelta(seconds=60)
    first = escalation.escalation_sweep(now=due)
    second = escalation.escalation_sweep(now=due)
    # Ward head and bureau head; the observer receives the instruction but is not chased.
    assert first.reminders == 2 and second.processed == 0
    assert Notification.objects.filter(kind="reminder", channel="inapp").count() == 2
    assert not Notification.objects.filter(user=hq.observer).exists()


def test_the_crisis_office_gets_the_unreached_report(hq, settings):
    office = OrgUnitFactory(code="CRISIS")
    officer = UserFactory()
    StaffFactory(user=officer, unit=office)
    settings.HONBU_CRISIS_OFFICE_UNIT_CODE = "CRISIS"
    message = instruct(hq, repeat_count=0, use_deputies=False)
    escalation.escalation_sweep(now=message.created_at + timedelta(seconds=60))
    escalation.escalation_sweep(now=message.created_at + timedelta(seconds=120))
    assert notes(officer, "unreached").count() == 1


def test_push_and_email_rows_follow_each_persons_channels(hq):
    from notifications.models import NotificationSettings

    NotificationSettings.objects.create(user=hq.ward_head, push=False, email=True)
    message = instruct(hq)
    Message.objects.filter(pk=message.pk).update(priority="important")  # settings govern these
    escalation.escalation_sweep(now=message.created_at + timedelta(seconds=60))
    assert set(
        Notification.objects.filter(user=hq.ward_head).values_list("channel", flat=True)
    ) == {"inapp", "email"}
    assert set(
        Notification.objects.filter(user=hq.bureau_head).values_list("channel", flat=True)
    ) == {"inapp", "push", "email"}


def test_the_chronology_keeps_the_escalation_timeline(hq, deputies):
    from messaging import records

    d1, _d2 = deputies
    message = instruct(hq, repeat_count=0)
    escalation.escalation_sweep(now=message.created_at + timedelta(seconds=60))
    escalation.escalation_sweep(now=message.created_at + timedelta(seconds=120))
    escalation.standin_respond(user=d1, stand_in=StandIn.objects.get(deputy=d1), acknowledge=True)

    [entry] = records.chronology(group=hq.group)
    kinds = [(n["kind"], n["to"]) for n in entry["escalation"] if n["channel"] == "inapp"]
    assert ("reminder", hq.ward_head.username) in kinds and ("escalation", d1.username) in kinds
    [stand_in] = entry["stand_ins"]
    assert stand_in["deputy"] == d1.username and stand_in["for"] == hq.ward_head.username
    assert stand_in["acked_at"] and entry["escalation_policy"]["repeat_count"] == 0
    csv_text = records.chronology_csv(group=hq.group)
    assert ",acknowledged_for_post,1," in csv_text and ",escalation,," in csv_text


def test_the_chase_summary_counts_what_the_full_list_shows(hq, deputies, client):
    """The chat card's summary (no names, one light query) agrees with the full list at every
    stage: waiting → reminded → deputy / unreached / acknowledged."""
    from collections import Counter

    from messaging import selectors

    message = instruct(hq, repeat_count=0)
    t0 = message.created_at

    def check():
        rows = selectors.chase_rows(message=message)
        summary = selectors.chase_summary(message=message)
        assert summary["chased"] == sum(1 for r in rows if r.state)
        assert {k: v for k, v in summary.items() if k != "chased" and v} == Counter(
            r.status for r in rows
        )
        return summary

    assert check()["waiting"] == 2  # the observer is not chased (issue 9)
    escalation.escalation_sweep(now=t0 + timedelta(seconds=60))
    assert check()["reminded"] == 2
    escalation.escalation_sweep(now=t0 + timedelta(seconds=120))
    services.receipt_acknowledge(user=hq.bureau_head, message=message)
    summary = check()
    assert (summary["escalated"], summary["acked"], summary["unreached"]) == (1, 1, 0)

    client.force_login(hq.mayor)
    response = client.get(f"/messages/m/{message.pk}/chase/?format=summary")
    assert response.status_code == 200 and response.json() == {"message": message.pk, **summary}
    client.force_login(hq.ward_head)  # a member, not a commander: no receipts for them
    assert client.get(f"/messages/m/{message.pk}/chase/?format=summary").status_code == 403
    client.force_login(hq.outsider)  # not in the group: nothing to learn
    assert client.get(f"/messages/m/{message.pk}/chase/?format=summary").status_code == 404


def test_urgent_reminders_reach_push_even_when_push_is_turned_off(hq):
    """Urgent cannot be muted below in-app and push; e-mail stays the person's choice."""
    from notifications.models import NotificationSettings

    NotificationSettings.objects.create(user=hq.ward_head, push=False, email=False)
    message = instruct(hq)  # urgent
    escalation.escalation_sweep(now=message.created_at + timedelta(seconds=60))
    assert set(
        Notification.objects.filter(user=hq.ward_head).values_list("channel", flat=True)
    ) == {"inapp", "push"}


def test_observers_are_not_counted_chased_or_unreached(hq):
    """The observer receives the instruction and may read it, but is not in the denominator,
    never chased and never reported unreached."""
    from messaging import selectors
    from messaging.models import Receipt

    message = instruct(hq, repeat_count=0, use_deputies=False)
    assert message.recipient_count == 2
    assert Receipt.objects.get(message=message, user=hq.observer).observer is True
    services.receipt_mark_read(user=hq.observer, group=hq.group, up_to_seq=message.seq)
    [counts] = selectors.receipt_counts(message_ids=[message.pk])
    assert (counts.total, counts.read, counts.acked) == (2, 0, 0)
    assert not Chase.objects.filter(message=message, receipt__user=hq.observer).exists()

    escalation.escalation_sweep(now=message.created_at + timedelta(seconds=60))
    escalation.escalation_sweep(now=message.created_at + timedelta(seconds=120))

    message.refresh_from_db()
    assert message.unreached_reported_at is not None  # the ward and bureau heads stayed silent
    [report] = Notification.objects.filter(kind="unreached", user=hq.mayor, channel="inapp")
    assert hq.observer.staff.full_name not in report.detail
    assert set(Chase.objects.filter(message=message).values_list("state", flat=True)) == {
        "unreached"
    }
    assert not Notification.objects.filter(user=hq.observer).exists()
    assert {r.user_id for r in selectors.receipt_rows(message=message)} == {
        hq.ward_head.pk,
        hq.bureau_head.pk,
    }
