"""Escalation as the sender sees it: where each member stands with an instruction, the
timeline of reminders and hand-overs, and what waits for a person (stand-ins, 了解)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from directory.models import User
from notifications.models import Notification

from ..models import Chase, Message, Receipt, StandIn


@dataclass
class ChaseRow:
    """One addressed member of an instruction, as the sender sees them."""

    name: str
    post: str
    unit: str
    read_at: datetime | None
    acked_at: datetime | None
    reminders: int
    deputy: str  # the deputy now holding it ("" if none)
    deputy_rank: int
    state: str  # active / covered / unreached / cancelled, or "" when not chased
    covered_by: str
    status: str  # a single word for the UI: acked, read, escalated, reminded, unreached, waiting

    def as_json(self) -> dict:
        return {
            k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in self.__dict__.items()
        }


def _chase_status(
    *,
    message: Message,
    user_id: int,
    read_at,
    acked_at,
    state: str,
    covered_by_id: int | None,
    reminders: int,
    stand_in: bool,
) -> str:
    """One word for where a member stands with an instruction (the order of the checks is
    the precedence)."""
    if acked_at:
        return "acked"
    if state == "covered" and covered_by_id != user_id:
        return "covered"
    if read_at and not (state == "active" and message.requires_ack):
        return "read"
    if state == "unreached":
        return "unreached"
    if stand_in:
        return "escalated"
    if reminders:
        return "reminded"
    return "read" if read_at else "waiting"


CHASE_ORDER = {
    "unreached": 0,
    "escalated": 1,
    "reminded": 2,
    "waiting": 3,
    "read": 4,
    "covered": 5,
    "acked": 6,
}


def chase_rows(*, message: Message) -> list[ChaseRow]:
    receipts = list(
        Receipt.objects.filter(message=message, observer=False).select_related(
            "user__staff__unit", "post"
        )
    )
    chases = {
        c.receipt_id: c
        for c in Chase.objects.filter(message=message).select_related("covered_by__staff")
    }
    deputies = {}
    for s in (
        StandIn.objects.filter(chase__message=message)
        .select_related("deputy__staff")
        .order_by("rank")
    ):
        deputies[s.chase_id] = s  # the highest rank engaged so far wins
    rows = []
    for r in receipts:
        staff = getattr(r.user, "staff", None)
        chase = chases.get(r.pk)
        stand_in = deputies.get(chase.pk) if chase else None
        status = _chase_status(
            message=message,
            user_id=r.user_id,
            read_at=r.read_at,
            acked_at=r.acked_at,
            state=chase.state if chase else "",
            covered_by_id=chase.covered_by_id if chase else None,
            reminders=chase.reminders if chase else 0,
            stand_in=stand_in is not None,
        )
        rows.append(
            ChaseRow(
                name=staff.full_name if staff else r.user.get_username(),
                post=r.post.name if r.post else "",
                unit=staff.unit.name if staff else "",
                read_at=r.read_at,
                acked_at=r.acked_at,
                reminders=chase.reminders if chase else 0,
                deputy=stand_in.deputy.display_name() if stand_in else "",
                deputy_rank=stand_in.rank if stand_in else 0,
                state=chase.state if chase else "",
                covered_by=chase.covered_by.display_name() if chase and chase.covered_by_id else "",
                status=status,
            )
        )
    rows.sort(key=lambda row: (CHASE_ORDER[row.status], row.post == "", row.post, row.name))
    return rows


def chase_summary(*, message: Message) -> dict[str, int]:
    """How many members are in each status, and how many are chased at all: what the chat
    card shows. Plain values, no names: a commander's phone re-asks on every chase change
    during a storm, and the full list of a 2,000-member group is ~200 KB."""
    engaged = set(StandIn.objects.filter(chase__message=message).values_list("chase_id", flat=True))
    out = dict.fromkeys(CHASE_ORDER, 0) | {"chased": 0}
    for (
        user_id,
        read_at,
        acked_at,
        chase_id,
        state,
        covered_by_id,
        reminders,
    ) in Receipt.objects.filter(message=message, observer=False).values_list(
        "user_id",
        "read_at",
        "acked_at",
        "chase__id",
        "chase__state",
        "chase__covered_by_id",
        "chase__reminders",
    ):
        out[
            _chase_status(
                message=message,
                user_id=user_id,
                read_at=read_at,
                acked_at=acked_at,
                state=state or "",
                covered_by_id=covered_by_id,
                reminders=reminders or 0,
                stand_in=chase_id in engaged,
            )
        ] += 1
        out["chased"] += bool(state)
    return out


def chase_timeline(*, message: Message):
    """Every reminder, escalation and report sent for the instruction: who, channel, when."""
    return list(
        Notification.objects.filter(message=message)
        .select_related("user__staff")
        .order_by("created_at", "id")
    )


def chase_timeline_json(*, message: Message) -> list[dict]:
    return [
        {
            "at": n.created_at.isoformat(),
            "kind": n.kind,
            "channel": n.channel,
            "to": n.user.display_name(),
            "status": n.status,
            "detail": n.detail,
        }
        for n in chase_timeline(message=message)
    ]


def user_stand_ins(*, user: User, open_only: bool = True):
    qs = (
        StandIn.objects.filter(deputy=user)
        .select_related("chase__message__group", "chase__post", "chase__receipt__user__staff")
        .order_by("-created_at")
    )
    if open_only:
        qs = qs.filter(chase__state="active")
    return list(qs[:50])


def user_waiting_instructions(*, user: User, limit: int = 20) -> list[Receipt]:
    """Instructions addressed to the user that still ask for their acknowledgement: real ones
    first (a drill's never push a real one down the list), newest first within each."""
    return list(
        Receipt.objects.filter(
            user=user,
            acked_at__isnull=True,
            message__requires_ack=True,
            message__deleted_at__isnull=True,
        )
        .select_related("message__group")
        .order_by("message__exercise", "-message__created_at")[:limit]
    )
