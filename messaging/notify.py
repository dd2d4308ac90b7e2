"""Delivering reminders outside the app: Web Push (VAPID, pywebpush) and e-mail.

Each Notification row is claimed (pending → sending) with one conditional UPDATE before anything
is sent, so a task that runs twice never sends twice; if a worker dies between the claim and the
send, that one notification is lost rather than doubled (at most once), and in-app delivery and
the next reminder still reach the person.
"""

from __future__ import annotations

import base64
import json
import logging
from datetime import timedelta
from functools import lru_cache
from pathlib import Path

from django.conf import settings
from django.core.mail import send_mail
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from .models import Notification, PushSubscription, StandIn

log = logging.getLogger(__name__)


def _vapid_file() -> Path:
    return Path(settings.VAR_DIR) / "vapid_private.pem"


def vapid_generate(*, path: Path | None = None) -> Path:
    from py_vapid import Vapid

    path = path or _vapid_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    vapid = Vapid()
    vapid.generate_keys()
    path.write_bytes(vapid.private_pem())
    path.chmod(0o600)
    vapid_keys.cache_clear()
    return path


@lru_cache(maxsize=1)
def vapid_keys():
    """(Vapid instance, public key as the browser's applicationServerKey), or (None, "")."""
    from cryptography.hazmat.primitives import serialization
    from py_vapid import Vapid

    if settings.HONBU_VAPID_PRIVATE_KEY:
        vapid = Vapid.from_string(settings.HONBU_VAPID_PRIVATE_KEY)
    elif _vapid_file().exists():
        vapid = Vapid.from_pem(_vapid_file().read_bytes())
    else:
        return None, ""
    raw = vapid.public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return vapid, base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _texts(note: Notification) -> tuple[str, str, str]:
    """(title, body, url) in the recipient's language."""
    message = note.message
    if note.kind == Notification.Kind.TEST:
        return (
            _("Honbu test notification"),
            _("Notifications reach this device."),
            "/messages/notifications/",
        )
    url = f"/messages/g/{message.group_id}/#msg-{message.seq}"
    excerpt = (message.body or "")[:80]
    if note.kind == Notification.Kind.ESCALATION:
        stand_in = StandIn.objects.filter(chase_id=note.chase_id, deputy_id=note.user_id).first()
        holder = note.chase.receipt.user.display_name() if note.chase_id else ""
        url = f"/messages/standin/{stand_in.pk}/" if stand_in else url
        return (
            _("Standing in for %(holder)s") % {"holder": holder},
            f"{message.sender_name}: {excerpt}",
            url,
        )
    if note.kind == Notification.Kind.UNREACHED:
        return (
            _("Still unreached: %(names)s") % {"names": note.detail[:120]},
            f"{message.sender_name}: {excerpt}",
            f"/messages/m/{message.pk}/receipts/",
        )
    return (
        _("Reminder: please respond to this instruction"),
        f"{message.sender_name}: {excerpt}",
        url,
    )


def notifications_stale_pending(*, older_than: float = 60, limit: int = 1000) -> list[int]:
    """Push/e-mail rows still pending a while after they were written: their delivery task was
    never enqueued (the worker died between the sweep's commit and the enqueue, or Redis was
    away). The sweep hands them out again; the claim in notification_deliver keeps it once."""
    from . import clock

    cutoff = clock.now() - timedelta(seconds=older_than)
    return list(
        Notification.objects.filter(status=Notification.Status.PENDING, created_at__lt=cutoff)
        .order_by("id")
        .values_list("id", flat=True)[:limit]
    )


def notification_deliver(*, notification_id: int) -> str:
    claimed = Notification.objects.filter(
        pk=notification_id, status=Notification.Status.PENDING
    ).update(status=Notification.Status.SENDING)
    if not claimed:
        return "already"
    note = Notification.objects.select_related("message", "user", "chase__receipt__user").get(
        pk=notification_id
    )
    with translation.override(note.user.language or settings.LANGUAGE_CODE):
        title, body, url = _texts(note)
        if note.channel == Notification.Channel.PUSH:
            status, detail = _push(
                note,
                {
                    "title": title,
                    "body": body,
                    "url": url,
                    "tag": f"honbu-{note.message_id or 'test'}",
                },
            )
        else:
            status, detail = _email(note, title, body, url)
    Notification.objects.filter(pk=note.pk).update(
        status=status, detail=detail[:300], sent_at=timezone.now() if status == "sent" else None
    )
    return status


def _push(note: Notification, payload: dict) -> tuple[str, str]:
    from pywebpush import WebPushException, webpush

    vapid, _public = vapid_keys()
    subs = list(PushSubscription.objects.filter(user_id=note.user_id))
    if vapid is None or not subs:
        return Notification.Status.SKIPPED, "no push subscription" if subs == [] else "no VAPID key"
    ok = 0
    errors = []
    for sub in subs:
        try:
            webpush(
                subscription_info={
                    "endpoint": sub.endpoint,
                    "keys": {"p256dh": sub.p256dh, "auth": sub.auth},
                },
                data=json.dumps(payload, ensure_ascii=False),
                vapid_private_key=vapid,
                vapid_claims={"sub": settings.HONBU_VAPID_SUBJECT},
                ttl=3600,
                timeout=10,
            )
            ok += 1
            PushSubscription.objects.filter(pk=sub.pk).update(
                last_success_at=timezone.now(), failures=0
            )
        except WebPushException as exc:
            code = getattr(exc.response, "status_code", None)
            if code in (404, 410):  # the browser dropped this subscription
                sub.delete()
            else:
                PushSubscription.objects.filter(pk=sub.pk).update(failures=sub.failures + 1)
            errors.append(f"{code or ''} {exc}"[:100])
        except Exception as exc:  # network trouble must not kill the batch
            log.warning("push failed: %s", exc)
            errors.append(str(exc)[:100])
    if ok:
        return Notification.Status.SENT, f"{ok} device(s)"
    return Notification.Status.FAILED, "; ".join(errors)


def _email(note: Notification, title: str, body: str, url: str) -> tuple[str, str]:
    if not note.user.email:
        return Notification.Status.SKIPPED, "no e-mail address"
    base = settings.HONBU_PUBLIC_URL.rstrip("/")
    send_mail(
        subject=f"[{settings.HONBU_SITE_NAME}] {title}",
        message=f"{body}\n\n{base}{url}\n",
        from_email=None,
        recipient_list=[note.user.email],
    )
    return Notification.Status.SENT, note.user.email


def notification_test(*, user) -> list[int]:
    """The settings page's "send a test notification": one per enabled channel."""
    from django.db import transaction

    from . import events
    from .escalation import _channels_for, notification_new
    from .tasks import notifications_deliver_task

    now = timezone.now()
    made = []
    with transaction.atomic():
        for channel in _channels_for({user.pk})[user.pk]:
            note = notification_new(
                user=user, kind=Notification.Kind.TEST, channel=channel, created_at=now
            )
            note.save()
            made.append(note)
            if channel == "inapp":
                events.send_event_on_commit(
                    events.Reminder(notification=note.pk, kind="test", message=0),
                    groups=[events.channel_group("usr", user.pk)],
                )
        outbound = [n.pk for n in made if n.channel != "inapp"]
        if outbound:
            transaction.on_commit(lambda: notifications_deliver_task.delay(outbound))
    return [n.pk for n in made]
