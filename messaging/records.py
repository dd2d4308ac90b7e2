"""The public record: a group's chronology (クロノロジー) for administrators, as CSV and JSON.
Every message with all its versions, and per message each recipient's read and
acknowledgement times. Viewing and exporting are themselves audited (see views)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db.models import F, Q
from django.utils import timezone

from directory.exports import csv_lines
from notifications.models import Notification

from .models import CommandGroup, Message, MessageVersion, Receipt, StandIn


def _ts(value) -> str:
    return timezone.localtime(value).isoformat() if value else ""


EXERCISE_FILTERS = ("all", "exclude", "only")


def _exercise_q(exercise: str, prefix: str = "") -> Q:
    """Exercise traffic (drills) kept in, left out, or alone."""
    if exercise == "exclude":
        return Q(**{f"{prefix}exercise": False})
    if exercise == "only":
        return Q(**{f"{prefix}exercise": True})
    return Q()


def chronology(*, group: CommandGroup, exercise: str = "all") -> list[dict[str, Any]]:
    messages = list(
        Message.objects.filter(_exercise_q(exercise), group=group)
        .order_by("seq")
        .select_related("reply_to")
    )
    versions: dict[int, list] = {}
    for v in (
        MessageVersion.objects.filter(message__group=group)
        .select_related("by")
        .order_by("message_id", "version")
    ):
        versions.setdefault(v.message_id, []).append(v)
    receipts: dict[int, list] = {}
    # Unread (NULL read_at) last on every database: SQLite sorts NULLs first, PostgreSQL last.
    for r in (
        Receipt.objects.filter(group=group)
        .select_related("user__staff", "post")
        .order_by("message_id", F("read_at").asc(nulls_last=True), "user_id")
    ):
        receipts.setdefault(r.message_id, []).append(r)
    timeline: dict[int, list] = {}
    for n in (
        Notification.objects.filter(message__group=group)
        .select_related("user")
        .order_by("subject_id", "created_at", "id")
    ):
        timeline.setdefault(n.subject_id, []).append(n)
    stand_ins: dict[int, list] = {}
    for s in (
        StandIn.objects.filter(chase__message__group=group)
        .select_related("deputy", "chase__post", "chase__receipt__user")
        .order_by("chase__message_id", "created_at")
    ):
        stand_ins.setdefault(s.chase.message_id, []).append(s)
    out = []
    for m in messages:
        out.append(
            {
                "seq": m.seq,
                "id": m.pk,
                "sent_at": _ts(m.created_at),
                "sender": m.sender_name,
                "sender_account": m.sender.get_username() if hasattr(m, "sender") else "",
                "sender_post": m.sender_post_name,
                "kind": m.kind,
                "priority": m.priority,
                "requires_ack": m.requires_ack,
                "exercise": m.exercise,
                "reply_to_seq": m.reply_to.seq if m.reply_to else None,
                "text": m.body,
                "edited_at": _ts(m.edited_at),
                "deleted_at": _ts(m.deleted_at),
                "versions": [
                    {
                        "version": v.version,
                        "action": v.action,
                        "text": v.body,
                        "by": v.by.get_username(),
                        "at": _ts(v.at),
                    }
                    for v in versions.get(m.pk, [])
                ],
                "receipts": [
                    {
                        "account": r.user.get_username(),
                        "name": r.user.staff.full_name if hasattr(r.user, "staff") else "",
                        "post": r.post.name if r.post else "",
                        "read_at": _ts(r.read_at),
                        "acked_at": _ts(r.acked_at),
                    }
                    for r in receipts.get(m.pk, [])
                ],
                "escalation_policy": m.escalation,
                "escalation": [
                    {
                        "at": _ts(n.created_at),
                        "kind": n.kind,
                        "channel": n.channel,
                        "to": n.user.get_username(),
                        "status": n.status,
                        "detail": n.detail,
                    }
                    for n in timeline.get(m.pk, [])
                ],
                "stand_ins": [
                    {
                        "deputy": s.deputy.get_username(),
                        "rank": s.rank,
                        "for": s.chase.receipt.user.get_username(),
                        "post": s.chase.post.name if s.chase.post else "",
                        "handed_at": _ts(s.created_at),
                        "read_at": _ts(s.read_at),
                        "acked_at": _ts(s.acked_at),
                    }
                    for s in stand_ins.get(m.pk, [])
                ],
            }
        )
    return out


CSV_HEADER = [
    "seq",
    "sent_at",
    "sender",
    "sender_post",
    "kind",
    "priority",
    "requires_ack",
    "reply_to_seq",
    "event",
    "version",
    "at",
    "by",
    "text",
    "recipient",
    "recipient_post",
]


def chronology_csv_rows(*, group: CommandGroup, exercise: str = "all") -> Iterator[list[str]]:
    """One row per event, in message order: each version, then each read and acknowledgement."""
    yield CSV_HEADER
    for m in chronology(group=group, exercise=exercise):
        base = [
            m["seq"],
            m["sent_at"],
            m["sender"],
            m["sender_post"],
            m["kind"],
            m["priority"],
            m["requires_ack"],
            m["reply_to_seq"] or "",
        ]
        for v in m["versions"]:
            yield base + [v["action"], v["version"], v["at"], v["by"], v["text"], "", ""]
        for n in m["escalation"]:
            yield base + [n["kind"], "", n["at"], "", n["detail"], n["to"], n["channel"]]
        for s in m["stand_ins"]:
            yield base + [
                "stand_in",
                s["rank"],
                s["handed_at"],
                s["for"],
                "",
                s["deputy"],
                s["post"],
            ]
            if s["acked_at"]:
                yield base + [
                    "acknowledged_for_post",
                    s["rank"],
                    s["acked_at"],
                    s["for"],
                    "",
                    s["deputy"],
                    s["post"],
                ]
        for r in m["receipts"]:
            if r["read_at"]:
                yield base + ["read", "", r["read_at"], r["account"], "", r["name"], r["post"]]
            if r["acked_at"]:
                yield base + [
                    "acknowledged",
                    "",
                    r["acked_at"],
                    r["account"],
                    "",
                    r["name"],
                    r["post"],
                ]
            if not r["read_at"]:
                yield base + ["unread", "", "", r["account"], "", r["name"], r["post"]]


def chronology_csv(*, group: CommandGroup, exercise: str = "all") -> str:
    """The CSV with a BOM (Excel in Japan opens UTF-8 correctly); cells that a spreadsheet
    would run as formulas are made literal (directory/exports.py)."""
    return "".join(csv_lines(chronology_csv_rows(group=group, exercise=exercise)))
