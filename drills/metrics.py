"""What a run measured, read back from the public record: for each fired inject and each person
it reached, when it was delivered, read, acknowledged (了解) and first replied to, as latencies
from the inject; escalations to deputies; for a safety round the answer curve and who did not
answer; and whether each expected action was met, or missed and by how much."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import FloatField, Func, Min
from django.utils.translation import gettext as _

from directory.models import OrgUnit, Staff
from messaging.models import Message, Receipt, StandIn
from notifications.models import Notification
from notifications.selectors import channels_for
from notifications.services import notification_new, notifications_create
from realtime import clock
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


class Epoch(Func):
    """A timestamp as seconds since 1970 (a float) computed by the database: the report reads
    tens of thousands of times, and a float costs far less to read than a timestamp to parse
    (PostgreSQL and SQLite, the two databases Honbu runs on)."""

    output_field = FloatField()

    def as_postgresql(self, compiler, connection, **extra):
        template = "EXTRACT(EPOCH FROM %(expressions)s)::double precision"
        return self.as_sql(compiler, connection, template=template, **extra)

    def as_sqlite(self, compiler, connection, **extra):
        # Django stores "YYYY-MM-DD HH:MM:SS[.ffffff]" in UTC; SQLite's own date functions keep
        # only milliseconds, so the fraction is read from the text (the column appears twice:
        # only for column references and aggregates of them, which take no parameters). '%%%%s'
        # is strftime's %s once through this template and the driver's parameter style.
        template = (
            "(CAST(strftime('%%%%s', %(expressions)s) AS REAL)"
            " + CAST('0' || substr(%(expressions)s, 20) AS REAL))"
        )
        return self.as_sql(compiler, connection, template=template, **extra)


def _since(epoch: float | None, start: float) -> float | None:
    """Seconds from ``start`` (epoch seconds) to ``epoch``, to the microsecond like the
    timestamps themselves; None stays None."""
    if epoch is None:
        return None
    return max(0.0, round(epoch - start, 6))


def _seconds(at: datetime | None, since: datetime | None) -> float | None:
    if at is None or since is None:
        return None
    return max(0.0, (at - since).total_seconds())


def people(ri: RunInject) -> list[Person]:
    """Everyone a message inject reached (observers are not expected to answer)."""
    return people_by_inject([ri]).get(ri.pk, [])


def people_by_inject(ris: list[RunInject]) -> dict[int, list[Person]]:
    """``people`` for many injects at once, in four queries however many there are (the
    receipts, the first replies, the hand-overs to deputies, the bureaus and wards): the
    report of a 50-inject run read them inject by inject in ~450 queries."""
    fired = {ri.message_id: ri for ri in ris if ri.message_id and ri.fired_at}
    if not fired:
        return {}
    ids = list(fired)
    replies = {
        (reply_to, sender): first
        for reply_to, sender, first in Message.objects.filter(reply_to_id__in=ids)
        .values("reply_to_id", "sender_id")
        .annotate(first=Epoch(Min("created_at")))
        .values_list("reply_to_id", "sender_id", "first")
    }
    handed = {
        (message_id, user_id): deputy_id
        for message_id, user_id, deputy_id in StandIn.objects.filter(chase__message_id__in=ids)
        .order_by("rank")
        .values_list("chase__message_id", "chase__receipt__user_id", "deputy_id")
    }
    deputy_names = names(set(handed.values()))
    rows = list(
        Receipt.objects.filter(message_id__in=ids, observer=False)
        .order_by("message_id", "id")
        .values_list(
            "message_id",
            Epoch("message__created_at"),
            "user_id",
            "user__staff__employee_number",
            "user__staff__family_name",
            "user__staff__given_name",
            "post__name",
            "user__staff__unit__name",
            "user__staff__unit__path",
            Epoch("read_at"),
            Epoch("acked_at"),
        )
    )
    # A run of part of the city counts only its people (Run.units).
    taking_part: dict[int, list[str]] = {}
    for run_id, path in Run.units.through.objects.filter(
        run_id__in={ri.run_id for ri in fired.values()}
    ).values_list("run_id", "orgunit__path"):
        taking_part.setdefault(run_id, []).append(path)
    rows = [
        r
        for r in rows
        if fired[r[0]].run_id not in taking_part
        or (r[8] or "").startswith(tuple(taking_part[fired[r[0]].run_id]))
    ]
    tops = _top_units([r[8] for r in rows])
    starts = {mid: ri.fired_at.timestamp() for mid, ri in fired.items()}
    out: dict[int, list[Person]] = {ri.pk: [] for ri in fired.values()}
    for mid, sent, uid, number, family, given, post, unit, path, read_at, acked_at in rows:
        start = starts[mid]
        deputy = handed.get((mid, uid))
        out[fired[mid].pk].append(
            Person(
                uid,
                f"{family} {given}" if family else str(uid),
                post or "",
                unit or "",
                tops.get(path or "", ""),
                _since(sent, start),
                _since(read_at, start),
                _since(acked_at, start),
                _since(replies.get((mid, uid)), start),
                deputy_names.get(deputy, "") if deputy else "",
                number or "",
            )
        )
    return out


def names(user_ids: set[int]) -> dict[int, str]:
    """People's names by user id, in a query of their own: joining staff twice into a larger
    query (holder and deputy) made PostgreSQL misjudge it by a factor of 20,000 and spend
    0.6 s compiling it with JIT (docs/benchmarks.md, "Drills")."""
    if not user_ids:
        return {}
    return {
        uid: f"{family} {given}"
        for uid, family, given in Staff.objects.filter(user_id__in=user_ids).values_list(
            "user_id", "family_name", "given_name"
        )
    }


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


def expectations(
    ri: RunInject,
    *,
    now: datetime | None = None,
    crowd: list[Person] | None = None,
    answers: list[float] | None = None,
) -> list[Expectation]:
    """Each expected action of the inject, met or missed (deadlines scale with the speed).
    ``crowd`` (its people) and ``answers`` (its round's answer times) when the caller has
    them already; else they are read here."""
    if ri.inject is None or ri.fired_at is None:
        return []
    now = now or clock.now()
    scale = ri.run.speed or 1
    out = []
    if crowd is None:
        crowd = people(ri)
    for spec in ri.inject.expectations or []:
        check = spec.get("check", "read")
        minutes = float(spec.get("minutes", 0))
        deadline = minutes * 60 / scale
        if check == "safety":
            percent = float(spec.get("percent", 0))
            if answers is None:
                got = safety_percent_at(ri, seconds=deadline)
            else:
                got = percent_within(answers, ri.round.total if ri.round_id else 0, deadline)
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


def percent_within(answers: list[float], total: int, seconds: float) -> float | None:
    """The share who had answered within ``seconds`` of the round's start (answers: each
    first answer's seconds from the start)."""
    if not total:
        return 0.0
    return round(100 * sum(1 for a in answers if a <= seconds) / total, 1)


def answer_times(ri: RunInject) -> list[float]:
    """Seconds from the round's start to each first answer, in order (one query)."""
    if ri.round_id is None:
        return []
    start = ri.round.started_at.timestamp()
    return [
        _since(epoch, start)
        for epoch in SafetyRequest.objects.filter(
            round_id=ri.round_id, first_answer_at__isnull=False
        )
        .order_by("first_answer_at")
        .values_list(Epoch("first_answer_at"), flat=True)
    ]


def curve(answers: list[float], total: int) -> dict[int, float | None]:
    """Minutes until 25, 50, 75 and 90 % had answered (None: not yet), from sorted answer
    times — the same figures as safety.selectors.answer_curve, without reading them again."""
    out: dict[int, float | None] = {}
    for percent in (25, 50, 75, 90):
        needed = math.ceil(total * percent / 100) if total else 0
        out[percent] = (
            round(answers[needed - 1] / 60, 1) if needed and len(answers) >= needed else None
        )
    return out


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
