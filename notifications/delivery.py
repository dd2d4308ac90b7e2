"""Sending one push or e-mail notification, for ``notifications_deliver_task``.

Each row is claimed (pending → sending) with one conditional UPDATE before anything is sent, so
a task that runs twice never sends twice; if a worker dies between the claim and the send, that
one notification is lost rather than doubled (at most once), and in-app delivery and the next
reminder still reach the person."""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone, translation

from . import channels, kinds
from .models import Notification


def _language(note: Notification) -> str:
    return (note.user.language if note.user_id else "") or settings.LANGUAGE_CODE


def notification_deliver(*, notification_id: int) -> str:
    """Send one push/e-mail notification, at most once. Returns its final status."""
    claimed = Notification.objects.filter(
        pk=notification_id, status=Notification.Status.PENDING
    ).update(status=Notification.Status.SENDING)
    if not claimed:
        return "already"
    note = Notification.objects.select_related("user", "staff").get(pk=notification_id)
    with translation.override(_language(note)):
        texts = kinds.get(note.kind).render(note)
        status, detail = channels.get(note.channel).deliver(note, texts)
    Notification.objects.filter(pk=note.pk).update(
        status=status,
        detail=detail[:300],
        sent_at=timezone.now() if status == Notification.Status.SENT else None,
        title=texts.title[:200],
        body=texts.body,
        link=texts.link[:500],
    )
    return status
