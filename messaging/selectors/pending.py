"""The commander's view of one instruction: who has NOT answered, first. Rows are grouped by
bureau / ward (the unit tree's first level, in tree order), post holders (本部員) first within a
group, with the deputy in charge where the chase has moved on, the time since delivery and a
phone number to call. Observers are not listed (they are not expected to answer).

One query reads every counted receipt with its chase (values only, no model objects), one reads
the stand-ins, one the bureau/ward names; filtering, counting and grouping happen here, and the
page shows one slice at a time, so a 2,000-member instruction costs the same three queries."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from directory.models import OrgUnit

from ..models import Chase, Message, Receipt, StandIn
from .messages import receipt_counts

# The filters, in the order the page shows them. "silent" (not answered yet) is the default.
FILTERS = ("silent", "unread", "unacked", "reminded", "deputy", "unreached")
PAGE_SIZE = 100


@dataclass
class PendingRow:
    user_id: int
    name: str
    kana: str
    post: str
    post_order: int | None  # None: addressed as an individual
    unit: str
    top_unit_id: int | None
    mobile: str
    staff_id: int | None
    read_at: datetime | None
    acked_at: datetime | None
    reminders: int
    state: str  # the chase's state ("" when not chased)
    deputy: str = ""  # the deputy handed it last (name), if any
    deputy_rank: int = 0
    deputy_answered: bool = False
    answered: bool = False
    tags: set[str] = field(default_factory=set)  # which filters the row is in


@dataclass
class PendingGroup:
    unit: str
    rows: list[PendingRow]


@dataclass
class PendingPage:
    counts: dict[str, int]
    status: str
    groups: list[PendingGroup]
    total: int  # rows under the chosen filter
    page: int
    pages: int
    counted: int  # everyone expected to answer


def _rows(message: Message) -> list[PendingRow]:
    values = Receipt.objects.filter(message=message, observer=False).values_list(
        "user_id",
        "user__staff__family_name",
        "user__staff__given_name",
        "user__staff__kana_sort",
        "user__staff__mobile",
        "user__staff__id",
        "user__staff__unit__name",
        "user__staff__unit__path",
        "user__username",
        "post__name",
        "post__sort_order",
        "read_at",
        "acked_at",
        "chase__id",
        "chase__state",
        "chase__reminders",
    )
    chase_rows: dict[int, PendingRow] = {}
    out = []
    for (
        uid,
        family,
        given,
        kana,
        mobile,
        staff_id,
        unit,
        path,
        username,
        post,
        post_order,
        read_at,
        acked_at,
        chase_id,
        state,
        reminders,
    ) in values:
        ids = [int(p) for p in (path or "").strip("/").split("/") if p]
        row = PendingRow(
            user_id=uid,
            name=f"{family} {given}" if family else username,
            kana=kana or "",
            post=post or "",
            post_order=post_order if post else None,
            unit=unit or "",
            top_unit_id=ids[1] if len(ids) > 1 else (ids[0] if ids else None),
            mobile=mobile or "",
            staff_id=staff_id,
            read_at=read_at,
            acked_at=acked_at,
            reminders=reminders or 0,
            state=state or "",
        )
        if chase_id:
            chase_rows[chase_id] = row
        out.append(row)
    for chase_id, rank, family, given, username, read_at, acked_at in (
        StandIn.objects.filter(chase__message=message)
        .order_by("rank")
        .values_list(
            "chase_id",
            "rank",
            "deputy__staff__family_name",
            "deputy__staff__given_name",
            "deputy__username",
            "read_at",
            "acked_at",
        )
    ):
        row = chase_rows.get(chase_id)
        if row is not None:  # the highest rank engaged so far wins
            row.deputy = f"{family} {given}" if family else username
            row.deputy_rank = rank
            stop_read = (message.escalation or {}).get("stop_on") == "read"
            row.deputy_answered = bool(acked_at or (stop_read and read_at))
    return out


def _tag(message: Message, row: PendingRow) -> None:
    own = row.acked_at is not None or (not message.requires_ack and row.read_at is not None)
    covered = row.state == Chase.State.COVERED or row.deputy_answered
    row.answered = own or covered
    if row.deputy:
        row.tags.add("deputy")
    if row.answered:
        return
    row.tags.add("silent")
    row.tags.add("unread" if row.read_at is None else "unacked")
    if row.reminders:
        row.tags.add("reminded")
    if row.state == Chase.State.UNREACHED:
        row.tags.add("unreached")


def pending_page(*, message: Message, status: str = "silent", page: int = 1) -> PendingPage:
    rows = _rows(message)
    for row in rows:
        _tag(message, row)
    counts = {name: sum(name in r.tags for r in rows) for name in FILTERS}
    status = status if status in FILTERS else "silent"
    chosen = [r for r in rows if status in r.tags]
    tops = {r.top_unit_id for r in chosen if r.top_unit_id}
    units = {
        u["id"]: u
        for u in OrgUnit.objects.filter(pk__in=tops).values("id", "name", "path", "sort_order")
    }

    def unit_order(row: PendingRow) -> tuple:
        unit = units.get(row.top_unit_id)
        return (unit is None, unit["sort_order"] if unit else 0, unit["path"] if unit else "")

    chosen.sort(
        key=lambda r: (
            unit_order(r),
            r.post_order is None,  # post holders (本部員) first within their bureau or ward
            r.post_order or 0,
            r.kana,
            r.user_id,
        )
    )
    pages = max(1, (len(chosen) + PAGE_SIZE - 1) // PAGE_SIZE)
    page = min(max(1, page), pages)
    groups: list[PendingGroup] = []
    for row in chosen[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]:
        name = units[row.top_unit_id]["name"] if row.top_unit_id in units else ""
        if not groups or groups[-1].unit != name:
            groups.append(PendingGroup(name, []))
        groups[-1].rows.append(row)
    return PendingPage(
        counts=counts,
        status=status,
        groups=groups,
        total=len(chosen),
        page=page,
        pages=pages,
        counted=len(rows),
    )


@dataclass
class OpenInstruction:
    message: Message
    total: int
    read: int
    acked: int

    @property
    def silent(self) -> int:
        return self.total - (self.acked if self.message.requires_ack else self.read)


def user_open_instructions(*, user, limit: int = 10, scan: int = 30) -> list[OpenInstruction]:
    """The person's own recent instructions that someone has not answered yet (newest first),
    with their counts: the commander's home."""
    recent = list(
        Message.objects.filter(sender=user, kind=Message.Kind.INSTRUCTION, deleted_at__isnull=True)
        .select_related("group")
        .order_by("-created_at")[:scan]
    )
    counts = {c.message_id: c for c in receipt_counts(message_ids=[m.pk for m in recent])}
    out = []
    for m in recent:
        c = counts[m.pk]
        item = OpenInstruction(m, c.total, c.read, c.acked)
        if item.silent > 0:
            out.append(item)
    return out[:limit]
