"""Writes of notifications, settings and push subscriptions.

Notifications are written by the app that sends them (in its own transaction) through
``notifications_create``; in-app ones go out over the live socket after commit, push and
e-mail through ``notifications_deliver_task`` (delivery.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy

from directory.models import User
from realtime.events import channel_group, send_events_on_commit

from . import channels, kinds, selectors
from .events import Reminder
from .models import Notification, NotificationSettings, PushSubscription
from .tasks import notifications_deliver_task

KIND_TEST = "test"
ERR_NOT_YOUR_DEVICE = gettext_lazy(
    "This browser is registered for push notifications by another person."
)


@dataclass(frozen=True)
class Written:
    """A notification row as written (what the sender needs to know about it)."""

    id: int
    user_id: int | None
    channel: str
    kind: str
    subject_id: int | None


def notification_new(*, channel: str, created_at: datetime, **fields: Any) -> Notification:
    """An unsaved Notification: in-app ones count as delivered as they are written (over the
    channel layer); push and e-mail wait for notifications_deliver_task."""
    in_app = channels.get(channel).immediate
    return Notification(
        channel=channel,
        created_at=created_at,
        status=Notification.Status.SENT if in_app else Notification.Status.PENDING,
        sent_at=created_at if in_app else None,
        **fields,
    )


def notifications_create(*, notes: Sequence[Notification]) -> list[Written]:
    """Write notifications (call inside the sender's transaction) and deliver them after it
    commits. Rows with a ``once_key`` that already exists for that person and channel are
    skipped, so a step repeated by a second sweep notifies nobody twice. Returns the rows
    written now."""
    kinds_used = {n.kind for n in notes}
    for name in kinds_used:
        kinds.get(name)  # an unregistered kind fails here, not in the worker
    keyed = [n for n in notes if n.once_key]
    plain = [n for n in notes if not n.once_key]
    written = [
        Written(n.pk, n.user_id, n.channel, n.kind, n.subject_id)
        for n in Notification.objects.bulk_create(plain, batch_size=1000)
    ]
    if keyed:
        Notification.objects.bulk_create(keyed, batch_size=1000, ignore_conflicts=True)
        stamps = {n.created_at for n in keyed}
        written += [
            Written(*row)
            for row in Notification.objects.filter(
                once_key__in={n.once_key for n in keyed}, created_at__in=stamps
            ).values_list("id", "user_id", "channel", "kind", "subject_id")
        ]
    _after_commit_delivery(written)
    return written


def _after_commit_delivery(written: list[Written]) -> None:
    """In-app notifications go over the channel layer (one hop for the whole batch); push and
    e-mail to a Celery task."""
    send_events_on_commit(
        [
            (
                Reminder(notification=w.id, kind=w.kind, message=w.subject_id or 0),
                [channel_group("usr", w.user_id)],
            )
            for w in written
            if channels.get(w.channel).immediate and w.user_id
        ]
    )
    outbound = [w.id for w in written if not channels.get(w.channel).immediate]
    if outbound:
        transaction.on_commit(lambda: notifications_deliver_task.delay(outbound))


def notification_open_link(*, note: Notification) -> str:
    """Where tapping the in-app banner leads (in the request's language)."""
    return kinds.get(note.kind).open_link(note)


def notification_test(*, user: User) -> list[int]:
    """The settings page's "send a test notification": one per channel the person has on."""
    now = timezone.now()
    with transaction.atomic():
        notes = [
            notification_new(user=user, kind=KIND_TEST, channel=channel, created_at=now)
            for channel in selectors.channels_for({user.pk})[user.pk]
        ]
        written = notifications_create(notes=notes)
    return [w.id for w in written]


# --- settings and devices -----------------------------------------------------------------
@transaction.atomic
def notification_settings_update(*, user: User, push: bool, email: bool) -> NotificationSettings:
    prefs, _created = NotificationSettings.objects.select_for_update().get_or_create(user=user)
    prefs.push, prefs.email = push, email
    prefs.save(update_fields=["push", "email"])
    return prefs


@transaction.atomic
def push_subscription_save(
    *, user: User, endpoint: str, p256dh: str, auth: str, user_agent: str = ""
) -> PushSubscription:
    """This browser's push endpoint, for ``user``. The same person may renew the keys; an
    endpoint registered by someone else stays theirs (posting another person's endpoint must
    not move their notifications): PermissionDenied, nothing changed. On a shared phone the
    first person signs out of push (the settings page removes the device) before the next
    one subscribes."""
    with transaction.atomic():
        existing = PushSubscription.objects.select_for_update().filter(endpoint=endpoint).first()
        if existing is not None and existing.user_id != user.pk:
            raise PermissionDenied(ERR_NOT_YOUR_DEVICE)
        subscription, _created = PushSubscription.objects.update_or_create(
            endpoint=endpoint,
            defaults={"user": user, "p256dh": p256dh, "auth": auth, "user_agent": user_agent[:300]},
        )
    return subscription


def push_subscription_delete(*, user: User, endpoint: str) -> int:
    """Forget one of the person's own devices; someone else's endpoint is left alone."""
    deleted, _by_model = PushSubscription.objects.filter(user=user, endpoint=endpoint).delete()
    return deleted
