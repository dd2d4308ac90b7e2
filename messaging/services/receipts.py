"""Read receipts and 了解 (acknowledgement). Reads arrive in storms and are written in
batches (realtime/batching.py); both keep the first time and stop the chase when its
condition is met."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from directory.models import User
from realtime.events import channel_group, send_event_on_commit, send_events_on_commit

from .. import selectors
from ..bulk import chases_cover, receipts_ack
from ..escalation import chase_event_by_id, chases_cover_for_receipts
from ..events import ChaseChanged, ReceiptChanged, UnreadChanged
from ..models import CommandGroup, Message, Receipt
from .messages import ERR_DELETED

ERR_NO_ACK_REQUESTED = _("This message does not ask for acknowledgement.")
ERR_NOT_RECIPIENT = _("This message was not addressed to you.")
ERR_OBSERVER_ACK = _("Observers receive instructions but do not acknowledge them.")


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


def _unread_events(pairs: set[tuple[int, int]], *, wait: bool = True) -> None:
    """Each reader's new unread count, to their own sockets (the group list's badges)."""
    counts = selectors.unread_counts(pairs=pairs)
    send_events_on_commit(
        [
            (UnreadChanged(group=group_id, unread=n), [channel_group("usr", user_id)])
            for (user_id, group_id), n in sorted(counts.items())
        ],
        wait=wait,
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
    if receipt.observer:
        raise PermissionDenied(ERR_OBSERVER_ACK)
    if receipt.acked_at is not None:
        return receipt
    now = timezone.now()
    receipt.acked_at = now
    receipt.read_at = receipt.read_at or now
    receipt.save(update_fields=["acked_at", "read_at"])
    _receipt_events(message.group_id, user.pk, [message.pk], {message.sender_id})
    _cover_chases([receipt.pk], user, now)
    return receipt


@dataclass(frozen=True)
class AckItem:
    """One 了解 tap: who, which message, when it reached the server, and the groups the person
    is a member of at that moment (the socket's own list, kept fresh by membership changes)."""

    user_id: int
    message_id: int
    at: datetime
    group_ids: Collection[int]


class AckRefused:
    """Why a 了解 changed nothing (the socket turns these into error frames)."""

    NOT_FOUND = "not_found"  # no such message, or not a member of its group
    NOT_RECIPIENT = "not_recipient"
    OBSERVER = "observer"
    NOT_REQUESTED = "not_requested"
    DELETED = "deleted"


@transaction.atomic
def receipts_acknowledge_bulk(*, items: Sequence[AckItem]) -> list[str | None]:
    """``receipt_acknowledge`` for the taps a server process collected over a moment (a
    headquarters of 2,000 tapping 了解 at once): one SELECT, one UPDATE of the receipts (each
    with its own tap time, only where not acknowledged yet), one UPDATE of their chases, one
    count event per group and one chase event per message. Each item is checked on its own;
    returns, per item, None (acknowledged, now or before) or an ``AckRefused`` code."""
    if not items:
        return []
    rows = Receipt.objects.filter(
        message_id__in={i.message_id for i in items}, user_id__in={i.user_id for i in items}
    ).values_list(
        "id",
        "message_id",
        "user_id",
        "group_id",
        "observer",
        "read_at",
        "acked_at",
        "message__requires_ack",
        "message__deleted_at",
        "message__sender_id",
    )
    found = {(r[2], r[1]): r for r in rows}
    results: list[str | None] = []
    wanted: dict[int, tuple[AckItem, tuple]] = {}  # receipt id -> its first tap in the batch
    missing: list[int] = []
    for item in items:
        row = found.get((item.user_id, item.message_id))
        if row is None:
            results.append(AckRefused.NOT_RECIPIENT)  # or NOT_FOUND: decided below
            missing.append(len(results) - 1)
            continue
        rid, _m, _u, group_id, observer, _read, acked_at, requires_ack, deleted_at, _s = row
        if group_id not in item.group_ids:
            results.append(AckRefused.NOT_FOUND)
        elif not requires_ack:
            results.append(AckRefused.NOT_REQUESTED)
        elif deleted_at is not None:
            results.append(AckRefused.DELETED)
        elif observer:
            results.append(AckRefused.OBSERVER)
        else:
            results.append(None)
            if acked_at is None and rid not in wanted:
                wanted[rid] = (item, row)
    if missing:  # a member who was not addressed (the sender, or joined later), or a stranger
        groups = dict(
            Message.objects.filter(pk__in={items[n].message_id for n in missing}).values_list(
                "pk", "group_id"
            )
        )
        for n in missing:
            if groups.get(items[n].message_id) not in items[n].group_ids:
                results[n] = AckRefused.NOT_FOUND
    changed = set(
        receipts_ack(rows=[(rid, item.at) for rid, (item, _row) in sorted(wanted.items())])
    )
    if not changed:
        return results
    covered = chases_cover(
        rows=[(rid, item.user_id, item.at) for rid, (item, _r) in wanted.items() if rid in changed]
    )
    by_group: dict[int, tuple[set[int], set[int]]] = {}
    unread: set[tuple[int, int]] = set()
    chase_targets: dict[int, tuple[int, int]] = {}
    for rid in changed:
        _item, (_r, message_id, user_id, group_id, _o, read_at, *_rest, sender_id) = wanted[rid]
        messages, senders = by_group.setdefault(group_id, (set(), set()))
        messages.add(message_id)
        senders.add(sender_id)
        chase_targets[message_id] = (group_id, sender_id)
        if read_at is None:  # acknowledging marked it read too: the person's unread count fell
            unread.add((user_id, group_id))
    send_events_on_commit(
        [
            (
                ReceiptChanged(group=group_id, messages=sorted(messages)),
                [channel_group("watch", group_id)]
                + [channel_group("usr", s) for s in sorted(senders)],
            )
            for group_id, (messages, senders) in sorted(by_group.items())
        ]
        + [
            (
                ChaseChanged(group=chase_targets[m][0], message=m),
                [
                    channel_group("watch", chase_targets[m][0]),
                    channel_group("usr", chase_targets[m][1]),
                ],
            )
            for m in covered
        ],
        wait=False,  # the batch's answers do not wait for the publishing
    )
    if unread:
        _unread_events(unread, wait=False)
    return results
