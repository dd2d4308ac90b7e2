"""An important or urgent instruction reaches people at once, not at the first reminder.

Pages that are open show it themselves (the arrival overlay in static/js/honbu.js, driven by the
``message.new`` frame every member's sockets get). People with no live page open get a Web
Push right after the send (``instruction_alert_task``); urgent ones even if they turned push
off. Observers receive the message but are not alerted. One push per person and instruction
(``once_key``), however often the task runs."""

from __future__ import annotations

from django.db import transaction

from notifications.models import Notification
from notifications.selectors import channels_for
from notifications.services import notification_new, notifications_create
from realtime import clock, presence

from .escalation import message_type
from .listeners import KIND_INSTRUCTION
from .models import Message, Receipt

ALERT_PRIORITIES = (Message.Priority.IMPORTANT, Message.Priority.URGENT)


def instruction_alerts(message: Message) -> bool:
    return message.kind == Message.Kind.INSTRUCTION and message.priority in ALERT_PRIORITIES


def instruction_alert(*, message_id: int) -> int:
    """Push the instruction now to the counted recipients with no live page. Returns how many
    push notifications were written (0 when run again)."""
    message = Message.objects.filter(pk=message_id, deleted_at__isnull=True).first()
    if message is None or not instruction_alerts(message):
        return 0
    users = set(
        Receipt.objects.filter(message=message, observer=False).values_list("user_id", flat=True)
    )
    away = users - presence.online(users)
    channels = channels_for(away, urgent=message.priority == Message.Priority.URGENT)
    now = clock.now()
    notes = [
        notification_new(
            subject_type=message_type(),
            subject_id=message.pk,
            once_key=f"arrival:{message.pk}",
            user_id=uid,
            kind=KIND_INSTRUCTION,
            channel=Notification.Channel.PUSH,
            created_at=now,
        )
        for uid in sorted(away)
        if Notification.Channel.PUSH in channels[uid]
    ]
    with transaction.atomic():
        written = notifications_create(notes=notes)
    return len(written)
