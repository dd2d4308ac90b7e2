"""Sending one push or e-mail notification, for ``notifications_deliver_task``.

Each row is claimed (pending → sending) with one conditional UPDATE before anything is sent, so
a task that runs twice never sends twice; if a worker dies between the claim and the send, that
one notification is lost rather than doubled (at most once), and in-app delivery and the next
reminder still reach the person."""

from __future__ import annotations

import logging
import secrets

from django.conf import settings
from django.core.mail import get_connection
from django.utils import timezone, translation

from . import channels, kinds
from .kinds import Texts
from .models import Notification

log = logging.getLogger(__name__)
WRITE_BATCH = 500


def _language(note: Notification) -> str:
    return (note.user.language if note.user_id else "") or settings.LANGUAGE_CODE


def notification_deliver(*, notification_id: int) -> str:
    """Send one push/e-mail notification, at most once. Returns its final status."""
    return notifications_deliver(notification_ids=[notification_id]).get(notification_id, "already")


def notifications_deliver(*, notification_ids: list[int]) -> dict[int, str]:
    """Send a batch of push/e-mail notifications, each at most once; the e-mails of a batch go
    over one SMTP connection (30,000 in a round: one connection per message would be the
    bottleneck). Returns the final status of each one this call sent."""
    token = secrets.token_hex(8)
    claimed = Notification.objects.filter(
        pk__in=notification_ids, status=Notification.Status.PENDING
    ).update(status=Notification.Status.SENDING, claim=token)
    if not claimed:
        return {}
    notes = list(
        Notification.objects.filter(claim=token, status=Notification.Status.SENDING)
        .select_related("user", "staff")
        .order_by("pk")
    )
    outcomes: dict[int, str] = {}
    done: list[Notification] = []
    connection = get_connection(fail_silently=False)
    reset = channels.smtp_connection.set(connection)
    try:
        for note in notes:
            with translation.override(_language(note)):
                try:
                    texts = kinds.get(note.kind).render(note)
                    status, detail = channels.get(note.channel).deliver(note, texts)
                except Exception as exc:  # one bad message must not stop the batch
                    log.warning("notification %s not sent: %s", note.pk, exc)
                    texts = Texts("", "", "")
                    status, detail = Notification.Status.FAILED, str(exc)[:300]
                    connection.close()  # a broken SMTP session is reopened by the next send
            note.status, note.detail = status, detail[:300]
            note.sent_at = timezone.now() if status == Notification.Status.SENT else None
            note.title, note.body, note.link = texts.title[:200], texts.body, texts.link[:500]
            done.append(note)
            outcomes[note.pk] = status
            if len(done) >= WRITE_BATCH:
                _write(done)
                done = []
    finally:
        channels.smtp_connection.reset(reset)
        connection.close()
        _write(done)
    return outcomes


def _write(notes: list[Notification]) -> None:
    Notification.objects.bulk_update(
        notes, ["status", "detail", "sent_at", "title", "body", "link"], batch_size=WRITE_BATCH
    )
