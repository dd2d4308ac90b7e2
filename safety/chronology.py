"""One chronology per incident: everything that happened while it was open, in time order —
the incident's own actions (declared, level, rounds, ended), every message in the command groups
(and each later version), reads, 了解, reminders and hand-overs to deputies, safety answers (own
and on behalf, every version), assembly check-ins, and what apps above register (calls). The
public record of the disaster.

Each source is read in time order by the database and the streams are merged (heapq), so an
export of 30,000 answers never holds them all at once."""

from __future__ import annotations

import heapq
import json
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from directory.exports import csv_lines
from messaging.models import MessageVersion, Receipt, StandIn
from notifications.models import Notification
from realtime import clock

from .models import CheckIn, Incident, SafetyAnswer

CSV_HEADER = ["at", "kind", "group", "who", "post", "text", "detail"]
CHUNK = 2000

# Streams from the apps above safety (calls: every call of the window), registered in their
# AppConfig.ready(): fn(start, end, exercise) yields rows shaped like the ones below —
# (at, order, tie-break id, kind, group, who, post, text, detail) — in time order.
Source = Callable[[datetime, datetime, str], Iterator[tuple]]
_sources: list[Source] = []

# What each kind of row is called on the page (exports keep the codes, which do not change).
LABELS: dict[str, str] = {
    "incident.declare": _("Disaster mode declared"),
    "incident.level": _("Level changed"),
    "incident.round_start": _("Safety confirmation started"),
    "incident.round_close": _("Safety confirmation closed"),
    "incident.end": _("Disaster mode ended"),
    "message.sent": _("Message"),
    "instruction.sent": _("Instruction"),
    "reply.sent": _("Reply"),
    "message.edit": _("Message edited"),
    "message.delete": _("Message deleted"),
    "read": _("Read"),
    "acknowledged": _("了解"),
    "stand_in": _("Handed to a deputy"),
    "safety.answer": _("Safety answer"),
    "safety.answer_on_behalf": _("Safety answer on someone's behalf"),
    "assembly.check_in": _("Arrived at an assembly place"),
}


def chronology_source(fn: Source, *, labels: dict[str, str] | None = None) -> Source:
    if fn not in _sources:
        _sources.append(fn)
    LABELS.update(labels or {})
    return fn


def kind_label(kind: str) -> str:
    if kind in LABELS:
        return str(LABELS[kind])
    if kind.startswith("notification."):
        return _("Notification (%(kind)s)") % {"kind": kind.removeprefix("notification.")}
    return kind


def _window(incident: Incident) -> tuple[datetime, datetime]:
    return incident.started_at, incident.ended_at or clock.now()


def _ts(value: datetime) -> str:
    return timezone.localtime(value).isoformat()


def _entries(incident: Incident) -> Iterator[tuple]:
    for e in incident.entries.select_related("actor").order_by("at", "id").iterator(CHUNK):
        who = e.actor.get_username() if e.actor_id else "system"
        yield (e.at, 0, e.pk, "incident." + e.action, "", who, "", "", e.data)


def _drill_q(exercise: str, field: str) -> Q:
    """Exercise traffic kept in ("all"), left out ("exclude") or alone ("only")."""
    if exercise == "exclude":
        return Q(**{field: False})
    if exercise == "only":
        return Q(**{field: True})
    return Q()


def _versions(start: datetime, end: datetime, exercise: str) -> Iterator[tuple]:
    qs = (
        MessageVersion.objects.filter(
            _drill_q(exercise, "message__exercise"), at__gte=start, at__lte=end
        )
        .select_related("message__group", "by")
        .order_by("at", "id")
    )
    for v in qs.iterator(CHUNK):
        m = v.message
        yield (
            v.at,
            1,
            v.pk,
            f"message.{v.action}" if v.action != "create" else f"{m.kind}.sent",
            m.group.name,
            v.by.get_username(),
            m.sender_post_name,
            v.body,
            {"seq": m.seq, "priority": m.priority, "version": v.version},
        )


def _receipts(start: datetime, end: datetime, exercise: str) -> Iterator[tuple]:
    def stream(field: str, kind: str) -> Iterator[tuple]:
        qs = (
            Receipt.objects.filter(
                _drill_q(exercise, "message__exercise"),
                **{f"{field}__gte": start, f"{field}__lte": end},
            )
            .order_by(field, "id")
            .values_list(field, "id", "group__name", "user__username", "post__name", "message__seq")
        )
        for at, rid, group, user, post, seq in qs.iterator(CHUNK):
            yield (at, 2, rid, kind, group, user, post or "", "", {"seq": seq})

    return heapq.merge(stream("read_at", "read"), stream("acked_at", "acknowledged"))


def _notifications(start: datetime, end: datetime) -> Iterator[tuple]:
    qs = (
        Notification.objects.filter(created_at__gte=start, created_at__lte=end)
        .select_related("user", "staff")
        .order_by("created_at", "id")
    )
    for n in qs.iterator(CHUNK):
        who = (
            n.user.get_username() if n.user_id else (n.staff.employee_number if n.staff_id else "")
        )
        yield (
            n.created_at,
            3,
            n.pk,
            f"notification.{n.kind}",
            "",
            who,
            "",
            n.detail,
            {"channel": n.channel, "status": n.status},
        )


def _stand_ins(start: datetime, end: datetime) -> Iterator[tuple]:
    qs = (
        StandIn.objects.filter(created_at__gte=start, created_at__lte=end)
        .select_related("deputy", "chase__post", "chase__message__group")
        .order_by("created_at", "id")
    )
    for s in qs.iterator(CHUNK):
        yield (
            s.created_at,
            4,
            s.pk,
            "stand_in",
            s.chase.message.group.name,
            s.deputy.get_username(),
            s.chase.post.name if s.chase.post_id else "",
            "",
            {"rank": s.rank, "seq": s.chase.message.seq},
        )


def _answers(incident: Incident, exercise: str) -> Iterator[tuple]:
    qs = (
        SafetyAnswer.objects.filter(_drill_q(exercise, "round__is_drill"), round__incident=incident)
        .select_related("request__staff", "entered_by")
        .order_by("at", "id")
    )
    for a in qs.iterator(CHUNK):
        yield (
            a.at,
            5,
            a.pk,
            "safety.answer" if not a.entered_by_id else "safety.answer_on_behalf",
            "",
            a.request.staff.employee_number,
            "",
            a.note,
            {
                "round": a.round_id,
                "values": a.values,
                "via": a.via,
                "entered_by": a.entered_by.get_username() if a.entered_by_id else "",
            },
        )


def _checkins(incident: Incident, exercise: str) -> Iterator[tuple]:
    qs = (
        CheckIn.objects.filter(_drill_q(exercise, "round__is_drill"), round__incident=incident)
        .select_related("request__staff", "place", "entered_by")
        .order_by("at", "id")
    )
    for c in qs.iterator(CHUNK):
        yield (
            c.at,
            6,
            c.pk,
            "assembly.check_in",
            "",
            c.request.staff.employee_number,
            "",
            c.place.name,
            {"entered_by": c.entered_by.get_username() if c.entered_by_id else ""},
        )


def chronology_entries(
    *, incident: Incident, limit: int | None = None, exercise: str = "all"
) -> Iterator[dict[str, Any]]:
    start, end = _window(incident)
    merged = heapq.merge(
        _entries(incident),
        _versions(start, end, exercise),
        _receipts(start, end, exercise),
        _notifications(start, end),
        _stand_ins(start, end),
        _answers(incident, exercise),
        _checkins(incident, exercise),
        *(source(start, end, exercise) for source in _sources),
        key=lambda row: (row[0], row[1], row[2]),
    )
    for n, (at, _order, _pk, kind, group, who, post, text, detail) in enumerate(merged):
        if limit is not None and n >= limit:
            return
        yield {
            "at": _ts(at),
            "kind": kind,
            "label": kind_label(kind),
            "group": group,
            "who": who,
            "post": post,
            "text": text,
            "detail": detail,
        }


def chronology_page(*, incident: Incident, exercise: str = "all", limit: int = 2000) -> list[dict]:
    """For the page: the entries with their time as a datetime and each account's name (one
    query for all of them); the exports keep the account, which does not change."""
    from directory.models import Staff, User

    entries = list(chronology_entries(incident=incident, limit=limit, exercise=exercise))
    who = {e["who"] for e in entries if e["who"]}
    # Accounts, or employee numbers for people without one (their safety answers).
    names = {s.employee_number: s.full_name for s in Staff.objects.filter(employee_number__in=who)}
    names.update(
        (u.get_username(), u.display_name())
        for u in User.objects.filter(username__in=who).select_related("staff")
    )
    names["system"] = str(_("Honbu (automatic)"))
    for e in entries:
        e["when"] = datetime.fromisoformat(e["at"])
        e["name"] = names.get(e["who"], e["who"])
    return entries


def chronology_csv(*, incident: Incident, exercise: str = "all") -> Iterator[str]:
    def rows():
        yield CSV_HEADER
        for e in chronology_entries(incident=incident, exercise=exercise):
            yield [
                e["at"],
                e["kind"],
                e["group"],
                e["who"],
                e["post"],
                e["text"],
                json.dumps(e["detail"], ensure_ascii=False) if e["detail"] else "",
            ]

    return csv_lines(rows())
