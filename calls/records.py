"""The calls chronology for administrators: every call (who called whom, or which group's
conference), when it rang, was answered and ended, how it ended, and each participant's join
and leave times, with the notifications it caused. As a page, CSV and JSON; the CSV has the
columns of the incident chronology (safety/chronology.py: at, kind, group, who, post, text,
detail), one row per event in time order, so a disaster's record can be read side by side.
``?incident=<id>`` takes the incident's time window. No audio exists to export: none is
recorded. Every CSV cell goes through directory.exports.safe_cell (csv_lines)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from django.db.models import Q
from django.http import QueryDict
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.translation import gettext_lazy

from directory.exports import csv_lines
from notifications.models import Notification
from realtime import clock
from safety.models import Incident

from .missed import duration_text
from .models import Call, Participant

CSV_HEADER = ["at", "kind", "group", "who", "post", "text", "detail"]
PAGE_LIMIT = 500
# How the incident's chronology page names the rows calls add to it.
LABELS = {
    "call.started": gettext_lazy("Call started"),
    "call.answered": gettext_lazy("Call answered"),
    "call.joined": gettext_lazy("Joined the conference"),
    "call.left": gettext_lazy("Left the conference"),
    "call.ended": gettext_lazy("Call ended"),
}


@dataclass(frozen=True)
class Filters:
    since: datetime | None = None
    until: datetime | None = None
    group_id: int | None = None
    incident: Incident | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "from": self.since.isoformat() if self.since else None,
            "to": self.until.isoformat() if self.until else None,
            "group": self.group_id,
            "incident": self.incident.pk if self.incident else None,
        }


def _day(value: str | None, *, end: bool = False) -> datetime | None:
    day = parse_date(value or "") if value else None
    if day is None:
        return None
    start = timezone.make_aware(datetime.combine(day, time.min))
    return start + timedelta(days=1) if end else start


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


def filters_from(query: QueryDict) -> Filters:
    """?from=YYYY-MM-DD&to=YYYY-MM-DD (inclusive), ?group=<id>, ?incident=<id> (its window)."""
    incident_id = _int(query.get("incident"))
    incident = Incident.objects.filter(pk=incident_id).first() if incident_id else None
    since, until = _day(query.get("from")), _day(query.get("to"), end=True)
    if incident is not None:
        since, until = incident.started_at, incident.ended_at or clock.now()
    return Filters(since=since, until=until, group_id=_int(query.get("group")), incident=incident)


def recent_incidents() -> list[Incident]:
    return list(Incident.objects.order_by("-started_at")[:20])


def _calls(filters: Filters):
    qs = Call.objects.select_related("group", "caller", "callee", "ended_by", "record_message")
    if filters.since is not None:
        qs = qs.filter(Q(ended_at__isnull=True) | Q(ended_at__gte=filters.since))
    if filters.until is not None:
        qs = qs.filter(started_at__lt=filters.until)
    if filters.group_id is not None:
        qs = qs.filter(group_id=filters.group_id)
    return qs


def calls_chronology(*, filters: Filters, limit: int = PAGE_LIMIT) -> list[Call]:
    """For the page: the newest calls first, with their participants."""
    return list(_calls(filters).prefetch_related("participants").order_by("-started_at")[:limit])


def _ts(value: datetime | None) -> str:
    return timezone.localtime(value).isoformat() if value else ""


def _account(user) -> str:
    return user.get_username() if user is not None else ""


def calls_json(*, filters: Filters) -> list[dict[str, Any]]:
    calls = list(_calls(filters).order_by("started_at", "id"))
    legs: dict[int, list[Participant]] = {}
    for leg in (
        Participant.objects.filter(call__in=[c.pk for c in calls])
        .select_related("user", "muted_by")
        .order_by("call_id", "id")
    ):
        legs.setdefault(leg.call_id, []).append(leg)
    notes: dict[int, list[Notification]] = {}
    for n in (
        Notification.objects.filter(call__in=[c.pk for c in calls])
        .select_related("user")
        .order_by("subject_id", "created_at", "id")
    ):
        notes.setdefault(n.subject_id, []).append(n)
    return [
        {
            "id": c.pk,
            "kind": c.kind,
            "group": {"id": c.group_id, "name": c.group.name, "kind": c.group.kind},
            "caller": {
                "account": _account(c.caller),
                "name": c.caller_name,
                "post": c.caller_post_name,
            },
            "callee": (
                {"account": _account(c.callee), "name": c.callee_name, "post": c.callee_post_name}
                if c.callee_id
                else None
            ),
            "started_at": _ts(c.started_at),
            "ring_until": _ts(c.ring_until),
            "answered_at": _ts(c.answered_at),
            "ended_at": _ts(c.ended_at),
            "duration_seconds": c.duration_seconds,
            "state": c.state,
            "outcome": c.outcome,
            "end_reason": c.end_reason,
            "ended_by": _account(c.ended_by),
            "conversation_message_seq": c.record_message.seq if c.record_message else None,
            "escalation_message_id": c.escalation_message_id,
            "participants": [
                {
                    "account": _account(p.user),
                    "name": p.name,
                    "post": p.post_name,
                    "role": p.role,
                    "joined_at": _ts(p.joined_at),
                    "left_at": _ts(p.left_at),
                    "left_reason": p.left_reason,
                    "seconds": p.duration_seconds,
                    "muted_by": _account(p.muted_by),
                }
                for p in legs.get(c.pk, [])
            ],
            "notifications": [
                {
                    "at": _ts(n.created_at),
                    "kind": n.kind,
                    "channel": n.channel,
                    "to": _account(n.user),
                    "status": n.status,
                }
                for n in notes.get(c.pk, [])
            ],
        }
        for c in calls
    ]


def _events(entry: dict[str, Any]) -> Iterator[tuple[str, list[Any]]]:
    group = entry["group"]["name"]
    caller = entry["caller"]
    callee = entry["callee"]
    who = f"{caller['name']} → {callee['name']}" if callee else f"{caller['name']} → {group}"
    yield (
        entry["started_at"],
        ["call.started", group, caller["account"], caller["post"], who, entry["kind"]],
    )
    if entry["answered_at"] and callee:
        yield (
            entry["answered_at"],
            ["call.answered", group, callee["account"], callee["post"], who, ""],
        )
    for p in entry["participants"]:
        if p["joined_at"] and entry["kind"] == Call.Kind.CONFERENCE:
            yield (
                p["joined_at"],
                ["call.joined", group, p["account"], p["post"], p["name"], p["role"]],
            )
        if p["left_at"] and p["joined_at"] and entry["kind"] == Call.Kind.CONFERENCE:
            detail = f"{p['left_reason']} {duration_text(p['seconds'])}".strip()
            yield (p["left_at"], ["call.left", group, p["account"], p["post"], p["name"], detail])
    for n in entry["notifications"]:
        yield (
            n["at"],
            [f"notification.{n['kind']}", group, n["to"], "", n["channel"], n["status"]],
        )
    if entry["ended_at"]:
        seconds = entry["duration_seconds"]
        text = duration_text(seconds) if seconds is not None else ""
        yield (
            entry["ended_at"],
            [
                "call.ended",
                group,
                entry["ended_by"],
                "",
                f"{who} {text}".strip(),
                f"{entry['outcome']} ({entry['end_reason']})",
            ],
        )


def calls_csv_rows(*, filters: Filters) -> Iterator[list[Any]]:
    yield CSV_HEADER
    rows = [(at, cells) for entry in calls_json(filters=filters) for at, cells in _events(entry)]
    for at, cells in sorted(rows, key=lambda row: datetime.fromisoformat(row[0])):
        yield [at, *cells]


def calls_csv(*, filters: Filters) -> str:
    """With a BOM (Excel in Japan); cells a spreadsheet would run as formulas made literal."""
    return "".join(csv_lines(calls_csv_rows(filters=filters)))


def incident_rows(start: datetime, end: datetime, exercise: str) -> Iterator[tuple]:
    """The calls of an incident's window for its chronology (safety.chronology): started,
    answered, joined, left, ended — in time order. Their notifications are already there (the
    chronology lists every notification). Calls are never exercise traffic."""
    if exercise == "only":
        return
    rows = []
    for entry in calls_json(filters=Filters(since=start, until=end)):
        for at, cells in _events(entry):
            if cells[0].startswith("notification."):
                continue
            when = datetime.fromisoformat(at)
            if start <= when <= end:
                kind, group, who, post, text, detail = cells
                note = {"call": entry["id"], "detail": detail} if detail else {"call": entry["id"]}
                rows.append((when, 7, entry["id"], kind, group, who, post, text, note))
    rows.sort(key=lambda row: (row[0], row[2]))
    yield from rows
