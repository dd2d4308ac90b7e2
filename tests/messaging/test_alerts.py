"""An important or urgent instruction is pushed at send time to the people with no live page
open (not only at the first reminder); people with a page open see it there; observers and the
sender are not pushed; each person gets it once. The push goes to a real HTTP endpoint on
127.0.0.1 and is decrypted like a browser would."""

import uuid
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.utils import translation
from django.utils.translation import gettext

from config.celery_app import app as celery_app
from messaging import alerts, services
from messaging.models import Message
from notifications.models import Notification, NotificationSettings
from tests.messaging.test_consumers import connect, frames_until
from tests.push import decrypt, subscribe

pytestmark = [pytest.mark.django_db(transaction=True)]
BODY = "津波警報。沿岸部の住民を直ちに高台へ避難させてください。\n詳細は追って連絡します。"


@pytest.fixture
def eager(settings):
    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = before


def instruct(hq, priority="urgent"):
    return services.message_send(
        group=hq.group,
        sender=hq.mayor,
        body=BODY,
        client_id=uuid.uuid4(),
        kind="instruction",
        priority=priority,
        requires_ack=True,
    ).message


@pytest.mark.asyncio
async def test_the_instruction_is_pushed_at_send_time_to_those_with_no_page_open(
    hq, push_service, vapid, eager
):
    ward_phone = await sync_to_async(subscribe)(hq.ward_head, push_service)
    await sync_to_async(subscribe)(hq.bureau_head, push_service)
    await sync_to_async(subscribe)(hq.observer, push_service)
    await sync_to_async(subscribe)(hq.mayor, push_service)
    bureau = await connect(hq.bureau_head)  # a live page: the page itself alerts them
    try:
        message = await sync_to_async(instruct)(hq)  # commits: the alert task runs (eagerly)
        arrival, _ = await frames_until(bureau, "message.new")
        assert arrival["message"]["priority"] == "urgent"
        # Run again (a redelivered task): nobody is pushed twice.
        assert await sync_to_async(alerts.instruction_alert)(message_id=message.pk) == 0
    finally:
        await bureau.disconnect()

    [request] = push_service.received  # the ward head only
    assert request["path"] == ward_phone.subscription.endpoint.removeprefix(push_service.url)
    with translation.override(hq.ward_head.language):
        title = gettext("Urgent instruction from %(sender)s") % {"sender": message.sender_name}
    assert decrypt(ward_phone, request) == {
        "title": title,
        "body": "津波警報。沿岸部の住民を直ちに高台へ避難させてください。",
        "url": f"/messages/g/{hq.group.pk}/#msg-{message.seq}",
        "tag": f"honbu-{message.pk}",
    }
    notes = await sync_to_async(list)(
        Notification.objects.filter(kind="instruction").values_list("user_id", "channel", "status")
    )
    assert notes == [(hq.ward_head.pk, "push", "sent")]
    assert len(push_service.received) == 1


def test_urgent_is_pushed_even_with_push_turned_off_important_is_not(hq, push_service, vapid):
    for user in (hq.ward_head, hq.bureau_head):
        subscribe(user, push_service)
        NotificationSettings.objects.create(user=user, push=False)
    urgent, important = instruct(hq, "urgent"), instruct(hq, "important")

    assert alerts.instruction_alert(message_id=urgent.pk) == 2
    assert alerts.instruction_alert(message_id=important.pk) == 0
    assert {n.subject_id for n in Notification.objects.filter(kind="instruction")} == {urgent.pk}


def test_plain_messages_and_normal_instructions_are_not_pushed_at_send(hq, push_service, vapid):
    subscribe(hq.ward_head, push_service)
    normal = instruct(hq, "normal")
    chat = services.message_send(
        group=hq.group, sender=hq.mayor, body="了解", client_id=uuid.uuid4()
    )

    assert alerts.instruction_alert(message_id=normal.pk) == 0
    assert alerts.instruction_alert(message_id=chat.message.pk) == 0
    assert push_service.received == []


def test_an_alert_whose_task_never_ran_is_written_by_the_sweep_once(hq, push_service, vapid):
    """The task died with its worker (the drill: tests/faults/test_push_workers.py): the
    escalation sweep's part writes the alert once the grace has passed, and never again."""
    subscribe(hq.ward_head, push_service)
    owed, late, done = instruct(hq), instruct(hq), instruct(hq, "important")
    assert alerts.instruction_alert(message_id=done.pk) > 0  # its task ran: marked
    sent = owed.created_at
    grace = timedelta(seconds=alerts.ALERT_GRACE_SECONDS)

    assert alerts.instruction_alerts_overdue(now=sent + grace / 2) == 0  # its task may yet run
    Message.objects.filter(pk=late.pk).update(created_at=sent - timedelta(hours=2))
    written = alerts.instruction_alerts_overdue(now=sent + grace)
    assert alerts.instruction_alerts_overdue(now=sent + grace) == 0
    pushes = Notification.objects.filter(kind="instruction", channel="push")
    assert written > 0
    assert pushes.filter(subject_id=owed.pk).count() == written
    assert pushes.filter(subject_id=owed.pk, user=hq.ward_head).count() == 1
    assert not pushes.filter(subject_id=late.pk).exists()
    assert pushes.values("subject_id").distinct().count() == 2  # owed and done
    owed.refresh_from_db()
    late.refresh_from_db()
    assert owed.alerted_at is not None
    assert late.alerted_at is None  # two hours late: the chase reminds, not a late alert
