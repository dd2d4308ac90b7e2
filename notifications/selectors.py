"""Reads of notifications, settings and devices."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Q

from directory.models import User
from realtime import clock

from .models import Notification, NotificationSettings, PushSubscription

STALE_CLAIM = 300  # seconds: a claim this old belongs to a delivery that died


def channels_for(user_ids: set[int], *, urgent: bool = False) -> dict[int, list[str]]:
    """The channels each person is reached on: in the app always; push and e-mail unless they
    turned them off (e-mail only with an address). Something urgent cannot be muted below in-app
    and push. Two queries, however many people."""
    prefs = {s.user_id: s for s in NotificationSettings.objects.filter(user_id__in=user_ids)}
    emails = dict(User.objects.filter(pk__in=user_ids).values_list("pk", "email"))
    out = {}
    for uid in user_ids:
        pref = prefs.get(uid)
        chans = [Notification.Channel.IN_APP]
        if urgent or pref is None or pref.push:
            chans.append(Notification.Channel.PUSH)
        if (pref is None or pref.email) and emails.get(uid):
            chans.append(Notification.Channel.EMAIL)
        out[uid] = chans
    return out


def notifications_stale_pending(*, older_than: float = 60, limit: int = 1000) -> list[int]:
    """Push/e-mail rows still pending a while after they were written (their delivery task
    was never enqueued: the worker died between the sender's commit and the enqueue, or Redis
    was away), and rows a dead delivery had claimed (delivery.STALE_CLAIM). The sweep hands
    them out again; the claim in notifications_deliver keeps two deliveries apart."""
    now = clock.now()
    lost = Q(status=Notification.Status.PENDING, created_at__lt=now - timedelta(seconds=older_than))
    dead = Q(
        status=Notification.Status.SENDING,
        claimed_at__lt=now - timedelta(seconds=STALE_CLAIM),
    )
    return list(
        Notification.objects.filter(lost | dead).order_by("id").values_list("id", flat=True)[:limit]
    )


MISSED_LIMIT = 20  # a page back after a long absence shows the newest; the rest are on Home
MISSED_HOURS = 24


def inapp_missed(*, user: User, after: int | None) -> dict:
    """The person's in-app notifications after ``after`` (what a reconnecting page missed), at
    most MISSED_LIMIT of the last MISSED_HOURS, oldest first, as ``reminder`` frames carry them;
    ``last`` is the newest id (with ``after`` None: only that, for a page's first connect)."""
    mine = Notification.objects.filter(user=user, channel=Notification.Channel.IN_APP)
    if after is None:
        last = mine.order_by("-pk").values_list("pk", flat=True).first()
        return {"last": last or 0, "items": []}
    since = clock.now() - timedelta(hours=MISSED_HOURS)
    rows = list(
        mine.filter(pk__gt=after, created_at__gte=since)
        .order_by("-pk")
        .values_list("pk", "kind", "subject_id")[:MISSED_LIMIT]
    )[::-1]
    items = [{"notification": pk, "kind": kind, "message": sid or 0} for pk, kind, sid in rows]
    return {"last": rows[-1][0] if rows else after, "items": items}


def user_notification(*, user: User, notification_id: int) -> Notification | None:
    """One of the person's own notifications (anyone else's is "not found")."""
    return Notification.objects.filter(pk=notification_id, user=user).first()


def user_settings(*, user: User) -> NotificationSettings:
    """The person's settings, unsaved defaults if they never changed them."""
    found = NotificationSettings.objects.filter(user=user).first()
    return found or NotificationSettings(user=user)


def user_device_count(*, user: User) -> int:
    return PushSubscription.objects.filter(user=user).count()
