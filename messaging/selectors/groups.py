"""Who is in a group and with which role, and the permission questions built on that."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from django.db import connection
from django.db.models import Count, Q

from directory.models import Post, Staff, User

from ..models import CommandGroup, GroupMembership, Message, Receipt
from .messages import unread_counts

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

    @property
    def observer(self) -> bool:
        return self.role == GroupMembership.Role.OBSERVER


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
    """The user's memberships: through a post they hold now, or individually (active only).
    For a subquery; to read rows, ``_membership_rows`` is much cheaper."""
    return GroupMembership.objects.filter(
        Q(post__holder__user=user, post__holder__is_active=True)
        | Q(staff__user=user, staff__is_active=True)
    )


def _membership_rows(user: User, *fields: str, flat: bool = False, **filters):
    """``_memberships_of`` as value rows, in two index lookups joined by UNION ALL. The OR
    across the post and the staff joins made PostgreSQL scan and join every membership of
    every group: 81 ms of database time a websocket connect at 20,000 memberships, against
    0.1 ms like this (bench/connect_storm.py, issue 14)."""
    via_post = GroupMembership.objects.filter(
        post__holder__user=user, post__holder__is_active=True, **filters
    ).values_list(*fields, flat=flat)
    own = GroupMembership.objects.filter(
        staff__user=user, staff__is_active=True, **filters
    ).values_list(*fields, flat=flat)
    return via_post.union(own, all=True)


def user_group_role(*, user: User, group: CommandGroup) -> str | None:
    """The user's role in the group, or None if they are not a member."""
    if not (user.is_authenticated and user.is_active):
        return None
    return _best(_membership_rows(user, "role", flat=True, group=group))


def user_group_roles(*, user: User) -> dict[int, str]:
    """Every active group the user is in, with their role: one query (a websocket connect)."""
    if not (user.is_authenticated and user.is_active):
        return {}
    by_group: dict[int, list[str]] = {}
    with connection.cursor() as cursor:
        cursor.execute(_roles_sql(), [user.pk, user.pk])
        for group_id, role in cursor.fetchall():
            by_group.setdefault(group_id, []).append(role)
    return {group_id: _best(roles) for group_id, roles in sorted(by_group.items())}


@functools.cache
def _roles_sql() -> str:
    """``_membership_rows(user, "group_id", "role", group__is_active=True)`` written out once:
    at every websocket connect, building the ORM's UNION cost more CPU than running it (a
    third of the connect's database hop; bench/connect_storm.py). Names from the models, so a
    renamed column breaks here, and tests/realtime/test_connect.py checks both halves."""
    col = {f"{m.__name__}.{f}": m._meta.get_field(f).column for m, f in _ROLE_COLUMNS}
    m, p, s, g = (
        GroupMembership._meta.db_table,
        Post._meta.db_table,
        Staff._meta.db_table,
        CommandGroup._meta.db_table,
    )
    pick = f'm."{col["GroupMembership.group"]}", m."{col["GroupMembership.role"]}"'
    active = (
        f's."{col["Staff.user"]}" = %s AND s."{col["Staff.is_active"]}" '
        f'AND g."{col["CommandGroup.is_active"]}"'
    )
    # Names from the models; the user id is a parameter.
    return (
        f'SELECT {pick} FROM "{m}" m '  # noqa: S608
        f'JOIN "{p}" p ON p."id" = m."{col["GroupMembership.post"]}" '
        f'JOIN "{s}" s ON s."id" = p."{col["Post.holder"]}" '
        f'JOIN "{g}" g ON g."id" = m."{col["GroupMembership.group"]}" WHERE {active} '
        f"UNION ALL "
        f'SELECT {pick} FROM "{m}" m '
        f'JOIN "{s}" s ON s."id" = m."{col["GroupMembership.staff"]}" '
        f'JOIN "{g}" g ON g."id" = m."{col["GroupMembership.group"]}" WHERE {active}'
    )


_ROLE_COLUMNS = [
    (GroupMembership, "group"),
    (GroupMembership, "role"),
    (GroupMembership, "post"),
    (GroupMembership, "staff"),
    (Post, "holder"),
    (Staff, "user"),
    (Staff, "is_active"),
    (CommandGroup, "is_active"),
]


def user_can_read(*, user: User, group: CommandGroup) -> bool:
    return user_group_role(user=user, group=group) is not None


def role_can_post(role: str | None) -> bool:
    """Members and commanders write; observers only read (pages and services ask this)."""
    return role in (GroupMembership.Role.MEMBER, GroupMembership.Role.COMMANDER)


def role_can_instruct(role: str | None) -> bool:
    return role == GroupMembership.Role.COMMANDER


def user_can_instruct(*, user: User, group: CommandGroup) -> bool:
    return role_can_instruct(user_group_role(user=user, group=group))


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


def posts_for_user(*, user: User) -> list[Post]:
    return list(Post.objects.filter(holder__user=user).order_by("sort_order"))


def user_unread_by_group(*, user) -> dict[int, int]:
    """The person's unread messages per group they are in now (the tab badge): one query."""
    groups = _memberships_of(user).filter(group__is_active=True).values("group_id")
    rows = (
        Receipt.objects.filter(user=user, read_at__isnull=True, group_id__in=groups)
        .values("group_id")
        .annotate(n=Count("id"))
        .values_list("group_id", "n")
    )
    return dict(rows)
