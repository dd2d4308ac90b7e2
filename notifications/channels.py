"""The ways a notification reaches a person: in the app (over the live socket, at once), Web Push
(VAPID, pywebpush) and e-mail. A channel is a name, whether it is delivered as it is written
(in-app) or later by the delivery task, and a ``deliver`` function; another channel (SMS, a
voice call) plugs in with ``register``."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import EmailMessage
from django.utils import timezone
from pywebpush import WebPushException, webpush

from directory.links import absolute_url

from .kinds import Texts
from .models import Notification, PushSubscription
from .vapid import vapid_keys

log = logging.getLogger(__name__)

Outcome = tuple[str, str]  # (Notification.Status, detail)
# The SMTP connection a delivery batch shares (delivery.py); None: one connection per message.
smtp_connection: ContextVar = ContextVar("smtp_connection", default=None)


def batch_connection():
    """The batch's mail connection, opened on first use and kept open (a backend closes a
    connection it opened itself after each send); None outside a batch."""
    connection = smtp_connection.get()
    if connection is not None:
        connection.open()  # no-op when already open
    return connection


@dataclass(frozen=True)
class Channel:
    name: str
    immediate: bool  # delivered as it is written (in-app); else by notifications_deliver_task
    deliver: Callable[[Notification, Texts], Outcome] | None = None


def _push(note: Notification, texts: Texts) -> Outcome:
    vapid, _public = vapid_keys()
    subs = list(PushSubscription.objects.filter(user_id=note.user_id)) if note.user_id else []
    if vapid is None or not subs:
        return Notification.Status.SKIPPED, "no push subscription" if subs == [] else "no VAPID key"
    payload = {
        "title": texts.title,
        "body": texts.body,
        "url": texts.link,
        "tag": f"honbu-{note.subject_id or 'test'}",
    }
    # The devices this notification already reached, recorded one by one as each push service
    # answers: a worker killed -9 between a person's first and second device left the row
    # "sending", and the redelivery sweep pushed to both again — the first device got it twice.
    # A re-send skips those (only the instant between a push service's 201 and this record
    # can still push one device twice; the ``tag`` makes the browser show it once).
    pushed = set((note.data or {}).get("pushed", []))
    ok = sum(1 for sub in subs if sub.pk in pushed)
    errors = []
    for sub in subs:
        if sub.pk in pushed:
            continue
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
            pushed.add(sub.pk)
            note.data = {**(note.data or {}), "pushed": sorted(pushed)}
            Notification.objects.filter(pk=note.pk, claim=note.claim).update(data=note.data)
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


def email_address(note: Notification) -> str:
    if note.user_id:
        return note.user.email
    return note.staff.email if note.staff_id else ""


def email_message_id(notification_id: int) -> str:
    """The Message-ID of a notification's e-mail: the same whenever it is sent, so a message
    sent again after a worker died between the mail server's OK and recording it is known for
    the same one (mail stores and the drills' checker can tell)."""
    domain = settings.DEFAULT_FROM_EMAIL.rpartition("@")[2].strip("> ") or "localhost"
    return f"<honbu.{settings.HONBU_INSTANCE}.n{notification_id}@{domain}>"


def email_send(note: Notification, *, to: str, subject: str, body: str) -> None:
    """One notification's e-mail, on the delivery batch's connection."""
    EmailMessage(
        subject=subject,
        body=body,
        to=[to],
        connection=batch_connection(),
        headers={"Message-ID": email_message_id(note.pk)},
    ).send()


def _email(note: Notification, texts: Texts) -> Outcome:
    address = email_address(note)
    if not address:
        return Notification.Status.SKIPPED, "no e-mail address"
    link = absolute_url(texts.link)  # the worker has no request: never a relative link
    email_send(
        note,
        to=address,
        subject=f"[{settings.HONBU_SITE_NAME}] {texts.title}",
        body=f"{texts.body}\n\n{link}\n",
    )
    return Notification.Status.SENT, address


_channels: dict[str, Channel] = {}


def register(channel: Channel) -> None:
    _channels[channel.name] = channel


def get(name: str) -> Channel:
    return _channels[name]


register(Channel(Notification.Channel.IN_APP, immediate=True))
register(Channel(Notification.Channel.PUSH, immediate=False, deliver=_push))
register(Channel(Notification.Channel.EMAIL, immediate=False, deliver=_email))
