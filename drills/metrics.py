"""What a run measured, read back from the public record: for each fired inject and each person
it reached, when it was delivered, read, acknowledged (了解) and first replied to, as latencies
from the inject; escalations to deputies; for a safety round the answer curve and who did not
answer; and whether each expected action was met, or missed and by how much."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Min
from django.utils.translation import gettext as _

from directory.models import OrgUnit
from messaging.models import Message, Receipt, StandIn
from notifications.models import Notification
from notifications.selectors import channels_for
from notifications.services import notification_new, notifications_create
from realtime import clock
from safety import selectors as safety_selectors
from safety.models import SafetyRequest

from .models import Run, RunInject

KIND_CALL = "drill_call"  # to the coordinator: "call X now" (a call to simulate)


def call_reminder(*, run: Run, text: str) -> None:
    """A phone call to simulate: the control cell is reminded to make it now."""
    user = run.started_by
    now = clock.now()
    notifications_create(
        notes=[
            notification_new(
                user=user,
                kind=KIND_CALL,
                channel=channel,
                created_at=now,
                detail=text[:300],
                data={"run": run.pk},
            )
            for channel in channels_for({user.pk}, urgent=True)[user.pk]
            if channel != Notification.Channel.EMAIL
        ]
    )


@dataclass
class Person:
    user_id: int
    name: str
    post: str
    unit: str
    top_unit: str
    delivered: float | None  # seconds after the inject fired
    read: float | None
    acked: float | None
    replied: float | None
    deputy: str = ""  # a deputy it was handed to, if the chase moved on
    employee_number: str = ""


@dataclass
class Expectation:
    check: str  # read / ack / reply / safety
    minutes: float
    percent: float | None
    met: bool
    detail: str
    late_by: list[float] = field(default_factory=list)  # seconds past the deadline, per miss


def _seconds(at: datetime | None, since: datetime | None) -> float | None:
    if at is None or since is None:
        return None
    return max(0.0, (at - since).total_seconds())


def people(ri: RunInject) -> list[Person]:
    """Everyone a message inject reached (observers are not expected to answer)."""
    if ri.message_id is None or ri.fired_at is None:
        return []
    message = ri.message
    replies = dict(
        Message.objects.filter(reply_to=message)
        .values("sender_id")
        .annotate(first=Min("created_at"))
        .values_list("sender_id", "first")
    )
    deputies = {
        s.chase.receipt.user_id: s.deputy.display_name()
        for s in StandIn.objects.filter(chase__message=message).select_related(
            "deputy__staff", "chase__receipt"
        )
    }
    rows = Receipt.objects.filter(message=message, observer=False).values_list(
        "user_id",
        "user__staff__employee_number",
        "user__staff__family_name",
        "user__staff__given_name",
        "post__name",
        "user__staff__unit__name",
        "user__staff__unit__path",
        "read_at",
        "acked_at",
    )
    tops = _top_units([r[6] for r in rows])
    out = []
    for uid, number, family, given, post, unit, path, read_at, acked_at in rows:
        out.append(
            Person(
                uid,
                f"{family} {given}" if family else str(uid),
                post or "",
                unit or "",
                tops.get(path or "", ""),
                _seconds(message.created_at, ri.fired_at),
                _seconds(read_at, ri.fired_at),
                _seconds(acked_at, ri.fired_at),
                _seconds(replies.get(uid), ri.fired_at),
                deputies.get(uid, ""),
                number or "",
            )
        )
    return out


def _top_id(path: str) -> int | None:
    """The bureau or ward of a unit path ("/1/7/42/" → 7); the city itself for its own
    staff ("/1/" → 1)."""
    parts = [p for p in (path or "").split("/") if p]
    if not parts:
        return None
    return int(parts[1] if len(parts) > 1 else parts[0])


def _top_units(paths: list[str]) -> dict[str, str]:
    """Each unit path's bureau or ward (the tree's first level below the city)."""
    ids = {i for i in map(_top_id, set(paths)) if i is not None}
    names = dict(OrgUnit.objects.filter(pk__in=ids).values_list("id", "name"))
    return {path or "": names.get(_top_id(path), "") for path in paths}


def last_deadline(ri: RunInject) -> datetime | None:
    if ri.inject is None or not ri.inject.expectations or ri.fired_at is None:
        return None
    scale = ri.run.speed or 1
    minutes = max(float(e.get("minutes", 0)) for e in ri.inject.expectations)
    return ri.fired_at + timedelta(minutes=minutes / scale)


def expectations(ri: RunInject, *, now: datetime | None = None) -> list[Expectation]:
    """Each expected action of the inject, met or missed (deadlines scale with the speed)."""
    if ri.inject is None or ri.fired_at is None:
        return []
    now = now or clock.now()
    scale = ri.run.speed or 1
    out = []
    crowd = people(ri)
    for spec in ri.inject.expectations or []:
        check = spec.get("check", "read")
        minutes = float(spec.get("minutes", 0))
        deadline = minutes * 60 / scale
        if check == "safety":
            percent = float(spec.get("percent", 0))
            got = safety_percent_at(ri, seconds=deadline)
            met = got is not None and got >= percent
            out.append(
                Expectation(
                    check, minutes, percent, met, _("%(got)s%% answered") % {"got": got or 0}
                )
            )
            continue
        posts = spec.get("posts") or []
        subjects = [p for p in crowd if not posts or p.post in posts]
        field_name = {"read": "read", "ack": "acked", "reply": "replied"}.get(check, "read")
        late = []
        for person in subjects:
            value = getattr(person, field_name)
            if value is None:
                waited = (now - ri.fired_at).total_seconds()
                late.append(max(0.0, waited - deadline) if waited > deadline else math.inf)
            elif value > deadline:
                late.append(value - deadline)
        met = not late and bool(subjects)
        detail = _("%(ok)s of %(n)s in time") % {
            "ok": len(subjects) - len(late),
            "n": len(subjects),
        }
        out.append(Expectation(check, minutes, None, met, detail, late))
    return out


def safety_percent_at(ri: RunInject, *, seconds: float) -> float | None:
    if ri.round_id is None:
        return None
    round_ = ri.round
    total = round_.total or 0
    if not total:
        return 0.0
    cutoff = round_.started_at + timedelta(seconds=seconds)
    answered = round_.requests.filter(first_answer_at__lte=cutoff).count()
    return round(100 * answered / total, 1)


def latency_summary(values: list[float | None]) -> dict[str, float | None]:
    got = sorted(v for v in values if v is not None)
    if not got:
        return {"n": 0, "p50": None, "p90": None, "max": None}
    p90 = got[min(len(got) - 1, math.ceil(0.9 * len(got)) - 1)]
    return {"n": len(got), "p50": statistics.median(got), "p90": p90, "max": got[-1]}


def safety_curve(ri: RunInject) -> dict[int, float | None]:
    if ri.round_id is None:
        return {}
    return safety_selectors.answer_curve(round_=ri.round, total=ri.round.total)


@dataclass
class Answer:
    """One person asked in a safety-round inject, and when they first answered."""

    staff_id: int
    employee_number: str
    name: str
    unit: str
    top_unit: str
    answered: float | None  # seconds after the round started


def safety_rows(ri: RunInject) -> list[Answer]:
    if ri.round_id is None:
        return []
    started = ri.round.started_at
    rows = list(
        SafetyRequest.objects.filter(round_id=ri.round_id)
        .order_by("staff_id")
        .values_list(
            "staff_id",
            "staff__employee_number",
            "staff__family_name",
            "staff__given_name",
            "unit__name",
            "unit__path",
            "first_answer_at",
        )
    )
    tops = _top_units([r[5] for r in rows])
    return [
        Answer(
            sid, number, f"{family} {given}", unit, tops.get(path or "", ""), _seconds(at, started)
        )
        for sid, number, family, given, unit, path, at in rows
    ]
