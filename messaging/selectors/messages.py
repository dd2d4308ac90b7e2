"""Messages of a group, and their receipts: counts, rows, unread numbers."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Max, OuterRef, Q, Subquery

from ..models import Attachment, CommandGroup, Message, Receipt


def messages_after(*, group: CommandGroup, after_seq: int, limit: int = 200) -> list[Message]:
    return list(
        Message.objects.filter(group=group, seq__gt=after_seq)
        .order_by("seq")
        .select_related("reply_to")
        .prefetch_related("attachments")[:limit]
    )


@dataclass
class History:
    group: CommandGroup
    messages: list[Message]  # reply_to loaded
    attachments: dict[int, list[Attachment]]  # by message id


def history_state(
    *, group_id: int, after_seq: int, limit: int = 200
) -> tuple[CommandGroup, tuple] | None:
    """The active group, and what a catch-up of ``limit`` messages after ``after_seq`` depends
    on: the group's creation, its last number, and the latest edit and deletion among those
    messages, in one query. Two catch-ups with the same state read the same rows
    (messaging/sockets.py keeps the answer for a reconnect storm's other pages). None: no such
    active group."""
    group = next(
        iter(
            CommandGroup.objects.raw(_sql("group"), [after_seq, after_seq + limit] * 2 + [group_id])
        ),
        None,
    )
    if group is None:
        return None
    return group, (group.created_at, group.last_seq, group.latest_edit, group.latest_delete)


def history_rows(*, group: CommandGroup, after_seq: int, limit: int = 200) -> History:
    """``messages_after`` for a websocket catch-up, which every page of a reconnect storm asks
    right after hello: the same rows, from SQL the ORM compiled once per process. Compiling
    the select_related, ordered, prefetching query cost most of the catch-up's CPU (py-spy,
    bench/connect_storm.py)."""
    rows = list(Message.objects.raw(_sql("messages", limit), [group.pk, after_seq]))
    replies = {r.reply_to_id for r in rows if r.reply_to_id}
    if replies:  # rare in a catch-up: the ORM's own query
        found = Message.objects.in_bulk(replies)
        for row in rows:
            if row.reply_to_id:
                row.reply_to = found.get(row.reply_to_id)
    else:
        for row in rows:
            row.reply_to = None
    attachments: dict[int, list[Attachment]] = {}
    if rows:
        ids = {r.pk for r in rows}
        low, high = min(ids), max(ids)
        for att in Attachment.objects.raw(_sql("attachments"), [group.pk, low, high]):
            if att.message_id in ids:
                attachments.setdefault(att.message_id, []).append(att)
    return History(group, rows, attachments)


def history_after(*, group_id: int, after_seq: int, limit: int = 200) -> History | None:
    """The group's messages after ``after_seq`` for a catch-up; None: no such active group."""
    state = history_state(group_id=group_id, after_seq=after_seq, limit=limit)
    if state is None:
        return None
    return history_rows(group=state[0], after_seq=after_seq, limit=limit)


_A, _B, _C = 987_654_301, 987_654_302, 987_654_303  # stand-ins for the parameters


@functools.cache
def _sql(name: str, limit: int = 0) -> str:
    """The ORM's own SQL for the catch-up queries, compiled once per process (and limit); the
    parameters are passed anew each time, in the order checked here against stand-ins."""
    if name == "group":
        after = Message.objects.filter(group_id=OuterRef("pk"), seq__gt=_B, seq__lte=_C)
        after = after.order_by()
        qs = CommandGroup.objects.filter(pk=_A, is_active=True).annotate(
            latest_edit=Subquery(
                after.values("group_id").annotate(at=Max("edited_at")).values("at")[:1]
            ),
            latest_delete=Subquery(
                after.values("group_id").annotate(at=Max("deleted_at")).values("at")[:1]
            ),
        )
        order = [_B, _C, _B, _C, _A]
    elif name == "messages":
        qs = Message.objects.filter(group_id=_A, seq__gt=_B).order_by("seq")[:limit]
        order = [_A, _B]
    else:
        qs = Attachment.objects.filter(group_id=_A, message_id__gte=_B, message_id__lte=_C)
        qs, order = qs.order_by("pk"), [_A, _B, _C]
    sql, params = qs.query.sql_with_params()
    if list(params) != order:
        raise RuntimeError(f"the catch-up query {name} has parameters {params}, not {order}")
    return sql


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
