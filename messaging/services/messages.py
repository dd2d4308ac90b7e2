"""Sending, editing and deleting messages. A message gets the group's next sequence number
under a row lock and is broadcast after commit; every version is kept (public record)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from directory.models import User
from realtime.events import channel_group, send_event_on_commit
from realtime.frames import text_ok

from .. import selectors
from ..alerts import instruction_alerts
from ..attachments import attachment_store
from ..bulk import receipts_insert
from ..escalation import escalation_start
from ..events import MessageNew, MessageUpdate
from ..models import EXERCISE_MARK, CommandGroup, Message, MessageVersion
from ..policies import policy_clean, policy_for
from ..rendering import message_dict
from ..tasks import instruction_alert_task

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
ERR_TEXT = _("The text contains characters that cannot be stored (a NUL or a broken character).")


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
    exercise: bool = False,
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
    if not selectors.role_can_post(role):
        raise PermissionDenied(ERR_OBSERVER)
    if kind == Message.Kind.INSTRUCTION and not selectors.role_can_instruct(role):
        raise PermissionDenied(ERR_NOT_COMMANDER)
    body = (body or "").strip()
    if not text_ok(body):
        raise ValidationError(ERR_TEXT)
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
        exercise = exercise or reply_to.exercise  # a reply to an exercise is exercise too
    if exercise and not body.startswith(EXERCISE_MARK):
        body = f"{EXERCISE_MARK}{body}"
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
                exercise=exercise,
                recipient_count=sum(not r.observer for r in recipients.values()),
            )
            MessageVersion.objects.create(
                message=message, version=1, action="create", body=body, by=sender
            )
            receipts_insert(
                message_id=message.pk,
                group_id=locked.pk,
                recipients=[(r.user_id, r.post_id, r.observer) for r in recipients.values()],
            )
            for upload in attachments:
                attachment_store(message=message, upload=upload)
            if policy is not None and group.kind != CommandGroup.Kind.DIRECT:
                escalation_start(message=message, policy=policy)
            if instruction_alerts(message) and group.kind != CommandGroup.Kind.DIRECT:
                transaction.on_commit(lambda: instruction_alert_task.delay(message.pk))
            payload = message_dict(message)
            send_event_on_commit(
                MessageNew(group=locked.pk, message=payload),
                groups=[channel_group("grp", locked.pk)],
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
    if not text_ok(body):
        raise ValidationError(ERR_TEXT)
    if not body:
        raise ValidationError(ERR_EMPTY)
    if len(body) > MAX_BODY_LENGTH:
        raise ValidationError(ERR_TOO_LONG)
    if message.exercise and not body.startswith(EXERCISE_MARK):
        body = f"{EXERCISE_MARK}{body}"  # an exercise stays marked, however it is edited
    if body == message.body:
        return message
    message.version += 1
    message.body = body
    message.edited_at = timezone.now()
    message.save(update_fields=["version", "body", "edited_at"])
    MessageVersion.objects.create(
        message=message, version=message.version, action="edit", body=body, by=editor
    )
    send_event_on_commit(
        MessageUpdate(group=message.group_id, message=message_dict(message)),
        groups=[channel_group("grp", message.group_id)],
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
    send_event_on_commit(
        MessageUpdate(group=message.group_id, message=message_dict(message)),
        groups=[channel_group("grp", message.group_id)],
    )
    return message
