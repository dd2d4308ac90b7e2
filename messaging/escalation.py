"""Escalation: chase instructions that are not read/acknowledged — reminders, then the post's
deputies in order, then a report of who stayed unreached to the sender and the crisis office.

State lives in the database (Chase rows with an indexed ``next_due_at``); a periodic sweep
(Celery beat → ``escalation_sweep_task``) advances due chases in batches. Each step is written in
the same transaction that moves the chase on, under a row lock, and notifications are unique per
(chase step, person, channel) (their ``once_key``): a step fires at most once even if two sweeps
run together or a worker dies half-way (its transaction rolls back and the next sweep redoes it).
See docs/escalation.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from directory.models import OrgUnit, PostDeputy, Staff, User
from notifications.models import Notification
from notifications.selectors import channels_for
from notifications.services import notification_new, notifications_create
from realtime import clock
from realtime.events import channel_group, send_event_on_commit, send_events_on_commit

from .bulk import chases_insert
from .events import ChaseChanged
from .listeners import KIND_ESCALATION, KIND_REMINDER, KIND_UNREACHED
from .models import Chase, Message, StandIn
from .policies import POLICY_DEFAULTS

BATCH_SIZE = 500

ERR_NOT_YOUR_STANDIN = _("This instruction was not handed to you.")


# --- starting a chase (called by message_send, inside its transaction) ----------------------
def escalation_start(*, message: Message, policy: dict[str, Any]) -> int:
    """Create one chase per addressed recipient of an instruction. Returns how many."""
    if not policy.get("enabled"):
        return 0
    message.escalation = policy
    message.save(update_fields=["escalation"])
    due = message.created_at + timedelta(seconds=policy["first_after"])
    return chases_insert(message_id=message.pk, due=due)


# --- responses stop the chase ---------------------------------------------------------------
def chases_cover_for_receipts(*, receipt_ids: list[int], by: User, when: datetime) -> list[int]:
    """Called when receipts are read or acknowledged: chases whose stop condition is now met end.
    One conditional UPDATE per condition; returns the ids of the messages whose chases changed."""
    if not receipt_ids:
        return []
    base = Chase.objects.filter(receipt_id__in=receipt_ids, state=Chase.State.ACTIVE)
    met = Q(message__escalation__stop_on="read", receipt__read_at__isnull=False) | Q(
        receipt__acked_at__isnull=False
    )
    hit = list(base.filter(met).values_list("id", "message_id"))
    if hit:
        Chase.objects.filter(id__in=[c for c, _m in hit], state=Chase.State.ACTIVE).update(
            state=Chase.State.COVERED, covered_by=by, covered_at=when, next_due_at=None
        )
    return sorted({m for _c, m in hit})


@transaction.atomic
def standin_respond(*, user: User, stand_in: StandIn, acknowledge: bool) -> StandIn:
    """A deputy reads (or acknowledges) an instruction on behalf of the post. Depending on the
    policy's stop condition this covers the post: nobody is chased for it any more."""
    stand_in = (
        StandIn.objects.select_for_update().select_related("chase__message").get(pk=stand_in.pk)
    )
    if stand_in.deputy_id != user.pk:
        raise PermissionDenied(ERR_NOT_YOUR_STANDIN)
    now = clock.now()
    changed = []
    if stand_in.read_at is None:
        stand_in.read_at = now
        changed.append("read_at")
    if acknowledge and stand_in.acked_at is None:
        stand_in.acked_at = now
        changed.append("acked_at")
    if not changed:
        return stand_in
    stand_in.save(update_fields=changed)
    chase = Chase.objects.select_for_update().get(pk=stand_in.chase_id)
    stop_on = (chase.message.escalation or {}).get("stop_on", "ack")
    if chase.state == Chase.State.ACTIVE and (stand_in.acked_at or stop_on == "read"):
        chase.state, chase.covered_by, chase.covered_at, chase.next_due_at = (
            Chase.State.COVERED,
            user,
            now,
            None,
        )
        chase.save(update_fields=["state", "covered_by", "covered_at", "next_due_at"])
    chase_event(chase.message)
    return stand_in


# --- the sweep ------------------------------------------------------------------------------
@dataclass
class SweepResult:
    processed: int = 0
    reminders: int = 0
    escalations: int = 0
    unreached: int = 0
    covered: int = 0
    reports: int = 0
    notification_ids: list[int] = field(default_factory=list)


def escalation_sweep(
    *, now: datetime | None = None, batch_size: int = BATCH_SIZE, max_batches: int = 100
) -> SweepResult:
    """Advance every due chase by one step. Safe to run concurrently and repeatedly."""
    now = now or clock.now()
    total = SweepResult()
    for _batch in range(max_batches):
        result = _sweep_batch(now=now, batch_size=batch_size)
        for name in ("processed", "reminders", "escalations", "unreached", "covered", "reports"):
            setattr(total, name, getattr(total, name) + getattr(result, name))
        total.notification_ids += result.notification_ids
        if result.processed < batch_size:
            break
    return total


@transaction.atomic
def _sweep_batch(*, now: datetime, batch_size: int) -> SweepResult:
    result = SweepResult()
    chases = list(
        Chase.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(state=Chase.State.ACTIVE, next_due_at__lte=now)
        .select_related("receipt", "message")
        .order_by("next_due_at")[:batch_size]
    )
    if not chases:
        return result
    result.processed = len(chases)
    # Deputies of the posts involved, in order; stand-ins already made (a deputy may answer).
    post_ids = {c.post_id for c in chases if c.post_id}
    deputies: dict[int, list[tuple[int, int]]] = {}
    for post_id, rank, uid in (
        PostDeputy.objects.filter(
            post_id__in=post_ids,
            staff__is_active=True,
            staff__user__is_active=True,
            staff__user__isnull=False,
        )
        .order_by("rank")
        .values_list("post_id", "rank", "staff__user_id")
    ):
        deputies.setdefault(post_id, []).append((rank, uid))
    answered = {
        (chase_id): (read_at, acked_at)
        for chase_id, read_at, acked_at in StandIn.objects.filter(chase__in=chases)
        .filter(Q(read_at__isnull=False) | Q(acked_at__isnull=False))
        .values_list("chase_id", "read_at", "acked_at")
    }
    targets: dict[int, set[int]] = {}  # chase id -> user ids to notify this step
    kinds: dict[int, str] = {}
    new_standins: list[StandIn] = []
    touched_messages: set[int] = set()
    for chase in chases:
        policy = chase.message.escalation or POLICY_DEFAULTS["normal"]
        receipt = chase.receipt
        stop_read = policy["stop_on"] == "read"
        deputy_answer = answered.get(chase.pk)
        if (
            receipt.acked_at
            or (stop_read and receipt.read_at)
            or chase.message.deleted_at
            or (deputy_answer and (deputy_answer[1] or stop_read))
        ):
            chase.state = Chase.State.CANCELLED if chase.message.deleted_at else Chase.State.COVERED
            chase.covered_at, chase.next_due_at = now, None
            result.covered += 1
            touched_messages.add(chase.message_id)
            continue
        chase.step += 1
        touched_messages.add(chase.message_id)
        if chase.reminders < 1 + policy["repeat_count"]:
            chase.reminders += 1
            targets[chase.pk] = {receipt.user_id}
            kinds[chase.pk] = KIND_REMINDER
            # After the last reminder the next step is the first deputy (or "unreached").
            chase.next_due_at = now + timedelta(seconds=policy["repeat_every"])
            result.reminders += 1
            continue
        chain = deputies.get(chase.post_id, []) if policy["use_deputies"] else []
        nxt = next(
            (
                (rank, uid)
                for rank, uid in chain
                if rank > chase.deputy_rank and uid != receipt.user_id
            ),
            None,
        )
        if nxt is not None:
            chase.deputy_rank = nxt[0]
            new_standins.append(StandIn(chase=chase, deputy_id=nxt[1], rank=nxt[0]))
            targets[chase.pk] = {nxt[1]}
            kinds[chase.pk] = KIND_ESCALATION
            chase.next_due_at = now + timedelta(seconds=policy["deputy_wait"])
            result.escalations += 1
        else:
            chase.state, chase.next_due_at = Chase.State.UNREACHED, None
            result.unreached += 1
    _write_steps(chases)
    StandIn.objects.bulk_create(new_standins, ignore_conflicts=True)
    # Urgent instructions reach people by push whatever their settings say (channels_for).
    urgent = {c.pk for c in chases if c.message.priority == Message.Priority.URGENT}
    channels = channels_for(
        {u for cid, users in targets.items() if cid not in urgent for u in users}
    )
    urgent_channels = channels_for(
        {u for cid, users in targets.items() if cid in urgent for u in users}, urgent=True
    )
    subject_type = message_type()
    notes = []
    by_id = {c.pk: c for c in chases}
    for chase_id, users in targets.items():
        chase = by_id[chase_id]
        for uid in users:
            for channel in (urgent_channels if chase_id in urgent else channels)[uid]:
                notes.append(
                    notification_new(
                        subject_type=subject_type,
                        subject_id=chase.message_id,
                        data={"chase": chase_id, "step": chase.step},
                        once_key=f"chase:{chase_id}:{chase.step}",
                        user_id=uid,
                        kind=kinds[chase_id],
                        channel=channel,
                        created_at=now,
                    )
                )
    written = notifications_create(notes=notes)
    result.reports = _report_unreached(message_ids=touched_messages, now=now)
    result.notification_ids = [w.id for w in written if w.channel != Notification.Channel.IN_APP]
    send_events_on_commit(
        [
            (
                ChaseChanged(group=group_id, message=message_id),
                [channel_group("watch", group_id), channel_group("usr", sender_id)],
            )
            for message_id, group_id, sender_id in Message.objects.filter(
                pk__in=touched_messages
            ).values_list("id", "group_id", "sender_id")
        ]
    )
    return result


def _write_steps(chases: list[Chase]) -> None:
    """One UPDATE per distinct outcome: a batch has a handful (reminder n, deputy n, covered,
    unreached — all due at ``now + policy``), whereas bulk_update writes a CASE WHEN per row and
    field, which costs O(batch²) and built 36,000 expressions for 3,000 chases
    (bench/escalation.py)."""
    fields = ("state", "step", "reminders", "deputy_rank", "next_due_at", "covered_at")
    outcomes: dict[tuple, list[int]] = {}
    for chase in chases:
        outcomes.setdefault(tuple(getattr(chase, f) for f in fields), []).append(chase.pk)
    for values, ids in outcomes.items():
        Chase.objects.filter(pk__in=ids).update(**dict(zip(fields, values, strict=True)))


def _report_unreached(*, message_ids: set[int], now: datetime) -> int:
    """When an instruction has no active chase left and someone stayed unreached, tell the sender
    and the crisis-management office once (a conditional UPDATE makes it once)."""
    reports = 0
    for message_id in message_ids:
        if Chase.objects.filter(message_id=message_id, state=Chase.State.ACTIVE).exists():
            continue
        unreached = Chase.objects.filter(message_id=message_id, state=Chase.State.UNREACHED)
        if not unreached.exists():
            continue
        claimed = Message.objects.filter(pk=message_id, unreached_reported_at__isnull=True).update(
            unreached_reported_at=now
        )
        if not claimed:
            continue
        message = Message.objects.get(pk=message_id)
        recipients = {message.sender_id} | set(crisis_office_user_ids())
        names = list(
            unreached.values_list(
                "receipt__user__staff__family_name",
                "receipt__user__staff__given_name",
                "post__name",
            )
        )
        detail = "、".join(
            f"{post or ''} {fam or ''} {giv or ''}".strip() for fam, giv, post in names
        )[:300]
        channels = channels_for(recipients)
        notifications_create(
            notes=[
                notification_new(
                    subject_type=message_type(),
                    subject_id=message_id,
                    user_id=uid,
                    kind=KIND_UNREACHED,
                    channel=ch,
                    created_at=now,
                    detail=detail,
                )
                for uid in recipients
                for ch in channels[uid]
            ]
        )
        reports += 1
    return reports


def crisis_office_user_ids() -> list[int]:
    code = settings.HONBU_CRISIS_OFFICE_UNIT_CODE
    if not code:
        return []
    unit = OrgUnit.objects.filter(code=code).first()
    if unit is None:
        return []
    return list(
        Staff.objects.filter(
            unit__path__startswith=unit.path, is_active=True, user__is_active=True
        ).values_list("user_id", flat=True)
    )


def chase_event_by_id(message_id: int) -> None:
    message = Message.objects.only("id", "group_id", "sender_id").get(pk=message_id)
    chase_event(message)


def chase_event(message: Message) -> None:
    """The instruction's chase changed: its commanders' and its sender's pages re-read it."""
    send_event_on_commit(
        ChaseChanged(group=message.group_id, message=message.pk),
        groups=[
            channel_group("watch", message.group_id),
            channel_group("usr", message.sender_id),
        ],
    )


def message_type():
    """The content type notifications about an instruction point at (cached by Django)."""
    return ContentType.objects.get_for_model(Message)
