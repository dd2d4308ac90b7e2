"""Command groups and their members. Membership changes reach open websockets at once: the
group's sockets and the person concerned re-read their memberships (messaging/sockets.py)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy as _

from directory.models import Post, Staff, User
from directory.services import audit_record
from realtime.events import channel_group, send_event_on_commit

from .. import selectors
from ..events import MembershipChanged
from ..models import CommandGroup, GroupMembership

ERR_CANNOT_MANAGE = _("You cannot change the members of this group.")
ERR_DIRECT_SELF = _("You cannot start a conversation with yourself.")
ERR_NO_ACCOUNT = _("%(name)s has no sign-in account yet.")
GROUP_FIELDS = ("name", "kind", "unit", "description", "is_active")


@transaction.atomic
def group_create(
    *, name: str, kind: str, actor: User | None, unit=None, description: str = ""
) -> CommandGroup:
    group = CommandGroup(name=name, kind=kind, unit=unit, description=description, created_by=actor)
    group.full_clean()
    group.save()
    audit_record(
        actor=actor, action="group.create", target=group, data={"name": name, "kind": kind}
    )
    return group


@transaction.atomic
def group_update(*, group: CommandGroup, actor: User | None, **fields: Any) -> CommandGroup:
    """Change a group's name, kind, unit, description or whether it is active (the admin).
    Audited with what changed; members' open websockets re-read their groups, so a group
    switched off stops delivering at once."""
    unknown = set(fields) - set(GROUP_FIELDS)
    if unknown:
        raise ValueError(f"not group fields: {sorted(unknown)}")
    group = CommandGroup.objects.select_for_update().get(pk=group.pk)
    changed = sorted(name for name, value in fields.items() if getattr(group, name) != value)
    if not changed:
        return group
    for name in changed:
        setattr(group, name, fields[name])
    group.full_clean()
    group.save(update_fields=changed)
    audit_record(actor=actor, action="group.update", target=group, data={"changed": changed})
    if "is_active" in changed:
        send_event_on_commit(
            MembershipChanged(group=group.pk), groups=[channel_group("grp", group.pk)]
        )
    return group


def _check_manage(group: CommandGroup, actor: User | None) -> None:
    if actor is not None and not selectors.user_can_manage_members(user=actor, group=group):
        raise PermissionDenied(ERR_CANNOT_MANAGE)


@transaction.atomic
def group_add_member(
    *,
    group: CommandGroup,
    actor: User | None,
    post: Post | None = None,
    staff: Staff | None = None,
    role: str = GroupMembership.Role.MEMBER,
) -> GroupMembership:
    """Add a post or an individual, or change their role. ``actor=None`` is the system."""
    _check_manage(group, actor)
    if role not in GroupMembership.Role.values:
        raise ValidationError({"role": _("Unknown role.")})
    lookup = {"post": post} if post is not None else {"staff": staff}
    membership, created = GroupMembership.objects.get_or_create(
        group=group, **lookup, defaults={"role": role}
    )
    if not created and membership.role == role:
        return membership
    previous = None if created else membership.role
    membership.role = role
    membership.full_clean()
    membership.save()
    audit_record(
        actor=actor,
        action="group.member_add" if created else "group.member_role",
        target=group,
        data={
            "post": post.pk if post else None,
            "staff": staff.pk if staff else None,
            "role": role,
            "previous": previous,
        },
    )
    _membership_event(group, membership)
    return membership


def _membership_event(group: CommandGroup, membership: GroupMembership) -> None:
    """Open websockets re-read their memberships: everyone in the group, and the person
    concerned, who may not have been in it (joins) or must leave it (removal)."""
    person = membership.post.holder if membership.post_id else membership.staff
    names = [channel_group("grp", group.pk)]
    if person is not None and person.user_id:
        names.append(channel_group("usr", person.user_id))
    send_event_on_commit(MembershipChanged(group=group.pk), groups=names)


@transaction.atomic
def group_remove_member(*, membership: GroupMembership, actor: User | None) -> None:
    group = membership.group
    _check_manage(group, actor)
    audit_record(
        actor=actor,
        action="group.member_remove",
        target=group,
        data={"post": membership.post_id, "staff": membership.staff_id, "role": membership.role},
    )
    _membership_event(group, membership)
    membership.delete()


def direct_conversation_check(*, me: User, other: Staff) -> str:
    """Whether the two can have a conversation; returns its key, or raises ValidationError."""
    mine = getattr(me, "staff", None)
    if mine is None or other.pk == mine.pk:
        raise ValidationError(ERR_DIRECT_SELF)
    if other.user_id is None:
        raise ValidationError(ERR_NO_ACCOUNT % {"name": other.full_name})
    return f"{min(mine.pk, other.pk)}:{max(mine.pk, other.pk)}"


def direct_conversation_get_or_create(*, me: User, other: Staff) -> CommandGroup:
    """The one-to-one conversation between two staff, created on first use."""
    key = direct_conversation_check(me=me, other=other)
    mine = me.staff
    existing = CommandGroup.objects.filter(direct_key=key).first()
    if existing:
        return existing
    try:
        with transaction.atomic():
            group = CommandGroup.objects.create(
                name=f"{mine.full_name} / {other.full_name}",
                kind=CommandGroup.Kind.DIRECT,
                direct_key=key,
                created_by=me,
            )
            for person in (mine, other):
                GroupMembership.objects.create(
                    group=group, staff=person, role=GroupMembership.Role.MEMBER
                )
            return group
    except IntegrityError:  # the other person opened it at the same moment
        return CommandGroup.objects.get(direct_key=key)
