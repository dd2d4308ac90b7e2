"""What a finished one-to-one call leaves behind, written in the transaction that ends it:

1. A line in the two people's conversation, from the caller, through ``message_send`` like
   any message (so it is in the conversation, the group chronology and its export):
   「📞 音声通話（3:12）」, 「📞 不在着信」, 「📞 通話は拒否されました」 ….
2. A missed call (the callee neither answered nor declined: no answer, cancelled, busy, or the
   network failed before the answer) is a notification to the callee (in the app, push,
   e-mail as they chose), which opens the call page with a "call back" button.
3. In disaster mode (``safety.selectors.open_incidents()``), a missed call from a commander of
   the city headquarters group to a headquarters member is chased like an unanswered
   instruction: an urgent instruction that asks for 了解, sent by the commander in a small
   group of their post and the member's seat (``MissedCallRoute``), so messaging's escalation
   reminds that member and then their post's deputies, and reports them unreached. Why not in
   the headquarters group itself: there it would alert, count and chase every member.
   Calling back (a call between the two that is answered) acknowledges it.
See docs/calls.md."""

from __future__ import annotations

import logging
import uuid

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from directory.models import Post
from messaging import services as messaging
from messaging.models import CommandGroup, GroupMembership, Message, Receipt
from notifications.selectors import channels_for
from notifications.services import notification_new, notifications_create
from safety import selectors as safety

from .models import Call, MissedCallRoute
from .notices import KIND_MISSED

log = logging.getLogger(__name__)
NAMESPACE = uuid.UUID("4f1b6a52-8f3e-4e57-9a53-6a1f2f0c7c11")  # client ids of calls' messages


def _client_id(call: Call, what: str) -> uuid.UUID:
    """The same id however often it is attempted: message_send sends it once."""
    return uuid.uuid5(NAMESPACE, f"call:{call.pk}:{what}")


def duration_text(seconds: int | None) -> str:
    seconds = seconds or 0
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def record_text(call: Call) -> str:
    """The conversation's line about a call (in the active language)."""
    if call.answered_at is not None:
        duration = duration_text(call.duration_seconds)
        if call.outcome == Call.Outcome.FAILED:
            return _("📞 Voice call (%(duration)s), cut off by a network problem") % {
                "duration": duration
            }
        return _("📞 Voice call (%(duration)s)") % {"duration": duration}
    if call.outcome == Call.Outcome.DECLINED:
        return _("📞 Call declined")
    if call.outcome == Call.Outcome.BUSY:
        return _("📞 Missed call (the line was busy)")
    return _("📞 Missed call")


def call_ended(*, call: Call) -> list[str]:
    """Called by services._end with the call locked; returns the fields it set. A failure here
    is logged and never keeps the call from ending."""
    fields = []
    try:
        with transaction.atomic():
            with translation.override(call.caller.language):
                sent = messaging.message_send(
                    group=call.group,
                    sender=call.caller,
                    body=record_text(call),
                    client_id=_client_id(call, "record"),
                )
            call.record_message = sent.message
            fields.append("record_message")
    except Exception:
        log.exception("call %s: the conversation line was not written", call.pk)
    if not call.missed:
        return fields
    _missed_notice(call)
    try:
        with transaction.atomic():
            message = escalate(call=call)
            if message is not None:
                call.escalation_message = message
                fields.append("escalation_message")
    except Exception:
        log.exception("call %s: the missed call was not escalated", call.pk)
    return fields


def _missed_notice(call: Call) -> None:
    uid = call.callee_id
    notifications_create(
        notes=[
            notification_new(
                subject_type=_call_type(),
                subject_id=call.pk,
                once_key=f"call:{call.pk}:missed",
                user_id=uid,
                kind=KIND_MISSED,
                channel=channel,
                created_at=call.ended_at or timezone.now(),
            )
            for channel in channels_for({uid})[uid]
        ]
    )


def _call_type() -> ContentType:
    return ContentType.objects.get_for_model(Call)


# --- disaster mode: the missed call is chased --------------------------------------------
def escalation_seat(*, call: Call) -> tuple[Post, GroupMembership] | None:
    """The caller's commander post in the city headquarters group and the callee's membership
    there (through a post when they have one: its deputies are then chased too), while a
    disaster is open; else None."""
    if call.kind != Call.Kind.DIRECT or not safety.open_incidents():
        return None
    hq = safety.hq_group()
    if hq is None:
        return None
    caller_post = (
        Post.objects.filter(
            group_memberships__group=hq,
            group_memberships__role=GroupMembership.Role.COMMANDER,
            holder__user_id=call.caller_id,
            holder__is_active=True,
        )
        .order_by("sort_order", "pk")
        .first()
    )
    if caller_post is None:
        return None
    seats = (
        GroupMembership.objects.filter(group=hq)
        .filter(
            Q(post__holder__user_id=call.callee_id, post__holder__is_active=True)
            | Q(staff__user_id=call.callee_id, staff__is_active=True)
        )
        .exclude(role=GroupMembership.Role.OBSERVER)  # observers are never chased
        .select_related("post", "staff")
    )
    # Through a post first (its deputies stand in), else as an individual member.
    ranked = sorted(
        seats, key=lambda m: (m.post_id is None, m.post.sort_order if m.post else 0, m.pk)
    )
    if not ranked or ranked[0].post_id == caller_post.pk:
        return None
    return caller_post, ranked[0]


def _route_group(caller_post: Post, seat: GroupMembership) -> CommandGroup | None:
    key = f"{caller_post.pk}>" + (f"p{seat.post_id}" if seat.post_id else f"s{seat.staff_id}")
    route = MissedCallRoute.objects.filter(key=key).select_related("group").first()
    if route is None:
        with translation.override(settings.LANGUAGE_CODE):
            callee = seat.post.name if seat.post_id else seat.staff.full_name
            name = _("Missed calls: %(caller)s → %(callee)s") % {
                "caller": caller_post.name,
                "callee": callee,
            }
            description = _(
                "Missed calls in disaster mode are chased here until acknowledged (automatic)."
            )
        try:
            with transaction.atomic():
                group = messaging.group_create(
                    name=name[:100],
                    kind=CommandGroup.Kind.AD_HOC,
                    actor=None,
                    description=description[:300],
                )
                route = MissedCallRoute.objects.create(key=key, group=group)
        except IntegrityError:  # made at the same moment for another missed call
            route = MissedCallRoute.objects.select_related("group").get(key=key)
    if not route.group.is_active:
        return None  # an administrator switched this route off
    # Kept in step with headquarters: the same posts, whoever holds them (idempotent).
    messaging.group_add_member(
        group=route.group, actor=None, post=caller_post, role=GroupMembership.Role.COMMANDER
    )
    if seat.post_id:
        messaging.group_add_member(
            group=route.group, actor=None, post=seat.post, role=GroupMembership.Role.MEMBER
        )
    else:
        messaging.group_add_member(
            group=route.group, actor=None, staff=seat.staff, role=GroupMembership.Role.MEMBER
        )
    return route.group


def escalate(*, call: Call) -> Message | None:
    """The urgent instruction that chases a commander's missed call in disaster mode (or
    None when the call is not one)."""
    found = escalation_seat(call=call)
    if found is None:
        return None
    caller_post, seat = found
    group = _route_group(caller_post, seat)
    if group is None:
        return None
    exercise = all(incident.is_drill for incident in safety.open_incidents())
    with translation.override(call.caller.language):
        when = timezone.localtime(call.started_at).strftime("%H:%M")
        body = _(
            "Missed call from %(post)s %(name)s at %(time)s. Call back at once, and tap "
            "Acknowledge (calling back and talking acknowledges it too)."
        ) % {"post": caller_post.name, "name": call.caller_name, "time": when}
    sent = messaging.message_send(
        group=group,
        sender=call.caller,
        body=body,
        client_id=_client_id(call, "escalation"),
        kind=Message.Kind.INSTRUCTION,
        priority=Message.Priority.URGENT,
        requires_ack=True,
        escalation=dict(settings.HONBU_CALL_MISSED_POLICY),
        exercise=exercise,
    )
    return sent.message


def callback_acknowledges(*, call: Call) -> int:
    """The two are talking now: the missed-call instructions between them that are still
    open are acknowledged for the person they chase. Returns how many."""
    pairs = Q(caller_id=call.caller_id, callee_id=call.callee_id) | Q(
        caller_id=call.callee_id, callee_id=call.caller_id
    )
    open_receipts = Receipt.objects.filter(
        message__in=Call.objects.filter(pairs, escalation_message__isnull=False)
        .exclude(pk=call.pk)
        .values("escalation_message_id"),
        acked_at__isnull=True,
        observer=False,  # observers are not asked to acknowledge
        message__deleted_at__isnull=True,
    ).select_related("message", "user")
    done = 0
    for receipt in open_receipts:
        # The chased person (the earlier callee) is one of the two on this call.
        if receipt.user_id not in (call.caller_id, call.callee_id):
            continue
        try:
            with transaction.atomic():
                messaging.receipt_acknowledge(user=receipt.user, message=receipt.message)
            done += 1
        except Exception:
            log.exception("call %s: missed-call instruction not acknowledged", call.pk)
    return done
