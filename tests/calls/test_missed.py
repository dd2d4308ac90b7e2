"""A commander's missed call to a headquarters member during disaster mode is chased by
messaging's escalation (reminders, then the post's deputies, then "unreached"), through an
urgent instruction in a small group of the two seats; calling back acknowledges it. Outside
disaster mode, from someone who is not a commander, or when declined, it is only a missed call.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from calls import services
from calls.models import Call, MissedCallRoute
from messaging import services as messaging_services
from messaging.escalation import escalation_sweep
from messaging.listeners import KIND_ESCALATION, KIND_REMINDER
from messaging.models import Chase, CommandGroup, GroupMembership, Message, StandIn
from notifications.models import Notification

pytestmark = pytest.mark.django_db


def missed_call(caller, callee) -> Call:
    call = services.call_start(caller=caller, callee=callee.staff)
    services.call_expire(call_id=call.pk, now=call.ring_until)
    call.refresh_from_db()
    return call


def test_in_disaster_mode_a_commanders_missed_call_is_chased_to_the_deputy(hq, disaster):
    call = missed_call(hq.mayor, hq.ward_head)

    instruction = call.escalation_message
    assert instruction is not None
    assert (instruction.kind, instruction.priority, instruction.requires_ack) == (
        "instruction",
        "urgent",
        True,
    )
    assert instruction.sender == hq.mayor and not instruction.exercise
    assert "本部長" in instruction.body and "不在着信" in instruction.body
    # Addressed to that seat only: the route group of 本部長 → 北区長, through the posts.
    route = instruction.group
    assert route.kind == CommandGroup.Kind.AD_HOC and route.name == "不在着信：本部長 → 北区長"
    seats = set(route.memberships.values_list("post__name", "role"))
    assert seats == {("本部長", "commander"), ("北区長", "member")}
    assert list(instruction.receipts.values_list("user_id", "post__name")) == [
        (hq.ward_head.pk, "北区長")
    ]
    # The headquarters group itself hears nothing of it (no alert, no chase for everyone).
    assert not Message.objects.filter(group=hq.group).exists()
    # The missed call is also in the conversation, as ever.
    assert call.record_message.body == "📞 不在着信"

    # The chase: reminders (the missed-call policy: 1 + 1), then the deputy of 北区長.
    policy = instruction.escalation
    assert (policy["first_after"], policy["repeat_count"], policy["deputy_wait"]) == (60, 1, 120)
    start = instruction.created_at
    escalation_sweep(now=start + timedelta(seconds=61))
    escalation_sweep(now=start + timedelta(seconds=122))
    escalation_sweep(now=start + timedelta(seconds=183))
    chase = Chase.objects.get(message=instruction)
    assert (chase.state, chase.reminders, chase.deputy_rank) == ("active", 2, 1)
    assert StandIn.objects.get(chase=chase).deputy == hq.deputy
    assert Notification.objects.filter(user=hq.ward_head, kind=KIND_REMINDER).exists()
    assert Notification.objects.filter(user=hq.deputy, kind=KIND_ESCALATION).exists()


def test_calling_back_acknowledges_the_chase(hq, disaster):
    missed = missed_call(hq.mayor, hq.ward_head)
    receipt = missed.escalation_message.receipts.get()
    assert receipt.acked_at is None

    back = services.call_start(caller=hq.ward_head, callee=hq.mayor.staff)
    services.call_answer(call=back, user=hq.mayor, channel="m")

    receipt.refresh_from_db()
    assert receipt.acked_at is not None
    assert Chase.objects.get(receipt=receipt).state == Chase.State.COVERED


def test_the_route_group_is_reused_for_the_same_two_seats(hq, disaster):
    first = missed_call(hq.mayor, hq.ward_head)
    second = missed_call(hq.mayor, hq.ward_head)
    assert first.escalation_message.group == second.escalation_message.group
    assert MissedCallRoute.objects.count() == 1


def test_an_exercise_incident_chases_as_an_exercise(hq, disaster):
    disaster.is_drill = True
    disaster.save(update_fields=["is_drill"])
    call = missed_call(hq.mayor, hq.ward_head)
    assert call.escalation_message.exercise is True
    assert call.escalation_message.body.startswith("【訓練】")


@pytest.mark.parametrize(
    "case", ["no_disaster", "not_a_commander", "declined", "answered", "observer", "outsider"]
)
def test_only_a_commanders_missed_call_to_a_member_in_disaster_mode_is_chased(hq, disaster, case):
    caller, callee = hq.mayor, hq.ward_head
    if case == "no_disaster":
        disaster.ended_at = timezone.now()
        disaster.save(update_fields=["ended_at"])
    if case == "not_a_commander":
        caller, callee = hq.bureau_head, hq.ward_head
    if case == "observer":
        callee = hq.observer  # in headquarters as an observer: never chased
    if case == "outsider":
        callee = hq.outsider
    call = services.call_start(caller=caller, callee=callee.staff)
    if case == "declined":
        services.call_decline(call=call, user=callee)
    elif case == "answered":
        services.call_answer(call=call, user=callee, channel="x")
        services.call_hangup(call=call, user=caller)
    else:
        services.call_expire(call_id=call.pk, now=call.ring_until)

    call.refresh_from_db()
    assert call.escalation_message is None
    assert not Message.objects.filter(kind="instruction").exists()
    assert not MissedCallRoute.objects.exists()


def test_a_member_by_name_is_chased_without_deputies(hq, disaster):
    messaging_member = hq.outsider
    messaging_services.group_add_member(
        group=hq.group, staff=messaging_member.staff, role=GroupMembership.Role.MEMBER, actor=None
    )
    call = missed_call(hq.mayor, messaging_member)
    route = call.escalation_message.group
    assert set(route.memberships.values_list("post__name", "staff_id")) == {
        ("本部長", None),
        (None, messaging_member.staff.pk),
    }


def test_an_administrator_can_switch_a_route_off(hq, disaster):
    first = missed_call(hq.mayor, hq.ward_head)
    CommandGroup.objects.filter(pk=first.escalation_message.group_id).update(is_active=False)
    second = missed_call(hq.mayor, hq.ward_head)
    assert second.escalation_message is None
    assert second.record_message.body == "📞 不在着信"
