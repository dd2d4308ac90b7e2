"""Asking people to answer: the first message of a round and every re-send, as notifications
(e-mail to the work address and to the private one, in-app and push for those with accounts).
Each is once per person, channel and step (``once_key``), however often a task runs."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import transaction

from notifications.models import Notification
from notifications.selectors import channels_for
from notifications.services import notification_new, notifications_create
from realtime import clock

from .models import SafetyContact, SafetyRequest, SafetyRound

KIND_REQUEST = "safety_request"  # a person asked to answer (notices.py renders it)
CHANNEL_PRIVATE_EMAIL = "email_private"  # the private address of SafetyContact
NOTIFY_BATCH = 2000  # people a transaction (HONBU_SAFETY_NOTIFY_BATCH)
# A round whose first messages were not all written this long after its start (the worker
# that was writing them was killed, or the task never reached one) is written by the sweep.
START_GRACE_SECONDS = 60


def _batch() -> int:
    return getattr(settings, "HONBU_SAFETY_NOTIFY_BATCH", NOTIFY_BATCH)


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
    """The first message to everyone in the round, in batches (a task; safe to run again: each
    person's is written once). Marks the round ``notified_at`` when all are written; until
    then the sweep (round_resend_due) runs it again after START_GRACE_SECONDS."""
    total = 0
    batch = _batch()
    ids = list(  # who answered already (the sweep catching up late) needs no asking
        SafetyRequest.objects.filter(round_id=round_id, first_answer_at__isnull=True)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    for start in range(0, len(ids), batch):
        total += requests_notify(
            round_id=round_id, request_ids=ids[start : start + batch], step="start"
        )
    SafetyRound.objects.filter(pk=round_id, notified_at__isnull=True).update(
        notified_at=clock.now()
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


def notify_unanswered(round_id: int, *, field: str, before: int, step: str, limit: int) -> int:
    """One batch of a re-send: claim up to ``limit`` unanswered requests and write their
    notifications in the same transaction, so a worker (or server) killed in between leaves
    them unclaimed for the next sweep instead of claimed and never told. Returns how many."""
    with transaction.atomic():
        ids = claim_unanswered(round_id, field=field, before=before, limit=limit)
        if ids:
            requests_notify(round_id=round_id, request_ids=ids, step=step)
    return len(ids)


def round_resend_due(*, now: datetime | None = None, limit: int | None = None) -> int:
    """The sweep: rounds whose first messages were never all written (see round_notify_start),
    then for each open round the re-sends whose time has come (after 15, 30 and 60 minutes, by
    default), to those still unanswered. Returns how many people were re-sent."""
    now = now or clock.now()
    limit = limit or _batch()
    sent = 0
    for round_id in SafetyRound.objects.filter(
        status=SafetyRound.Status.OPEN,
        notified_at__isnull=True,
        started_at__lte=now - timedelta(seconds=START_GRACE_SECONDS),
    ).values_list("pk", flat=True):
        round_notify_start(round_id=round_id)
    for round_ in SafetyRound.objects.filter(status=SafetyRound.Status.OPEN):
        steps = round_.resend_minutes or []
        due = sum(1 for m in steps if round_.started_at + timedelta(minutes=m) <= now)
        for before in range(due):
            while n := notify_unanswered(
                round_.pk, field="resends", before=before, step=f"r{before + 1}", limit=limit
            ):
                sent += n
    return sent
