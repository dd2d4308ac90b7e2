"""Writes of command groups and messages. Each service owns its transaction; live events go
out only after commit (messaging/events.py)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from directory.models import Post, Staff, User
from directory.services import audit_record

from . import events, selectors
from .bulk import receipts_insert
from .models import CommandGroup, GroupMembership, Message, MessageVersion, Receipt
from .rendering import message_dict

MAX_BODY_LENGTH = 4000

ERR_NOT_MEMBER = _("You are not a member of this group.")
ERR_OBSERVER = _("Observers cannot post in this group.")
ERR_NOT_COMMANDER = _("Only commanders can post instructions.")
ERR_EMPTY = _("The message is empty.")
ERR_TOO_LONG = _("The message is too long (at most %(n)d characters).") % {"n": MAX_BODY_LENGTH}
ERR_BAD_REPLY = _("The message you are replying to is not in this group.")
ERR_NOT_SENDER = _("Only the sender can change a message.")
ERR_EDIT_WINDOW = _("The time for changing this message has passed.")
ERR_DELETED = _("This message has been deleted.")
ERR_NO_ACK_REQUESTED = _("This message does not ask for acknowledgement.")
ERR_NOT_RECIPIENT = _("This message was not addressed to you.")
ERR_CANNOT_MANAGE = _("You cannot change the members of this group.")
ERR_DIRECT_SELF = _("You cannot start a conversation with yourself.")
ERR_NO_ACCOUNT = _("%(name)s has no sign-in account yet.")


# --- groups and membership ------------------------------------------------------------------
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
    names = [events.channel_group("grp", group.pk)]
    if person is not None and person.user_id:
        names.append(events.channel_group("usr", person.user_id))
    events.send_event_on_commit(events.MembershipChanged(group=group.pk), groups=names)


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


# --- messages -------------------------------------------------------------------------------
@dataclass
class SendResult:
    message: Message
    created: bool


def message_send(
    *,
    group: CommandGroup,
    sender: User,
    body: str,
    client_id: uuid.UUID | str,
    kind: str = Message.Kind.MESSAGE,
    priority: str = Message.Priority.NORMAL,
    requires_ack: bool = False,
    reply_to_id: int | None = None,
    attachments: Sequence = (),
    escalation: dict | None = None,
) -> SendResult:
    """Store the message with the group's next sequence number, then broadcast after commit.

    Idempotent: a retry with the same ``client_id`` returns the first message, never a second.
    """
    client_id = uuid.UUID(str(client_id))
    existing = Message.objects.filter(sender=sender, client_id=client_id).first()
    if existing is not None:
        return SendResult(existing, False)
    role = selectors.user_group_role(user=sender, group=group)
    if role is None:
        raise PermissionDenied(ERR_NOT_MEMBER)
    if role == GroupMembership.Role.OBSERVER:
        raise PermissionDenied(ERR_OBSERVER)
    if kind == Message.Kind.INSTRUCTION and role != GroupMembership.Role.COMMANDER:
        raise PermissionDenied(ERR_NOT_COMMANDER)
    body = (body or "").strip()
    if not body and not attachments:
        raise ValidationError(ERR_EMPTY)
    if len(body) > MAX_BODY_LENGTH:
        raise ValidationError(ERR_TOO_LONG)
    if kind not in Message.Kind.values or priority not in Message.Priority.values:
        raise ValidationError(_("Unknown message kind or priority."))
    if kind != Message.Kind.INSTRUCTION:
        priority, requires_ack, escalation = Message.Priority.NORMAL, False, None
    policy = None
    if kind == Message.Kind.INSTRUCTION:
        from .escalation import policy_clean, policy_for

        base = policy_for(group=group, priority=priority)
        policy = policy_clean({**base, **escalation}) if escalation else base
        if not requires_ack:
            policy["stop_on"] = "read"  # nothing to acknowledge: reading is the answer
    reply_to = None
    if reply_to_id is not None:
        reply_to = Message.objects.filter(pk=reply_to_id, group=group).first()
        if reply_to is None:
            raise ValidationError(ERR_BAD_REPLY)
        if kind == Message.Kind.MESSAGE:
            kind = Message.Kind.REPLY
    staff = getattr(sender, "staff", None)
    post = selectors.posts_for_user(user=sender)
    try:
        with transaction.atomic():
            locked = CommandGroup.objects.select_for_update().get(pk=group.pk)
            locked.last_seq += 1
            locked.save(update_fields=["last_seq"])
            recipients = selectors.group_recipients(group=locked)
            recipients.pop(sender.pk, None)
            message = Message.objects.create(
                group=locked,
                seq=locked.last_seq,
                client_id=client_id,
                sender=sender,
                sender_name=staff.full_name if staff else sender.get_username(),
                sender_post_name=post[0].name if post else "",
                kind=kind,
                priority=priority,
                requires_ack=requires_ack,
                reply_to=reply_to,
                body=body,
                recipient_count=len(recipients),
            )
            MessageVersion.objects.create(
                message=message, version=1, action="create", body=body, by=sender
            )
            receipts_insert(
                message_id=message.pk,
                group_id=locked.pk,
                recipients=[(r.user_id, r.post_id) for r in recipients.values()],
            )
            for upload in attachments:
                from .attachments import attachment_store

                attachment_store(message=message, upload=upload)
            if policy is not None and group.kind != CommandGroup.Kind.DIRECT:
                from .escalation import escalation_start

                escalation_start(message=message, policy=policy)
            payload = message_dict(message)
            events.send_event_on_commit(
                events.MessageNew(group=locked.pk, message=payload),
                groups=[events.channel_group("grp", locked.pk)],
            )
    except IntegrityError:
        # A concurrent retry with the same client id won the race: return its message.
        existing = Message.objects.filter(sender=sender, client_id=client_id).first()
        if existing is None:
            raise
        return SendResult(existing, False)
    return SendResult(message, True)


def _check_change(message: Message, actor: User) -> None:
    if message.sender_id != actor.pk:
        raise PermissionDenied(ERR_NOT_SENDER)
    if message.deleted_at is not None:
        raise ValidationError(ERR_DELETED)
    window = timedelta(minutes=settings.HONBU_EDIT_WINDOW_MINUTES)
    if timezone.now() - message.created_at > window:
        raise PermissionDenied(ERR_EDIT_WINDOW)


@transaction.atomic
def message_edit(*, message: Message, editor: User, body: str) -> Message:
    message = Message.objects.select_for_update().get(pk=message.pk)
    _check_change(message, editor)
    body = (body or "").strip()
    if not body:
        raise ValidationError(ERR_EMPTY)
    if len(body) > MAX_BODY_LENGTH:
        raise ValidationError(ERR_TOO_LONG)
    if body == message.body:
        return message
    message.version += 1
    message.body = body
    message.edited_at = timezone.now()
    message.save(update_fields=["version", "body", "edited_at"])
    MessageVersion.objects.create(
        message=message, version=message.version, action="edit", body=body, by=editor
    )
    events.send_event_on_commit(
        events.MessageUpdate(group=message.group_id, message=message_dict(message)),
        groups=[events.channel_group("grp", message.group_id)],
    )
    return message


@transaction.atomic
def message_delete(*, message: Message, actor: User) -> Message:
    """Members see "deleted"; the text stays in the versions for administrators."""
    message = Message.objects.select_for_update().get(pk=message.pk)
    _check_change(message, actor)
    message.version += 1
    message.deleted_at = timezone.now()
    message.save(update_fields=["version", "deleted_at"])
    MessageVersion.objects.create(
        message=message, version=message.version, action="delete", body="", by=actor
    )
    events.send_event_on_commit(
        events.MessageUpdate(group=message.group_id, message=message_dict(message)),
        groups=[events.channel_group("grp", message.group_id)],
    )
    return message


# --- receipts -------------------------------------------------------------------------------
def _receipt_events(group_id: int, user_id: int, message_ids: list[int], senders: set[int]) -> None:
    """Counts go to the group's commanders (watch group) and to each message's sender."""
    if not message_ids:
        return
    events.send_event_on_commit(
        events.ReceiptChanged(group=group_id, messages=message_ids),
        groups=[events.channel_group("watch", group_id)]
        + [events.channel_group("usr", s) for s in sorted(senders)],
    )
    _unread_events({(user_id, group_id)})


def _unread_events(pairs: set[tuple[int, int]]) -> None:
    """Each reader's new unread count, to their own sockets (the group list's badges)."""
    counts = selectors.unread_counts(pairs=pairs)
    events.send_events_on_commit(
        [
            (events.UnreadChanged(group=group_id, unread=n), [events.channel_group("usr", user_id)])
            for (user_id, group_id), n in sorted(counts.items())
        ]
    )


@transaction.atomic
def receipt_mark_read(*, user: User, group: CommandGroup, up_to_seq: int) -> list[int]:
    """Mark every message up to ``up_to_seq`` read (it has been shown on screen). One
    conditional UPDATE, so concurrent or repeated calls keep the first read time. Returns the
    ids of the messages newly marked."""
    return [row[1] for row in _mark_read({(user.pk, group.pk): up_to_seq})]


@transaction.atomic
def receipts_mark_read_bulk(*, items: Sequence[tuple[int, int, int]]) -> int:
    """``receipt_mark_read`` for many (user id, group id, up-to seq) at once — what a server
    process collects from its sockets over ~50 ms (messaging/batching.py). One SELECT, one
    UPDATE and one count event per group, however many phones reported reading at once."""
    wanted: dict[tuple[int, int], int] = {}
    for user_id, group_id, seq in items:
        wanted[(user_id, group_id)] = max(seq, wanted.get((user_id, group_id), 0))
    return len(_mark_read(wanted))


def _mark_read(wanted: dict[tuple[int, int], int]) -> list[tuple]:
    """The one mark-read path (the hottest write in a disaster): for each (user, group), the
    unread receipts up to its sequence number. Returns the rows it marked."""
    if not wanted:
        return []
    # In a storm nearly everyone reads up to the same message: one condition per (group, seq)
    # with the readers in an IN list, not one per reader (Django compiles each Q in Python).
    by_target: dict[tuple[int, int], list[int]] = {}
    for (user_id, group_id), seq in wanted.items():
        by_target.setdefault((group_id, seq), []).append(user_id)
    cond = Q(pk__in=[])
    for (group_id, seq), user_ids in by_target.items():
        cond |= Q(group_id=group_id, message__seq__lte=seq, user_id__in=user_ids)
    rows = list(
        Receipt.objects.filter(cond, read_at__isnull=True).values_list(
            "id",
            "message_id",
            "message__sender_id",
            "message__escalation__stop_on",
            "user_id",
            "group_id",
        )
    )
    if not rows:
        return []
    now = timezone.now()
    Receipt.objects.filter(id__in=[r[0] for r in rows], read_at__isnull=True).update(read_at=now)
    by_group: dict[int, tuple[set[int], set[int]]] = {}
    for _rid, message_id, sender_id, _stop, _user_id, group_id in rows:
        messages, senders = by_group.setdefault(group_id, (set(), set()))
        messages.add(message_id)
        senders.add(sender_id)
    for group_id, (messages, senders) in by_group.items():
        events.send_event_on_commit(
            events.ReceiptChanged(group=group_id, messages=sorted(messages)),
            groups=[events.channel_group("watch", group_id)]
            + [events.channel_group("usr", s) for s in sorted(senders)],
        )
    _unread_events({(r[4], r[5]) for r in rows})
    readers: dict[int, list[int]] = {}
    for rid, _m, _s, stop_on, user_id, _g in rows:
        if stop_on == "read":  # only chases that stop on "read" can end here
            readers.setdefault(user_id, []).append(rid)
    for user_id, receipt_ids in readers.items():
        _cover_chases(receipt_ids, User(pk=user_id), now)
    return rows


def _cover_chases(receipt_ids: list[int], user: User, now) -> None:
    from .escalation import _chase_event_by_id, chases_cover_for_receipts

    for message_id in chases_cover_for_receipts(receipt_ids=receipt_ids, by=user, when=now):
        _chase_event_by_id(message_id)


@transaction.atomic
def receipt_acknowledge(*, user: User, message: Message) -> Receipt:
    """了解: distinct from reading. Acknowledging also counts as having read it."""
    if not message.requires_ack:
        raise ValidationError(ERR_NO_ACK_REQUESTED)
    if message.deleted_at is not None:
        raise ValidationError(ERR_DELETED)
    receipt = Receipt.objects.select_for_update().filter(message=message, user=user).first()
    if receipt is None:
        raise PermissionDenied(ERR_NOT_RECIPIENT)
    if receipt.acked_at is not None:
        return receipt
    now = timezone.now()
    receipt.acked_at = now
    receipt.read_at = receipt.read_at or now
    receipt.save(update_fields=["acked_at", "read_at"])
    _receipt_events(message.group_id, user.pk, [message.pk], {message.sender_id})
    _cover_chases([receipt.pk], user, now)
    return receipt
