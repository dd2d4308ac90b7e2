"""Reads of command groups and messages; permission questions are answered here too."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Q

from directory.models import Post, Staff, User
from notifications.models import Notification

from .models import Chase, CommandGroup, GroupMembership, Message, Receipt, StandIn

ROLE_RANK = {
    GroupMembership.Role.OBSERVER: 0,
    GroupMembership.Role.MEMBER: 1,
    GroupMembership.Role.COMMANDER: 2,
}


@dataclass(frozen=True)
class Recipient:
    user_id: int
    post_id: int | None
    role: str


def group_recipients(*, group: CommandGroup) -> dict[int, Recipient]:
    """Everyone in the group now, by user id: holders of member posts (whoever holds them
    today) and individual staff, with accounts and active. Highest role wins."""
    out: dict[int, Recipient] = {}
    rows = GroupMembership.objects.filter(group=group).values_list(
        "role",
        "post_id",
        "post__holder__user_id",
        "post__holder__is_active",
        "post__holder__user__is_active",
        "staff__user_id",
        "staff__is_active",
        "staff__user__is_active",
    )
    for role, post_id, p_uid, p_staff_ok, p_user_ok, s_uid, s_staff_ok, s_user_ok in rows:
        if post_id is not None:
            uid, ok = p_uid, p_staff_ok and p_user_ok
        else:
            uid, ok, post_id = s_uid, s_staff_ok and s_user_ok, None
        if uid is None or not ok:
            continue
        prev = out.get(uid)
        if prev is None or ROLE_RANK[role] > ROLE_RANK[prev.role]:
            out[uid] = Recipient(
                uid, post_id if post_id is not None else (prev.post_id if prev else None), role
            )
    return out


def _best(roles) -> str | None:
    best = None
    for role in roles:
        if best is None or ROLE_RANK[role] > ROLE_RANK[best]:
            best = role
    return best


def _memberships_of(user: User):
    """The user's memberships: through a post they hold now, or individually (active only)."""
    return GroupMembership.objects.filter(
        Q(post__holder__user=user, post__holder__is_active=True)
        | Q(staff__user=user, staff__is_active=True)
    )


def user_group_role(*, user: User, group: CommandGroup) -> str | None:
    """The user's role in the group, or None if they are not a member."""
    if not (user.is_authenticated and user.is_active):
        return None
    return _best(_memberships_of(user).filter(group=group).values_list("role", flat=True))


def user_group_roles(*, user: User) -> dict[int, str]:
    """Every active group the user is in, with their role: one query (a websocket connect)."""
    if not (user.is_authenticated and user.is_active):
        return {}
    by_group: dict[int, list[str]] = {}
    for group_id, role in (
        _memberships_of(user).filter(group__is_active=True).values_list("group_id", "role")
    ):
        by_group.setdefault(group_id, []).append(role)
    return {group_id: _best(roles) for group_id, roles in sorted(by_group.items())}


def user_can_read(*, user: User, group: CommandGroup) -> bool:
    return user_group_role(user=user, group=group) is not None


def user_can_post(*, user: User, group: CommandGroup) -> bool:
    return user_group_role(user=user, group=group) in (
        GroupMembership.Role.MEMBER,
        GroupMembership.Role.COMMANDER,
    )


def user_can_instruct(*, user: User, group: CommandGroup) -> bool:
    return user_group_role(user=user, group=group) == GroupMembership.Role.COMMANDER


def user_can_edit_policy(*, user: User, group: CommandGroup) -> bool:
    if not (user.is_authenticated and user.is_active):
        return False
    if user.role in (User.Role.ADMIN, User.Role.COORDINATOR):
        return True
    return user_group_role(user=user, group=group) == GroupMembership.Role.COMMANDER


def user_is_records_admin(*, user: User) -> bool:
    return bool(user.is_authenticated and user.is_active and user.role == User.Role.ADMIN)


def user_can_see_receipts(*, user: User, message: Message) -> bool:
    """The sender, the group's commanders and administrators."""
    if not (user.is_authenticated and user.is_active):
        return False
    if message.sender_id == user.pk or user_is_records_admin(user=user):
        return user_can_read(user=user, group=message.group) or user_is_records_admin(user=user)
    return user_group_role(user=user, group=message.group) == GroupMembership.Role.COMMANDER


def user_can_manage_members(*, user: User, group: CommandGroup) -> bool:
    if group.kind == CommandGroup.Kind.DIRECT:
        return False
    return user_is_records_admin(user=user) or user_can_instruct(user=user, group=group)


def group_and_role(*, user: User, group_id: int) -> tuple[CommandGroup | None, str | None]:
    """An active group and the user's role in it, or (None, None) when there is no such group
    or they are not in it: pages and sockets answer both alike, so outsiders learn nothing."""
    group = CommandGroup.objects.filter(pk=group_id, is_active=True).first()
    role = user_group_role(user=user, group=group) if group else None
    return (group, role) if role else (None, None)


def message_for_member(*, user: User, message_id: int) -> Message | None:
    """A message of a group the user is in (None for anyone else)."""
    message = Message.objects.select_related("group").filter(pk=message_id).first()
    if message is None or not user_can_read(user=user, group=message.group):
        return None
    return message


def user_group_ids(*, user: User) -> list[int]:
    return list(user_group_roles(user=user))


@dataclass
class GroupListItem:
    group: CommandGroup
    unread: int
    last_message: Message | None
    title: str


def user_group_list(*, user: User) -> list[GroupListItem]:
    ids = user_group_ids(user=user)
    groups = {g.pk: g for g in CommandGroup.objects.filter(pk__in=ids)}
    unread = {g: n for (_u, g), n in unread_counts(pairs={(user.pk, g) for g in ids}).items()}
    # The newest message of each group is the one numbered last_seq: one indexed query.
    wanted = [Q(group_id=g.pk, seq=g.last_seq) for g in groups.values() if g.last_seq]
    last = {m.group_id: m for m in Message.objects.filter(_or_q(wanted))} if wanted else {}
    items = [
        GroupListItem(
            group=g,
            unread=unread.get(g.pk, 0),
            last_message=last.get(g.pk),
            title=group_title(group=g, user=user),
        )
        for g in groups.values()
    ]
    items.sort(
        key=lambda i: (-(i.unread > 0), -(i.last_message.pk if i.last_message else 0), i.title)
    )
    return items


def _or_q(parts: list[Q]) -> Q:
    q = Q(pk__in=[])
    for p in parts:
        q |= p
    return q


def group_title(*, group: CommandGroup, user: User) -> str:
    """One-to-one conversations are titled with the other person's name."""
    if group.kind != CommandGroup.Kind.DIRECT:
        return group.name
    other = Staff.objects.filter(group_memberships__group=group).exclude(user=user).first()
    return other.full_name if other else group.name


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
    rows = (
        Receipt.objects.filter(message_id__in=message_ids)
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
    rows = Receipt.objects.filter(message=message).values_list(
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


def posts_for_user(*, user: User) -> list[Post]:
    return list(Post.objects.filter(holder__user=user).order_by("sort_order"))


# --- escalation -----------------------------------------------------------------------------
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
        Receipt.objects.filter(message=message).select_related("user__staff__unit", "post")
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
    ) in Receipt.objects.filter(message=message).values_list(
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
    """Instructions addressed to the user that still ask for their acknowledgement."""
    return list(
        Receipt.objects.filter(
            user=user,
            acked_at__isnull=True,
            message__requires_ack=True,
            message__deleted_at__isnull=True,
        )
        .select_related("message__group")
        .order_by("-message__created_at")[:limit]
    )
