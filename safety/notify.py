"""Asking people to answer: the first message of a round and every re-send, as notifications
(e-mail to the work address and to the private one, in-app and push for those with accounts).
Each is once per person, channel and step (``once_key``), however often a task runs."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.contrib.contenttypes.models import ContentType
from django.db import transaction

from notifications.models import Notification
from notifications.selectors import channels_for
from notifications.services import notification_new, notifications_create
from realtime import clock

from .models import SafetyContact, SafetyRequest, SafetyRound

KIND_REQUEST = "safety_request"  # a person asked to answer (notices.py renders it)
CHANNEL_PRIVATE_EMAIL = "email_private"  # the private address of SafetyContact
NOTIFY_BATCH = 2000


def _request_type() -> ContentType:
    return ContentType.objects.get_for_model(SafetyRequest)


def requests_notify(*, round_id: int, request_ids: Iterable[int], step: str) -> int:
    """Write the notifications asking these people to answer (e-mail to the work address and
    the private one, in-app and push for those with accounts); ``step`` makes each once per
    person and channel ("start", "r1" …, "m1" …). Returns how many were written."""
    ids = list(request_ids)
    rows = list(
        SafetyRequest.objects.filter(pk__in=ids).values_list(
            "pk", "staff_id", "staff__user_id", "staff__user__is_active", "staff__email"
        )
    )
    users = {uid for _r, _s, uid, active, _e in rows if uid and active}
    channels = channels_for(users, urgent=True)
    private = set(
        SafetyContact.objects.filter(staff_id__in=[s for _r, s, *_x in rows]).values_list(
            "staff_id", flat=True
        )
    )
    now = clock.now()
    subject = _request_type()
    notes = []
    for rid, staff_id, uid, active, email in rows:
        common = {
            "subject_type": subject,
            "subject_id": rid,
            "kind": KIND_REQUEST,
            "created_at": now,
            "once_key": f"safety:{round_id}:{rid}:{step}",
        }
        if uid and active:
            for channel in channels[uid]:
                notes.append(notification_new(user_id=uid, channel=channel, **common))
        elif email:
            notes.append(
                notification_new(staff_id=staff_id, channel=Notification.Channel.EMAIL, **common)
            )
        if staff_id in private:
            notes.append(
                notification_new(
                    user_id=uid if uid and active else None,
                    staff_id=staff_id,
                    channel=CHANNEL_PRIVATE_EMAIL,
                    **common,
                )
            )
    with transaction.atomic():
        written = notifications_create(notes=notes)
    return len(written)


def round_notify_start(*, round_id: int) -> int:
    """The first message to everyone in the round, in batches (a task; safe to run again)."""
    total = 0
    ids = list(
        SafetyRequest.objects.filter(round_id=round_id).order_by("pk").values_list("pk", flat=True)
    )
    for start in range(0, len(ids), NOTIFY_BATCH):
        total += requests_notify(
            round_id=round_id, request_ids=ids[start : start + NOTIFY_BATCH], step="start"
        )
    return total


def claim_unanswered(round_id: int, *, field: str, before: int, limit: int) -> list[int]:
    """Move up to ``limit`` unanswered requests from ``before`` to ``before + 1`` re-sends in
    one short transaction (rows locked, others skipped): each gets each step once, even with
    two workers sweeping at once."""
    with transaction.atomic():
        ids = list(
            SafetyRequest.objects.select_for_update(skip_locked=True)
            .filter(
                round_id=round_id,
                first_answer_at__isnull=True,
                **{field: before},
            )
            .order_by("pk")
            .values_list("pk", flat=True)[:limit]
        )
        if ids:
            SafetyRequest.objects.filter(pk__in=ids, **{field: before}).update(
                **{field: before + 1}
            )
    return ids


def round_resend_due(*, now: datetime | None = None, limit: int = NOTIFY_BATCH) -> int:
    """The sweep: for each open round, the re-sends whose time has come (after 15, 30 and 60
    minutes, by default), to those still unanswered. Returns how many people were re-sent."""
    now = now or clock.now()
    sent = 0
    for round_ in SafetyRound.objects.filter(status=SafetyRound.Status.OPEN):
        steps = round_.resend_minutes or []
        due = sum(1 for m in steps if round_.started_at + timedelta(minutes=m) <= now)
        for before in range(due):
            while True:
                ids = claim_unanswered(round_.pk, field="resends", before=before, limit=limit)
                if not ids:
                    break
                requests_notify(round_id=round_.pk, request_ids=ids, step=f"r{before + 1}")
                sent += len(ids)
    return sent
