"""Read receipts and 了解 (acknowledgement). Reads arrive in storms and are written in
batches (realtime/batching.py); both keep the first time and stop the chase when its
condition is met."""

from __future__ import annotations

from collections.abc import Sequence

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from directory.models import User
from realtime.events import channel_group, send_event_on_commit, send_events_on_commit

from .. import selectors
from ..escalation import chase_event_by_id, chases_cover_for_receipts
from ..events import ReceiptChanged, UnreadChanged
from ..models import CommandGroup, Message, Receipt
from .messages import ERR_DELETED

ERR_NO_ACK_REQUESTED = _("This message does not ask for acknowledgement.")
ERR_NOT_RECIPIENT = _("This message was not addressed to you.")


def _receipt_events(group_id: int, user_id: int, message_ids: list[int], senders: set[int]) -> None:
    """Counts go to the group's commanders (watch group) and to each message's sender."""
    if not message_ids:
        return
    send_event_on_commit(
        ReceiptChanged(group=group_id, messages=message_ids),
        groups=[channel_group("watch", group_id)]
        + [channel_group("usr", s) for s in sorted(senders)],
    )
    _unread_events({(user_id, group_id)})


def _unread_events(pairs: set[tuple[int, int]]) -> None:
    """Each reader's new unread count, to their own sockets (the group list's badges)."""
    counts = selectors.unread_counts(pairs=pairs)
    send_events_on_commit(
        [
            (UnreadChanged(group=group_id, unread=n), [channel_group("usr", user_id)])
            for (user_id, group_id), n in sorted(counts.items())
        ]
    )


@transaction.atomic
def receipt_mark_read(*, user: User, group: CommandGroup, up_to_seq: int) -> list[int]:
    """Mark every message up to ``up_to_seq`` read (it has been shown on screen). One
    conditional UPDATE, so concurrent or repeated calls keep the first read time. Returns the
    ids of the messages newly marked."""
    return [row[1] for row in _mark_read({(user.pk, group.pk): up_to_seq})]


@transaction.atomic
def receipts_mark_read_bulk(*, items: Sequence[tuple[int, int, int]]) -> int:
    """``receipt_mark_read`` for many (user id, group id, up-to seq) at once — what a server
    process collects from its sockets over ~50 ms (messaging/batching.py). One SELECT, one
    UPDATE and one count event per group, however many phones reported reading at once."""
    wanted: dict[tuple[int, int], int] = {}
    for user_id, group_id, seq in items:
        wanted[(user_id, group_id)] = max(seq, wanted.get((user_id, group_id), 0))
    return len(_mark_read(wanted))


def _mark_read(wanted: dict[tuple[int, int], int]) -> list[tuple]:
    """The one mark-read path (the hottest write in a disaster): for each (user, group), the
    unread receipts up to its sequence number. Returns the rows it marked."""
    if not wanted:
        return []
    # In a storm nearly everyone reads up to the same message: one condition per (group, seq)
    # with the readers in an IN list, not one per reader (Django compiles each Q in Python).
    by_target: dict[tuple[int, int], list[int]] = {}
    for (user_id, group_id), seq in wanted.items():
        by_target.setdefault((group_id, seq), []).append(user_id)
    cond = Q(pk__in=[])
    for (group_id, seq), user_ids in by_target.items():
        cond |= Q(group_id=group_id, message__seq__lte=seq, user_id__in=user_ids)
    rows = list(
        Receipt.objects.filter(cond, read_at__isnull=True).values_list(
            "id",
            "message_id",
            "message__sender_id",
            "message__escalation__stop_on",
            "user_id",
            "group_id",
        )
    )
    if not rows:
        return []
    now = timezone.now()
    Receipt.objects.filter(id__in=[r[0] for r in rows], read_at__isnull=True).update(read_at=now)
    by_group: dict[int, tuple[set[int], set[int]]] = {}
    for _rid, message_id, sender_id, _stop, _user_id, group_id in rows:
        messages, senders = by_group.setdefault(group_id, (set(), set()))
        messages.add(message_id)
        senders.add(sender_id)
    for group_id, (messages, senders) in by_group.items():
        send_event_on_commit(
            ReceiptChanged(group=group_id, messages=sorted(messages)),
            groups=[channel_group("watch", group_id)]
            + [channel_group("usr", s) for s in sorted(senders)],
        )
    _unread_events({(r[4], r[5]) for r in rows})
    readers: dict[int, list[int]] = {}
    for rid, _m, _s, stop_on, user_id, _g in rows:
        if stop_on == "read":  # only chases that stop on "read" can end here
            readers.setdefault(user_id, []).append(rid)
    for user_id, receipt_ids in readers.items():
        _cover_chases(receipt_ids, User(pk=user_id), now)
    return rows


def _cover_chases(receipt_ids: list[int], user: User, now) -> None:
    for message_id in chases_cover_for_receipts(receipt_ids=receipt_ids, by=user, when=now):
        chase_event_by_id(message_id)


@transaction.atomic
def receipt_acknowledge(*, user: User, message: Message) -> Receipt:
    """了解: distinct from reading. Acknowledging also counts as having read it."""
    if not message.requires_ack:
        raise ValidationError(ERR_NO_ACK_REQUESTED)
    if message.deleted_at is not None:
        raise ValidationError(ERR_DELETED)
    receipt = Receipt.objects.select_for_update().filter(message=message, user=user).first()
    if receipt is None:
        raise PermissionDenied(ERR_NOT_RECIPIENT)
    if receipt.acked_at is not None:
        return receipt
    now = timezone.now()
    receipt.acked_at = now
    receipt.read_at = receipt.read_at or now
    receipt.save(update_fields=["acked_at", "read_at"])
    _receipt_events(message.group_id, user.pk, [message.pk], {message.sender_id})
    _cover_chases([receipt.pk], user, now)
    return receipt
