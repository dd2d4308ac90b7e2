"""An important or urgent instruction reaches people at once, not at the first reminder.

Pages that are open show it themselves (the arrival overlay in static/js/honbu.js, driven by the
``message.new`` frame every member's sockets get). People with no live page open get a Web
Push right after the send (``instruction_alert_task``); urgent ones even if they turned push
off. Observers receive the message but are not alerted. One push per person and instruction
(``once_key``), however often the task runs.

A worker killed -9 while it ran the task (acks-late: the task stays unacknowledged in Redis
for the visibility timeout, an hour) or Redis away when the send enqueued it used to lose the
alert: the people away heard of an urgent instruction only at the chase's first reminder, or
never when it had no chase. The instruction is now marked ``alerted_at`` in the transaction
that writes its pushes, and the escalation sweep runs the alert for an instruction still
unmarked ALERT_GRACE_SECONDS after it was sent (``instruction_alerts_overdue``; the drill is
tests/faults/test_push_workers.py)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction

from notifications.models import Notification
from notifications.selectors import channels_for
from notifications.services import notification_new, notifications_create
from realtime import clock, presence

from .escalation import message_type
from .listeners import KIND_INSTRUCTION
from .models import CommandGroup, Message, Receipt

ALERT_PRIORITIES = (Message.Priority.IMPORTANT, Message.Priority.URGENT)
# An alert not written this long after the send is the sweep's (its task died or never ran);
# one older than ALERT_WINDOW_SECONDS is left alone (a push hours late is noise, and the chase
# reminds those who have not answered).
ALERT_GRACE_SECONDS = 60
ALERT_WINDOW_SECONDS = 3600


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
        # In the same transaction as the pushes: marked means written (a kill before the
        # commit leaves it unmarked, and the sweep runs it again).
        Message.objects.filter(pk=message.pk, alerted_at__isnull=True).update(alerted_at=now)
    return len(written)


def instruction_alerts_overdue(*, now: datetime | None = None) -> int:
    """The escalation sweep's part: run the alert of every important/urgent instruction sent
    between ALERT_WINDOW_SECONDS and ALERT_GRACE_SECONDS ago and still not marked (its task
    was lost with a killed worker, or never enqueued). Safe beside the task and another sweep:
    ``once_key`` writes each person's push once. Returns the pushes written."""
    now = now or clock.now()
    overdue = (
        Message.objects.filter(
            kind=Message.Kind.INSTRUCTION,
            priority__in=ALERT_PRIORITIES,
            alerted_at__isnull=True,
            deleted_at__isnull=True,
            created_at__lte=now - timedelta(seconds=ALERT_GRACE_SECONDS),
            created_at__gte=now - timedelta(seconds=ALERT_WINDOW_SECONDS),
        )
        .exclude(group__kind=CommandGroup.Kind.DIRECT)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    return sum(instruction_alert(message_id=pk) for pk in overdue)
