"""Messages of a group, and their receipts: counts, rows, unread numbers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Q

from ..models import CommandGroup, Message, Receipt


def messages_after(*, group: CommandGroup, after_seq: int, limit: int = 200) -> list[Message]:
    return list(
        Message.objects.filter(group=group, seq__gt=after_seq)
        .order_by("seq")
        .select_related("reply_to")
        .prefetch_related("attachments")[:limit]
    )


def messages_latest(*, group: CommandGroup, limit: int = 50) -> list[Message]:
    rows = list(
        Message.objects.filter(group=group)
        .order_by("-seq")
        .select_related("reply_to")
        .prefetch_related("attachments")[:limit]
    )
    rows.reverse()
    return rows


@dataclass
class ReceiptCounts:
    message_id: int
    total: int
    read: int
    acked: int


def receipt_counts(*, message_ids: list[int]) -> list[ReceiptCounts]:
    """Read and 了解 counts of the people expected to respond (observers are not counted)."""
    rows = (
        Receipt.objects.filter(message_id__in=message_ids, observer=False)
        .values("message_id")
        .annotate(
            total=Count("id"),
            read=Count("id", filter=Q(read_at__isnull=False)),
            acked=Count("id", filter=Q(acked_at__isnull=False)),
        )
    )
    by_id = {r["message_id"]: r for r in rows}
    return [
        ReceiptCounts(
            mid,
            by_id.get(mid, {}).get("total", 0),
            by_id.get(mid, {}).get("read", 0),
            by_id.get(mid, {}).get("acked", 0),
        )
        for mid in message_ids
    ]


@dataclass
class ReceiptRow:
    user_id: int
    name: str
    unit: str
    post: str
    read_at: datetime | None
    acked_at: datetime | None


def receipt_rows(*, message: Message) -> list[ReceiptRow]:
    """The people expected to respond, with their times (observers are left out)."""
    rows = Receipt.objects.filter(message=message, observer=False).values_list(
        "user_id",
        "user__staff__family_name",
        "user__staff__given_name",
        "user__staff__unit__name",
        "post__name",
        "read_at",
        "acked_at",
        "user__username",
    )
    out = [
        ReceiptRow(uid, f"{fam} {giv}" if fam else uname, unit or "", post or "", read_at, acked_at)
        for uid, fam, giv, unit, post, read_at, acked_at, uname in rows
    ]
    return out


def unread_counts(*, pairs: set[tuple[int, int]]) -> dict[tuple[int, int], int]:
    """Unread counts for many (user id, group id) at once (a batch of reads): one query."""
    if not pairs:
        return {}
    rows = (
        Receipt.objects.filter(
            user_id__in={u for u, _g in pairs},
            group_id__in={g for _u, g in pairs},
            read_at__isnull=True,
        )
        .values("user_id", "group_id")
        .annotate(n=Count("id"))
        .values_list("user_id", "group_id", "n")
    )
    found = {(u, g): n for u, g, n in rows}
    return {pair: found.get(pair, 0) for pair in pairs}
