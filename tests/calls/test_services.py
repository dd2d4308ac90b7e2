"""The life of a call, written by the services: ringing, answer, the six outcomes each side
sees, who may do what (a refusal changes nothing), conferences, and what a finished call
leaves in the record (the line in the conversation, the missed-call notice)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from calls import services
from calls.models import Call, Participant
from calls.notices import KIND_CONFERENCE, KIND_MISSED, KIND_RING
from messaging.models import CommandGroup, Message
from notifications.models import Notification
from tests.calls.conftest import person

pytestmark = pytest.mark.django_db


def ring(caller, callee, **kw) -> Call:
    return services.call_start(caller=caller, callee=callee.staff, **kw)


def conversation_lines(call: Call) -> list[str]:
    return list(
        Message.objects.filter(group=call.group).order_by("seq").values_list("body", flat=True)
    )


def notes(user, kind) -> list[tuple[str, str]]:
    return sorted(Notification.objects.filter(user=user, kind=kind).values_list("kind", "channel"))


# --- ringing and answering -------------------------------------------------------------------
def test_a_call_rings_the_callee_in_their_conversation(hq, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        call = ring(hq.mayor, hq.ward_head, channel="page-a")

    call.refresh_from_db()
    assert call.kind == Call.Kind.DIRECT and call.state == Call.State.RINGING
    assert call.group.kind == CommandGroup.Kind.DIRECT
    assert call.caller_post_name == "本部長" and call.callee_post_name == "北区長"
    assert (call.ring_until - call.started_at) == timedelta(seconds=30)
    caller_leg, callee_leg = call.participants.order_by("id")
    assert (caller_leg.role, caller_leg.channel, caller_leg.epoch) == ("caller", "page-a", 1)
    assert caller_leg.joined_at == call.started_at
    assert (callee_leg.role, callee_leg.joined_at, callee_leg.channel) == ("callee", None, "")
    # The phone rings by Web Push too, whatever the callee's push setting says.
    assert notes(hq.ward_head, KIND_RING) == [(KIND_RING, "push")]
    assert conversation_lines(call) == []  # nothing in the conversation while it rings


def test_only_the_callee_answers_and_only_once(hq):
    call = ring(hq.mayor, hq.ward_head)
    for who in (hq.mayor, hq.outsider):
        with pytest.raises(PermissionDenied):
            services.call_answer(call=call, user=who, channel="x")
    call.refresh_from_db()
    assert call.state == Call.State.RINGING and call.answered_at is None

    bound = services.call_answer(call=call, user=hq.ward_head, channel="page-b")

    call.refresh_from_db()
    assert call.state == Call.State.ACTIVE and call.answered_at is not None
    assert (bound.leg.channel, bound.leg.epoch, bound.leg.joined_at) == (
        "page-b",
        1,
        call.answered_at,
    )
    with pytest.raises(ValidationError, match=re.escape(str(services.ERR_ALREADY_ANSWERED))):
        services.call_answer(call=call, user=hq.ward_head, channel="page-c")  # another phone
    assert Participant.objects.get(pk=bound.leg.pk).channel == "page-b"


def test_completed_call_is_a_line_with_its_duration(hq):
    call = ring(hq.mayor, hq.ward_head)
    services.call_answer(call=call, user=hq.ward_head, channel="b")
    Call.objects.filter(pk=call.pk).update(answered_at=timezone.now() - timedelta(seconds=192))

    services.call_hangup(call=call, user=hq.ward_head)

    call.refresh_from_db()
    assert (call.outcome, call.end_reason, call.ended_by) == ("completed", "hangup", hq.ward_head)
    assert call.duration_seconds == 192
    assert conversation_lines(call) == ["📞 音声通話（3:12）"]
    assert call.record_message.sender == hq.mayor
    assert not call.participants.filter(left_at__isnull=True).exists()
    assert notes(hq.ward_head, KIND_MISSED) == []


# --- the outcomes --------------------------------------------------------------------------
def test_declined_is_not_a_missed_call(hq):
    call = ring(hq.mayor, hq.ward_head)

    services.call_decline(call=call, user=hq.ward_head)

    call.refresh_from_db()
    assert (call.state, call.outcome, call.ended_by) == ("ended", "declined", hq.ward_head)
    assert conversation_lines(call) == ["📞 通話は拒否されました"]
    assert notes(hq.ward_head, KIND_MISSED) == []


def test_only_the_callee_declines(hq):
    call = ring(hq.mayor, hq.ward_head)
    for who in (hq.mayor, hq.outsider):
        with pytest.raises(PermissionDenied):
            services.call_decline(call=call, user=who)
    call.refresh_from_db()
    assert call.state == Call.State.RINGING


def test_no_answer_at_the_deadline_is_a_missed_call(hq):
    call = ring(hq.mayor, hq.ward_head)
    assert services.call_expire(call_id=call.pk) is False  # not yet
    assert Call.objects.get(pk=call.pk).state == Call.State.RINGING

    assert services.call_expire(call_id=call.pk, now=call.ring_until) is True
    assert services.call_expire(call_id=call.pk, now=call.ring_until) is False  # once

    call.refresh_from_db()
    assert (call.outcome, call.end_reason, call.ended_by) == ("no_answer", "timeout", None)
    assert conversation_lines(call) == ["📞 不在着信"]
    # In the app, by push and by e-mail (the default settings; the callee has an address).
    assert notes(hq.ward_head, KIND_MISSED) == [
        (KIND_MISSED, "email"),
        (KIND_MISSED, "inapp"),
        (KIND_MISSED, "push"),
    ]


def test_caller_hanging_up_while_it_rings_cancels_it(hq):
    call = ring(hq.mayor, hq.ward_head)

    services.call_hangup(call=call, user=hq.mayor)

    call.refresh_from_db()
    assert (call.outcome, call.ended_by) == ("cancelled", hq.mayor)
    assert conversation_lines(call) == ["📞 不在着信"]
    assert len(notes(hq.ward_head, KIND_MISSED)) == 3


def test_a_callee_in_another_call_is_busy(hq):
    first = ring(hq.bureau_head, hq.ward_head)
    services.call_answer(call=first, user=hq.ward_head, channel="b")

    second = ring(hq.mayor, hq.ward_head, channel="a")

    second.refresh_from_db()
    assert (second.state, second.outcome, second.end_reason) == ("ended", "busy", "busy")
    assert conversation_lines(second) == ["📞 不在着信（通話中）"]
    assert len(notes(hq.ward_head, KIND_MISSED)) == 3
    assert notes(hq.ward_head, KIND_RING) == [(KIND_RING, "push")]  # the first call's only
    first.refresh_from_db()
    assert first.state == Call.State.ACTIVE  # undisturbed


def test_a_caller_already_in_a_call_cannot_start_another(hq):
    ring(hq.mayor, hq.ward_head)
    with pytest.raises(ValidationError, match=re.escape(str(services.ERR_YOU_ARE_IN_A_CALL))):
        ring(hq.mayor, hq.bureau_head)
    assert Call.objects.count() == 1


def test_a_caller_may_start_only_so_many_calls_a_minute(hq, settings):
    settings.HONBU_CALL_STARTS_PER_MINUTE = 2
    for _ in range(2):
        services.call_hangup(call=ring(hq.mayor, hq.ward_head), user=hq.mayor)
    with pytest.raises(ValidationError, match=re.escape(str(services.ERR_TOO_MANY))):
        ring(hq.mayor, hq.bureau_head)
    assert Call.objects.count() == 2
    ring(hq.ward_head, hq.bureau_head)  # someone else may


def test_nobody_without_an_account_or_oneself_is_called(hq):
    no_account = person().staff
    no_account.user = None
    no_account.save(update_fields=["user"])
    for caller, callee in [(hq.mayor, no_account), (hq.mayor, hq.mayor.staff)]:
        with pytest.raises(ValidationError):
            services.call_start(caller=caller, callee=callee)
    assert Call.objects.count() == 0


def test_network_failure_after_the_answer(hq):
    call = ring(hq.mayor, hq.ward_head, channel="a")
    services.call_answer(call=call, user=hq.ward_head, channel="b")
    with pytest.raises(ValidationError):
        services.call_fail(call=call, user=hq.mayor, channel="a", reason="nonsense")

    services.call_fail(call=call, user=hq.mayor, channel="a", reason="ice")

    call.refresh_from_db()
    assert (call.outcome, call.end_reason) == ("failed", "ice")
    assert conversation_lines(call)[0].startswith("📞 音声通話（0:00）")
    assert "ネットワーク" in conversation_lines(call)[0]


def test_a_page_that_drops_has_a_grace_period_and_can_come_back(hq):
    call = ring(hq.mayor, hq.ward_head, channel="a")
    services.call_answer(call=call, user=hq.ward_head, channel="b")

    assert services.participants_socket_lost(channel="b") == [
        call.participants.get(user=hq.ward_head).pk
    ]
    leg = call.participants.get(user=hq.ward_head)
    assert leg.lost_at is not None
    # Back on a new socket (a network change: the same page, fresh=False keeps the epoch).
    bound = services.participant_join(call=call, user=hq.ward_head, channel="b2", fresh=False)
    assert (bound.leg.channel, bound.leg.lost_at, bound.leg.epoch) == ("b2", None, 1)
    assert services.participant_lost_expire(leg_id=leg.pk, channel="b") is False
    assert Call.objects.get(pk=call.pk).state == Call.State.ACTIVE

    # Dropped again, and not back in time: the call fails for both.
    services.participants_socket_lost(channel="b2")
    assert services.participant_lost_expire(leg_id=leg.pk, channel="b2") is True
    call.refresh_from_db()
    assert (call.outcome, call.end_reason) == ("failed", "network")


def test_a_new_page_takes_the_leg_and_the_old_one_is_told(hq):
    call = ring(hq.mayor, hq.ward_head, channel="a")
    bound = services.participant_join(call=call, user=hq.mayor, channel="a2", fresh=True)
    assert (bound.previous_channel, bound.leg.epoch) == ("a", 2)


def test_the_callee_must_answer_before_joining(hq):
    call = ring(hq.mayor, hq.ward_head)
    with pytest.raises(ValidationError, match=re.escape(str(services.ERR_NOT_ANSWERED))):
        services.participant_join(call=call, user=hq.ward_head, channel="b", fresh=True)
    with pytest.raises(PermissionDenied):
        services.participant_join(call=call, user=hq.outsider, channel="x", fresh=True)


def test_the_first_ending_wins(hq):
    call = ring(hq.mayor, hq.ward_head)
    services.call_expire(call_id=call.pk, now=call.ring_until)
    with pytest.raises(ValidationError, match=re.escape(str(services.ERR_CALL_OVER))):
        services.call_decline(call=call, user=hq.ward_head)
    with pytest.raises(ValidationError, match=re.escape(str(services.ERR_CALL_OVER))):
        services.call_answer(call=call, user=hq.ward_head, channel="b")
    services.call_hangup(call=call, user=hq.mayor)  # harmless
    call.refresh_from_db()
    assert call.outcome == "no_answer"
    assert Message.objects.filter(group=call.group).count() == 1


def test_the_sweep_does_what_a_gone_process_would_have(hq):
    call = ring(hq.mayor, hq.ward_head)
    other = ring(hq.bureau_head, hq.observer, channel="c")
    services.call_answer(call=other, user=hq.observer, channel="d")
    services.participants_socket_lost(channel="d")
    later = timezone.now() + timedelta(seconds=31)

    result = services.calls_sweep(now=later)

    assert result == {"expired": 1, "dropped": 1, "emptied": 0}
    assert Call.objects.get(pk=call.pk).outcome == "no_answer"
    assert Call.objects.get(pk=other.pk).outcome == "failed"
    assert services.calls_sweep(now=later) == {"expired": 0, "dropped": 0, "emptied": 0}


# --- conferences -----------------------------------------------------------------------------
def test_a_commander_starts_a_conference_and_members_are_told(hq):
    with pytest.raises(PermissionDenied):
        services.conference_start(group=hq.group, user=hq.ward_head)
    assert Call.objects.count() == 0

    call = services.conference_start(group=hq.group, user=hq.mayor)

    assert (call.kind, call.state, call.group) == ("conference", "active", hq.group)
    assert services.conference_start(group=hq.group, user=hq.mayor) == call  # the same one
    for member in (hq.ward_head, hq.bureau_head, hq.observer):
        assert notes(member, KIND_CONFERENCE) == [(KIND_CONFERENCE, "push")]
    assert notes(hq.mayor, KIND_CONFERENCE) == [] and notes(hq.outsider, KIND_CONFERENCE) == []


def test_members_join_and_leave_and_the_last_one_out_ends_it(hq):
    call = services.conference_start(group=hq.group, user=hq.mayor)
    with pytest.raises(PermissionDenied):
        services.participant_join(call=call, user=hq.outsider, channel="x", fresh=True)
    a = services.participant_join(call=call, user=hq.mayor, channel="a", fresh=True).leg
    b = services.participant_join(call=call, user=hq.ward_head, channel="b", fresh=True).leg
    call.refresh_from_db()
    assert call.answered_at == a.joined_at  # talk time starts with the first one in
    assert (a.role, b.role) == ("commander", "member")

    services.call_hangup(call=call, user=hq.ward_head)
    again = services.participant_join(call=call, user=hq.ward_head, channel="b", fresh=True).leg
    assert again.pk != b.pk  # a new leg for each join: the record keeps both
    services.call_hangup(call=call, user=hq.ward_head)
    services.call_hangup(call=call, user=hq.mayor)

    call.refresh_from_db()
    assert (call.state, call.outcome, call.end_reason) == ("ended", "completed", "empty")
    legs = list(call.participants.order_by("id").values_list("user_id", "left_reason"))
    assert legs == [
        (hq.mayor.pk, "hangup"),
        (hq.ward_head.pk, "hangup"),
        (hq.ward_head.pk, "hangup"),
    ]
    assert Message.objects.filter(group=hq.group).count() == 0  # no chatter in the group


def test_observers_listen_only(hq):
    call = services.conference_start(group=hq.group, user=hq.mayor)
    leg = services.participant_join(call=call, user=hq.observer, channel="o", fresh=True).leg
    assert (leg.role, leg.muted) == ("observer", True)
    with pytest.raises(ValidationError, match=re.escape(str(services.ERR_LISTEN_ONLY))):
        services.participant_media(call=call, user=hq.observer, channel="o", muted=False)


def test_the_commander_mutes_someone_and_they_may_unmute(hq):
    call = services.conference_start(group=hq.group, user=hq.mayor)
    services.participant_join(call=call, user=hq.mayor, channel="a", fresh=True)
    b = services.participant_join(call=call, user=hq.ward_head, channel="b", fresh=True).leg
    c = services.participant_join(call=call, user=hq.bureau_head, channel="c", fresh=True).leg
    with pytest.raises(PermissionDenied):
        services.participant_mute(call=call, actor=hq.ward_head, leg_id=c.pk)
    assert Participant.objects.get(pk=c.pk).muted is False

    muted = services.participant_mute(call=call, actor=hq.mayor, leg_id=b.pk)

    assert (muted.muted, muted.muted_by, muted.channel) == (True, hq.mayor, "b")
    with pytest.raises(PermissionDenied):  # only from the page that holds the leg
        services.participant_media(call=call, user=hq.ward_head, channel="elsewhere", muted=False)
    services.participant_media(call=call, user=hq.ward_head, channel="b", muted=False)
    b.refresh_from_db()
    assert (b.muted, b.muted_by) == (False, None)


def test_only_commanders_end_a_conference_for_everyone(hq):
    call = services.conference_start(group=hq.group, user=hq.mayor)
    services.participant_join(call=call, user=hq.ward_head, channel="b", fresh=True)
    with pytest.raises(PermissionDenied):
        services.conference_end(call=call, user=hq.ward_head)

    services.conference_end(call=call, user=hq.mayor)

    call.refresh_from_db()
    assert (call.outcome, call.end_reason, call.ended_by) == (
        "completed",
        "ended_by_commander",
        hq.mayor,
    )
    assert not call.participants.filter(left_at__isnull=True).exists()


def test_the_mesh_has_a_size_limit(hq, settings):
    settings.HONBU_CALL_MESH_MAX = 2
    call = services.conference_start(group=hq.group, user=hq.mayor)
    services.participant_join(call=call, user=hq.mayor, channel="a", fresh=True)
    services.participant_join(call=call, user=hq.ward_head, channel="b", fresh=True)
    with pytest.raises(ValidationError, match=re.escape(str(services.ERR_ROOM_FULL % {"n": 2}))):
        services.participant_join(call=call, user=hq.bureau_head, channel="c", fresh=True)


def test_someone_in_a_call_cannot_join_a_conference(hq):
    ring(hq.ward_head, hq.outsider)
    call = services.conference_start(group=hq.group, user=hq.mayor)
    with pytest.raises(ValidationError, match=re.escape(str(services.ERR_YOU_ARE_IN_A_CALL))):
        services.participant_join(call=call, user=hq.ward_head, channel="b", fresh=True)


def test_one_to_one_conversations_have_no_conference(hq):
    call = ring(hq.mayor, hq.ward_head)
    with pytest.raises(PermissionDenied):
        services.conference_start(group=call.group, user=hq.mayor)


def test_an_empty_conference_is_swept(hq):
    call = services.conference_start(group=hq.group, user=hq.mayor)
    assert services.calls_sweep()["emptied"] == 0  # just opened: its commander is on the way
    result = services.calls_sweep(now=timezone.now() + timedelta(seconds=21))
    assert result["emptied"] == 1
    assert Call.objects.get(pk=call.pk).end_reason == "empty"
