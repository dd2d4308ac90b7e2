"""Reads of calls, and who may do what with them (pages and socket handlers ask the same
functions). Someone who may not see a call learns nothing about it: every lookup answers
"not found" alike."""

from __future__ import annotations

from typing import Any

from django.db.models import Q
from django.urls import reverse

from directory.models import Staff, User
from messaging import selectors as messaging
from messaging.models import CommandGroup, GroupMembership

from .models import Call, Participant


def _iso(value) -> str | None:
    return value.isoformat() if value else None


# --- permissions ---------------------------------------------------------------------------
def _active(user: User) -> bool:
    return bool(user and user.is_authenticated and user.is_active)


def user_can_see_call(*, user: User, call: Call) -> bool:
    """One-to-one: the two people. Conference: the group's members (observers too)."""
    if not _active(user):
        return False
    if call.kind == Call.Kind.DIRECT:
        return user.pk in (call.caller_id, call.callee_id)
    return messaging.user_group_role(user=user, group=call.group) is not None


def call_for_user(*, user: User, call_id: int) -> Call | None:
    call = Call.objects.select_related("group").filter(pk=call_id).first()
    if call is None or not user_can_see_call(user=user, call=call):
        return None
    return call


def conference_role(*, user: User, group: CommandGroup) -> str | None:
    """The person's role in a group that can hold conferences (not one-to-one ones)."""
    if group.kind == CommandGroup.Kind.DIRECT or not group.is_active:
        return None
    return messaging.user_group_role(user=user, group=group)


def user_can_start_conference(*, user: User, group: CommandGroup) -> bool:
    return conference_role(user=user, group=group) == GroupMembership.Role.COMMANDER


def user_can_moderate(*, user: User, call: Call) -> bool:
    """Mute others and end the conference for all: the group's commanders."""
    return call.kind == Call.Kind.CONFERENCE and user_can_start_conference(
        user=user, group=call.group
    )


def user_can_call(*, user: User, staff: Staff) -> bool:
    """Someone else with an active account (the profile and chat pages ask before showing the
    button; the service asks again)."""
    mine = getattr(user, "staff", None) if _active(user) else None
    return bool(
        mine is not None
        and staff.pk != mine.pk
        and staff.is_active
        and staff.user_id is not None
        and User.objects.filter(pk=staff.user_id, is_active=True).exists()
    )


def user_is_busy(*, user_id: int, exclude_call: int | None = None) -> bool:
    """In a call: a leg not yet left (ringing to them, or joined) of a call still going."""
    legs = Participant.objects.filter(user_id=user_id, left_at__isnull=True).exclude(
        call__state=Call.State.ENDED
    )
    if exclude_call is not None:
        legs = legs.exclude(call_id=exclude_call)
    return legs.exists()


def live_conference(*, group: CommandGroup) -> Call | None:
    return (
        Call.objects.filter(group=group, kind=Call.Kind.CONFERENCE)
        .exclude(state=Call.State.ENDED)
        .first()
    )


def live_conferences(*, group_ids: list[int]) -> dict[int, Call]:
    """Running conferences of these groups, by group (one query: the group list, a banner)."""
    return {
        c.group_id: c
        for c in Call.objects.filter(group_id__in=group_ids, kind=Call.Kind.CONFERENCE).exclude(
            state=Call.State.ENDED
        )
    }


def live_legs(*, call: Call) -> list[Participant]:
    return list(call.participants.filter(left_at__isnull=True).order_by("id"))


def my_live_leg(*, call: Call, user: User) -> Participant | None:
    return call.participants.filter(user=user, left_at__isnull=True).first()


def other_party(*, call: Call, user: User) -> Staff | None:
    """The other person of a one-to-one call (for "call back")."""
    other = call.callee_id if call.caller_id == user.pk else call.caller_id
    return Staff.objects.filter(user_id=other).first() if other else None


# --- signalling ----------------------------------------------------------------------------
def signal_route(*, call_id: int, channel: str, to_leg: int) -> tuple[int, int, str] | None:
    """The sender's leg (the one bound to this very socket: its id and epoch) and the target
    leg's socket, when both are joined legs of the same call still going; None for anyone else
    (a stranger, another page of the same person, a leg that left, a call that ended: ending a
    call ends all its legs). One small query per frame, no join: it runs for every candidate."""
    rows = Participant.objects.filter(
        call_id=call_id, left_at__isnull=True, joined_at__isnull=False
    ).values_list("pk", "channel", "epoch")
    mine = target = None
    for pk, leg_channel, epoch in rows:
        if leg_channel and leg_channel == channel:
            mine = (pk, epoch)
        if pk == to_leg and leg_channel:
            target = leg_channel
    if mine is None or target is None or mine[0] == to_leg:
        return None
    return mine[0], mine[1], target


# --- what pages show -------------------------------------------------------------------------
def leg_payload(leg: Participant, names: dict[int, str]) -> dict[str, Any]:
    return {
        "id": leg.pk,
        "user": leg.user_id,
        "name": leg.name,
        "post": leg.post_name,
        "role": leg.role,
        "joined_at": _iso(leg.joined_at),
        "bound": bool(leg.channel) and leg.joined_at is not None,
        "lost": leg.lost_at is not None,
        "epoch": leg.epoch,
        "muted": leg.muted,
        "muted_by": names.get(leg.muted_by_id, "") if leg.muted_by_id else "",
    }


def call_payload(call: Call) -> dict[str, Any]:
    """The call as every page of it shows it (the same for everyone: serialised once)."""
    legs = list(call.participants.filter(left_at__isnull=True).order_by("id"))
    muters = {leg.muted_by_id for leg in legs if leg.muted_by_id}
    names = {
        u.pk: u.display_name() for u in User.objects.filter(pk__in=muters).select_related("staff")
    }
    return {
        "call": call.pk,
        "kind": call.kind,
        "version": call.version,
        "state": call.state,
        "outcome": call.outcome,
        "end_reason": call.end_reason,
        "group": call.group_id,
        "group_name": call.group.name if call.kind == Call.Kind.CONFERENCE else "",
        "caller": {"user": call.caller_id, "name": call.caller_name, "post": call.caller_post_name},
        "callee": (
            {"user": call.callee_id, "name": call.callee_name, "post": call.callee_post_name}
            if call.callee_id
            else None
        ),
        "started_at": _iso(call.started_at),
        "ring_until": _iso(call.ring_until),
        "answered_at": _iso(call.answered_at),
        "ended_at": _iso(call.ended_at),
        "duration": call.duration_seconds,
        "legs": [leg_payload(leg, names) for leg in legs],
    }


def call_url(call: Call) -> str:
    return reverse("calls:call_detail", args=[call.pk])


def user_recent_calls(*, user: User, limit: int = 50) -> list[Call]:
    """Calls the person took part in or was called in, newest first."""
    ids = Participant.objects.filter(user=user).values("call_id")
    return list(
        Call.objects.filter(Q(pk__in=ids) | Q(callee=user))
        .select_related("group")
        .order_by("-started_at", "-id")[:limit]
    )


def group_calls(*, group: CommandGroup, limit: int = 100) -> list[Call]:
    return list(
        Call.objects.filter(group=group)
        .prefetch_related("participants")
        .order_by("-started_at", "-id")[:limit]
    )
