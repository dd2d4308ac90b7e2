"""Writes of calls: the life cycle of one-to-one calls and conferences, and the legs' pages.

Every transition locks the call row, checks the state it expects and bumps ``version``; the
new state goes to the pages after commit (``call.state``). So a decline, an answer, the ring
timeout and a hang-up arriving together end the call once, the first one wins, and the others
are told it is over. What a finished one-to-one call leaves behind (the line in the
conversation, the missed-call notice, the disaster-mode escalation) is in missed.py."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy as _

from directory.models import Staff, User
from messaging import selectors as messaging_selectors
from messaging.models import CommandGroup, GroupMembership
from messaging.services import direct_conversation_get_or_create
from notifications.models import Notification
from notifications.selectors import channels_for
from notifications.services import notification_new, notifications_create
from realtime import clock
from realtime.events import Event, channel_group, send_event_on_commit, send_events_on_commit

from . import missed, selectors
from .events import CallRing, CallState, ConferenceChanged
from .models import Call, Participant
from .notices import KIND_CONFERENCE, KIND_RING

log = logging.getLogger(__name__)

ERR_CANNOT_CALL = _("This person cannot be called (no active sign-in account).")
ERR_YOU_ARE_IN_A_CALL = _("You are already in a call.")
ERR_NOT_CALLEE = _("Only the person called can answer.")
ERR_CALL_OVER = _("This call has ended.")
ERR_ALREADY_ANSWERED = _("This call has already been answered.")
ERR_NOT_ANSWERED = _("Answer the call first.")
ERR_NOT_IN_CALL = _("You are not in this call.")
ERR_NOT_COMMANDER = _("Only the group's commanders can start a conference call.")
ERR_NOT_MODERATOR = _("Only the group's commanders can do that.")
ERR_NO_PARTICIPANT = _("That person is not in the conference.")
ERR_ROOM_FULL = _("The conference is full (at most %(n)d people).")
ERR_LISTEN_ONLY = _("Observers can listen but not speak.")
ERR_TOO_MANY = _("Too many calls in a short time. Please wait a minute.")

FAIL_REASONS = ("ice", "media", "network")
_ROLE = {
    GroupMembership.Role.COMMANDER: Participant.Role.COMMANDER,
    GroupMembership.Role.MEMBER: Participant.Role.MEMBER,
    GroupMembership.Role.OBSERVER: Participant.Role.OBSERVER,
}


@dataclass(frozen=True)
class Bound:
    """A leg bound to a page: the leg, and the page it was taken from (told ``call.moved``)."""

    leg: Participant
    previous_channel: str


def _person(user: User) -> tuple[str, str]:
    posts = messaging_selectors.posts_for_user(user=user)
    return user.display_name(), posts[0].name if posts else ""


def _locked(call: Call) -> Call:
    return Call.objects.select_for_update().select_related("group").get(pk=call.pk)


def _publish(call: Call, *also: tuple[Event, list[str]]) -> None:
    """The call as it is now, after commit (with ``also``, in the same hop): a one-to-one call
    to both people's sockets (every page and device stops ringing), a conference to the pages
    watching it."""
    if call.kind == Call.Kind.DIRECT:
        groups = [channel_group("usr", call.caller_id), channel_group("usr", call.callee_id)]
    else:
        groups = [channel_group("call", call.pk)]
    state = CallState(call=call.pk, state=selectors.call_payload(call))
    send_events_on_commit([*also, (state, groups)])


def _save(call: Call, *fields: str) -> None:
    call.version += 1
    call.save(update_fields=["version", *fields])
    _publish(call)


def _too_many_starts(user_id: int) -> bool:
    """More than HONBU_CALL_STARTS_PER_MINUTE calls started this minute (each rings a phone and
    sends a push). Counted in the cache; with Redis away it lets calls through."""
    key = f"calls:starts:{user_id}:{int(time.time() // 60)}"
    try:
        cache.add(key, 0, timeout=120)
        return cache.incr(key) > settings.HONBU_CALL_STARTS_PER_MINUTE
    except Exception:  # noqa: BLE001 - a limit must not stop calls in a disaster
        log.warning("call rate limit not checked", exc_info=True)
        return False


def _call_type() -> ContentType:
    return ContentType.objects.get_for_model(Call)


# --- one-to-one ----------------------------------------------------------------------------
def call_start(*, caller: User, callee: Staff, channel: str = "") -> Call:
    """Ring ``callee``: their open pages show the ringing screen, their phones get a push.
    ``channel``: the caller's page, when the call starts from its socket. A callee already in
    a call makes it end at once as *busy* (a missed call for them)."""
    if not selectors.user_can_call(user=caller, staff=callee):
        raise ValidationError(ERR_CANNOT_CALL)
    if _too_many_starts(caller.pk):
        raise ValidationError(ERR_TOO_MANY)
    group = direct_conversation_get_or_create(me=caller, other=callee)
    caller_name, caller_post = _person(caller)
    callee_user = User.objects.select_related("staff").get(pk=callee.user_id)
    callee_name, callee_post = _person(callee_user)
    with transaction.atomic():
        # Both people locked (in id order): two calls to one person at once see each other.
        people = User.objects.select_for_update().filter(pk__in=[caller.pk, callee_user.pk])
        list(people.order_by("pk"))
        if selectors.user_is_busy(user_id=caller.pk):
            raise ValidationError(ERR_YOU_ARE_IN_A_CALL)
        busy = selectors.user_is_busy(user_id=callee_user.pk)
        now = clock.now()
        call = Call.objects.create(
            kind=Call.Kind.DIRECT,
            state=Call.State.RINGING,
            group=group,
            caller=caller,
            caller_name=caller_name,
            caller_post_name=caller_post,
            callee=callee_user,
            callee_name=callee_name,
            callee_post_name=callee_post,
            started_at=now,
            ring_until=now + timedelta(seconds=settings.HONBU_CALL_RING_SECONDS),
        )
        Participant.objects.create(
            call=call,
            user=caller,
            name=caller_name,
            post_name=caller_post,
            role=Participant.Role.CALLER,
            joined_at=now,
            channel=channel,
            epoch=1 if channel else 0,
        )
        Participant.objects.create(
            call=call,
            user=callee_user,
            name=callee_name,
            post_name=callee_post,
            role=Participant.Role.CALLEE,
        )
        if busy:
            _end(call, outcome=Call.Outcome.BUSY, reason="busy", by=None, now=now)
            return call
        ring = CallRing(
            call=call.pk,
            caller=caller_name,
            caller_post=caller_post,
            url=selectors.call_url(call),
            ring_until=call.ring_until.isoformat(),
        )
        # The phone rings through Web Push too (a page may be asleep in a pocket): whatever the
        # person's settings say, as for urgent instructions.
        notifications_create(
            notes=[
                notification_new(
                    subject_type=_call_type(),
                    subject_id=call.pk,
                    once_key=f"call:{call.pk}:ring",
                    user_id=callee_user.pk,
                    kind=KIND_RING,
                    channel=Notification.Channel.PUSH,
                    created_at=now,
                )
            ]
        )
        _publish(call, (ring, [channel_group("usr", callee_user.pk)]))
    return call


def call_answer(*, call: Call, user: User, channel: str) -> Bound:
    """The callee answers on this page. Only the callee; only while it rings."""
    with transaction.atomic():
        call = _locked(call)
        if call.kind != Call.Kind.DIRECT or user.pk != call.callee_id:
            raise PermissionDenied(ERR_NOT_CALLEE)
        if call.state == Call.State.ENDED:
            raise ValidationError(ERR_CALL_OVER)
        if call.state == Call.State.ACTIVE:
            raise ValidationError(ERR_ALREADY_ANSWERED)
        now = clock.now()
        leg = call.participants.get(user=user, left_at__isnull=True)
        leg.joined_at = now
        previous = _bind(leg, channel, fresh=True)
        call.state, call.answered_at = Call.State.ACTIVE, now
        _save(call, "state", "answered_at")
        missed.callback_acknowledges(call=call)
    return Bound(leg, previous)


def call_decline(*, call: Call, user: User) -> Call:
    with transaction.atomic():
        call = _locked(call)
        if call.kind != Call.Kind.DIRECT or user.pk != call.callee_id:
            raise PermissionDenied(ERR_NOT_CALLEE)
        if call.state == Call.State.ENDED:
            raise ValidationError(ERR_CALL_OVER)
        if call.state == Call.State.ACTIVE:
            raise ValidationError(ERR_ALREADY_ANSWERED)
        _end(call, outcome=Call.Outcome.DECLINED, reason="declined", by=user)
    return call


def call_expire(*, call_id: int, now: datetime | None = None) -> bool:
    """No answer: the call still rings at its deadline (the caller's server times it; the
    sweep catches the rest). Returns whether it ended the call."""
    now = now or clock.now()
    with transaction.atomic():
        call = Call.objects.select_for_update().filter(pk=call_id).first()
        if call is None or call.state != Call.State.RINGING or call.ring_until > now:
            return False
        _end(call, outcome=Call.Outcome.NO_ANSWER, reason="timeout", by=None, now=now)
    return True


# --- both kinds ----------------------------------------------------------------------------
def call_hangup(*, call: Call, user: User) -> Call:
    """Hang up. One-to-one: before the answer the caller cancels (the callee declines); after
    it the call is over for both. Conference: this person leaves; the last one out ends it.
    Hanging up a call that has ended already changes nothing."""
    with transaction.atomic():
        call = _locked(call)
        if call.state == Call.State.ENDED:
            return call
        leg = call.participants.filter(user=user, left_at__isnull=True).first()
        if leg is None:
            raise PermissionDenied(ERR_NOT_IN_CALL)
        if call.kind == Call.Kind.CONFERENCE:
            _leave(call, leg, reason="hangup")
        elif call.state == Call.State.RINGING and user.pk == call.caller_id:
            _end(call, outcome=Call.Outcome.CANCELLED, reason="hangup", by=user)
        elif call.state == Call.State.RINGING:
            _end(call, outcome=Call.Outcome.DECLINED, reason="declined", by=user)
        else:
            _end(call, outcome=Call.Outcome.COMPLETED, reason="hangup", by=user)
    return call


def call_fail(*, call: Call, user: User, channel: str, reason: str) -> Call:
    """A page could not keep or restore the media connection (ICE restart failed): a
    one-to-one call ends as a network failure for both; in a conference that page leaves."""
    if reason not in FAIL_REASONS:
        raise ValidationError(ERR_CALL_OVER)
    with transaction.atomic():
        call = _locked(call)
        leg = call.participants.filter(channel=channel, user=user, left_at__isnull=True).first()
        if call.state == Call.State.ENDED or leg is None:
            return call
        if call.kind == Call.Kind.CONFERENCE:
            _leave(call, leg, reason=reason)
        else:
            _end(call, outcome=Call.Outcome.FAILED, reason=reason, by=user)
    return call


def participant_join(*, call: Call, user: User, channel: str, fresh: bool) -> Bound:
    """Take (or take back) this person's leg on this page. One-to-one: the caller's page, or
    the callee's once answered. Conference: any member of the group joins (a new leg) or a
    page comes back after a network change (``fresh=False``: the same connections go on with
    an ICE restart; ``fresh=True``: a new page, peers start new connections)."""
    with transaction.atomic():
        call = _locked(call)
        if call.state == Call.State.ENDED:
            raise ValidationError(ERR_CALL_OVER)
        leg = call.participants.filter(user=user, left_at__isnull=True).first()
        fields: list[str] = []
        if call.kind == Call.Kind.DIRECT:
            if leg is None:
                raise PermissionDenied(ERR_NOT_IN_CALL)
            if leg.joined_at is None:
                raise ValidationError(ERR_NOT_ANSWERED)
        elif leg is None:
            role = selectors.conference_role(user=user, group=call.group)
            if role is None:
                raise PermissionDenied(ERR_NOT_IN_CALL)
            if selectors.user_is_busy(user_id=user.pk, exclude_call=call.pk):
                raise ValidationError(ERR_YOU_ARE_IN_A_CALL)
            live = call.participants.filter(left_at__isnull=True).count()
            if live >= settings.HONBU_CALL_MESH_MAX:
                raise ValidationError(ERR_ROOM_FULL % {"n": settings.HONBU_CALL_MESH_MAX})
            now = clock.now()
            name, post = _person(user)
            leg = Participant(
                call=call,
                user=user,
                name=name,
                post_name=post,
                role=_ROLE[role],
                joined_at=now,
                muted=role == GroupMembership.Role.OBSERVER,
            )
            if call.answered_at is None:
                call.answered_at = now
                fields.append("answered_at")
        previous = _bind(leg, channel, fresh=fresh)
        _save(call, *fields)
    return Bound(leg, previous)


def _bind(leg: Participant, channel: str, *, fresh: bool) -> str:
    previous = leg.channel if leg.channel and leg.channel != channel else ""
    leg.channel, leg.lost_at = channel, None
    if fresh or leg.epoch == 0:
        leg.epoch += 1
    leg.save()
    return previous


def participant_media(*, call: Call, user: User, channel: str, muted: bool) -> Participant:
    """This page's microphone is on or off (the others see it)."""
    with transaction.atomic():
        call = _locked(call)
        leg = call.participants.filter(channel=channel, user=user, left_at__isnull=True).first()
        if call.state == Call.State.ENDED or leg is None:
            raise PermissionDenied(ERR_NOT_IN_CALL)
        if not muted and leg.role == Participant.Role.OBSERVER:
            raise ValidationError(ERR_LISTEN_ONLY)
        if leg.muted == muted and (muted or leg.muted_by_id is None):
            return leg
        leg.muted = muted
        if not muted:
            leg.muted_by = None
        leg.save(update_fields=["muted", "muted_by"])
        _save(call)
    return leg


def participant_mute(*, call: Call, actor: User, leg_id: int) -> Participant:
    """A commander mutes someone in the conference. Shown at once as muted by them; the page
    of that person is asked to turn its microphone off (sockets.py relays the request). They
    may turn it on again themselves, as in any conference."""
    with transaction.atomic():
        call = _locked(call)
        if not selectors.user_can_moderate(user=actor, call=call):
            raise PermissionDenied(ERR_NOT_MODERATOR)
        leg = call.participants.filter(pk=leg_id, left_at__isnull=True).first()
        if call.state == Call.State.ENDED or leg is None:
            raise ValidationError(ERR_NO_PARTICIPANT)
        leg.muted, leg.muted_by = True, actor
        leg.save(update_fields=["muted", "muted_by"])
        _save(call)
    return leg


def participants_socket_lost(*, channel: str) -> list[int]:
    """A page's socket went away: its legs wait HONBU_CALL_RECONNECT_SECONDS for it (the
    others see "reconnecting"). Returns the ids of those legs."""
    ids = []
    for leg in Participant.objects.filter(channel=channel, left_at__isnull=True).select_related(
        "call"
    ):
        with transaction.atomic():
            call = _locked(leg.call)
            updated = Participant.objects.filter(
                pk=leg.pk, channel=channel, left_at__isnull=True, lost_at__isnull=True
            ).update(lost_at=clock.now())
            if updated and call.state != Call.State.ENDED:
                _save(call)
                ids.append(leg.pk)
    return ids


def participant_lost_expire(*, leg_id: int, channel: str) -> bool:
    """The page did not come back: a one-to-one call ends as a network failure, a conference
    goes on without that person. Returns whether anything changed."""
    with transaction.atomic():
        leg = Participant.objects.filter(pk=leg_id).select_related("call").first()
        if leg is None:
            return False
        call = _locked(leg.call)
        leg = Participant.objects.get(pk=leg_id)
        if call.state == Call.State.ENDED or leg.left_at or not leg.lost_at:
            return False
        if leg.channel != channel:
            return False  # another page took the leg meanwhile
        if call.kind == Call.Kind.CONFERENCE:
            _leave(call, leg, reason="network")
        else:
            _end(call, outcome=Call.Outcome.FAILED, reason="network", by=None)
    return True


# --- conferences ---------------------------------------------------------------------------
def conference_start(*, group: CommandGroup, user: User) -> Call:
    """A commander opens the group's conference (or finds the one already running); every
    other member is told (a banner on open pages, a push) and may join."""
    if not selectors.user_can_start_conference(user=user, group=group):
        raise PermissionDenied(ERR_NOT_COMMANDER)
    existing = selectors.live_conference(group=group)
    if existing is not None:
        return existing
    name, post = _person(user)
    try:
        with transaction.atomic():
            now = clock.now()
            call = Call.objects.create(
                kind=Call.Kind.CONFERENCE,
                state=Call.State.ACTIVE,
                group=group,
                caller=user,
                caller_name=name,
                caller_post_name=post,
                started_at=now,
            )
            # Open pages show a banner with a "join" link (call.conference on the group's
            # channel); phones get a push, as the person chose. Not an in-app row too: its
            # banner would say the same a second time.
            others = set(messaging_selectors.group_recipients(group=group)) - {user.pk}
            channels = channels_for(others)
            notifications_create(
                notes=[
                    notification_new(
                        subject_type=_call_type(),
                        subject_id=call.pk,
                        once_key=f"call:{call.pk}:conference",
                        user_id=uid,
                        kind=KIND_CONFERENCE,
                        channel=ch,
                        created_at=now,
                    )
                    for uid in sorted(others)
                    for ch in channels[uid]
                    if ch == Notification.Channel.PUSH
                ]
            )
            _conference_event(call, live=True)
    except IntegrityError:  # another commander opened it at the same moment
        existing = selectors.live_conference(group=group)
        if existing is None:
            raise
        return existing
    return call


def conference_end(*, call: Call, user: User) -> Call:
    """A commander ends the conference for everyone."""
    with transaction.atomic():
        call = _locked(call)
        if not selectors.user_can_moderate(user=user, call=call):
            raise PermissionDenied(ERR_NOT_MODERATOR)
        if call.state != Call.State.ENDED:
            _end(call, outcome=Call.Outcome.COMPLETED, reason="ended_by_commander", by=user)
    return call


def _conference_event(call: Call, *, live: bool) -> None:
    send_event_on_commit(
        ConferenceChanged(
            group=call.group_id,
            call=call.pk,
            live=live,
            group_name=call.group.name,
            started_by=call.caller_name,
            url=selectors.call_url(call),
        ),
        groups=[channel_group("grp", call.group_id)],
    )


# --- ending ----------------------------------------------------------------------------------
def _leave(call: Call, leg: Participant, *, reason: str) -> None:
    leg.left_at, leg.left_reason = clock.now(), reason
    leg.save(update_fields=["left_at", "left_reason"])
    if not call.participants.filter(left_at__isnull=True).exists():
        _end(call, outcome=Call.Outcome.COMPLETED, reason="empty", by=None)
    else:
        _save(call)


def _end(
    call: Call, *, outcome: str, reason: str, by: User | None, now: datetime | None = None
) -> None:
    """Inside the caller's transaction, with the call locked."""
    now = now or clock.now()
    call.participants.filter(left_at__isnull=True).update(left_at=now, left_reason=reason)
    call.state, call.outcome, call.end_reason = Call.State.ENDED, outcome, reason
    call.ended_at, call.ended_by = now, by
    fields = ["state", "outcome", "end_reason", "ended_at", "ended_by"]
    if call.kind == Call.Kind.DIRECT:
        fields += missed.call_ended(call=call)
    else:
        _conference_event(call, live=False)
    _save(call, *fields)


# --- the sweep -------------------------------------------------------------------------------
def calls_sweep(*, now: datetime | None = None) -> dict[str, int]:
    """What timers in a server process that has gone would have done: ring deadlines, pages
    that never came back, conferences nobody is in. Safe to run at any time, repeatedly."""
    now = now or clock.now()
    grace = timedelta(seconds=settings.HONBU_CALL_RECONNECT_SECONDS)
    expired = sum(
        call_expire(call_id=pk, now=now)
        for pk in Call.objects.filter(state=Call.State.RINGING, ring_until__lte=now).values_list(
            "pk", flat=True
        )
    )
    dropped = sum(
        participant_lost_expire(leg_id=pk, channel=channel)
        for pk, channel in Participant.objects.filter(
            left_at__isnull=True, lost_at__lte=now - grace
        ).values_list("pk", "channel")
    )
    emptied = 0
    for call in Call.objects.filter(
        kind=Call.Kind.CONFERENCE, state=Call.State.ACTIVE, started_at__lte=now - grace
    ).exclude(pk__in=Participant.objects.filter(left_at__isnull=True).values("call_id")):
        with transaction.atomic():
            call = _locked(call)
            if (
                call.state != Call.State.ENDED
                and not call.participants.filter(left_at__isnull=True).exists()
            ):
                _end(call, outcome=Call.Outcome.COMPLETED, reason="empty", by=None, now=now)
                emptied += 1
    return {"expired": expired, "dropped": dropped, "emptied": emptied}
