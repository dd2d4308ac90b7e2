"""Escalation: chase instructions that are not read/acknowledged — reminders, then the post's
deputies in order, then a report of who stayed unreached to the sender and the crisis office.

State lives in the database (Chase rows with an indexed ``next_due_at``); a periodic sweep
(Celery beat → ``escalation_sweep_task``) advances due chases in batches. Each step is written in
the same transaction that moves the chase on, under a row lock, and Notification rows are unique
per (chase, step, person, channel): a step fires at most once even if two sweeps run together or
a worker dies half-way (its transaction rolls back and the next sweep redoes the step).
See docs/escalation.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from directory.models import PostDeputy, Staff, User
from directory.services import audit_record

from . import clock, events
from .bulk import chases_insert
from .models import (
    Chase,
    CommandGroup,
    EscalationPolicy,
    Message,
    Notification,
    NotificationSettings,
    StandIn,
)

# Defaults by priority: urgent instructions are chased harder.
POLICY_DEFAULTS: dict[str, dict[str, Any]] = {
    "normal": {
        "enabled": True,
        "stop_on": "ack",
        "first_after": 300,
        "repeat_every": 300,
        "repeat_count": 2,
        "use_deputies": True,
        "deputy_wait": 300,
    },
    "important": {
        "enabled": True,
        "stop_on": "ack",
        "first_after": 300,
        "repeat_every": 300,
        "repeat_count": 2,
        "use_deputies": True,
        "deputy_wait": 300,
    },
    "urgent": {
        "enabled": True,
        "stop_on": "ack",
        "first_after": 120,
        "repeat_every": 120,
        "repeat_count": 2,
        "use_deputies": True,
        "deputy_wait": 180,
    },
}
POLICY_FIELDS = (
    "enabled",
    "stop_on",
    "first_after",
    "repeat_every",
    "repeat_count",
    "use_deputies",
    "deputy_wait",
)
BATCH_SIZE = 500

ERR_CANNOT_EDIT_POLICY = _(
    "Only commanders, drill coordinators and administrators can change the escalation policy."
)
ERR_BAD_POLICY = _("The escalation policy is not valid: %(detail)s")
ERR_NOT_YOUR_STANDIN = _("This instruction was not handed to you.")


# --- policies -------------------------------------------------------------------------------
def policy_for(*, group: CommandGroup, priority: str) -> dict[str, Any]:
    row = EscalationPolicy.objects.filter(group=group, priority=priority).first()
    if row is None:
        return dict(POLICY_DEFAULTS.get(priority, POLICY_DEFAULTS["normal"]))
    return {f: getattr(row, f) for f in POLICY_FIELDS}


def policy_clean(data: dict[str, Any]) -> dict[str, Any]:
    """Validate a policy given as a dict (a group default or a per-instruction override)."""
    out = dict(POLICY_DEFAULTS["normal"])
    out.update({k: v for k, v in data.items() if k in POLICY_FIELDS})
    problems = []
    if out["stop_on"] not in EscalationPolicy.StopOn.values:
        problems.append("stop_on")
    for name in ("first_after", "repeat_every", "deputy_wait"):
        if (
            not isinstance(out[name], int)
            or isinstance(out[name], bool)
            or not 1 <= out[name] <= 7 * 86400
        ):
            problems.append(name)
    if not isinstance(out["repeat_count"], int) or not 0 <= out["repeat_count"] <= 20:
        problems.append("repeat_count")
    for name in ("enabled", "use_deputies"):
        out[name] = bool(out[name])
    if problems:
        raise ValidationError(ERR_BAD_POLICY % {"detail": ", ".join(problems)})
    return out


def user_can_edit_policy(*, user: User, group: CommandGroup) -> bool:
    from . import selectors

    if not (user.is_authenticated and user.is_active):
        return False
    if user.role in (User.Role.ADMIN, User.Role.COORDINATOR):
        return True
    return selectors.user_group_role(user=user, group=group) == "commander"


@transaction.atomic
def policy_update(
    *, group: CommandGroup, priority: str, actor: User, **fields: Any
) -> EscalationPolicy:
    if not user_can_edit_policy(user=actor, group=group):
        raise PermissionDenied(ERR_CANNOT_EDIT_POLICY)
    if priority not in Message.Priority.values:
        raise ValidationError(ERR_BAD_POLICY % {"detail": "priority"})
    current = policy_for(group=group, priority=priority)
    cleaned = policy_clean({**current, **fields})
    row, _created = EscalationPolicy.objects.select_for_update().get_or_create(
        group=group, priority=priority, defaults=cleaned
    )
    for name, value in cleaned.items():
        setattr(row, name, value)
    row.save()
    audit_record(
        actor=actor,
        action="policy.update",
        target=group,
        data={"priority": priority, "before": current, "after": cleaned},
    )
    return row


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
    _chase_event(chase.message)
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


def notification_new(*, channel: str, created_at: datetime, **fields: Any) -> Notification:
    """An unsaved Notification: in-app ones are delivered (over the channel layer) as they are
    written; push and e-mail wait for notifications_deliver_task."""
    in_app = channel == Notification.Channel.IN_APP
    return Notification(
        channel=channel,
        created_at=created_at,
        status=Notification.Status.SENT if in_app else Notification.Status.PENDING,
        sent_at=created_at if in_app else None,
        **fields,
    )


def _channels_for(user_ids: set[int]) -> dict[int, list[str]]:
    prefs = {s.user_id: s for s in NotificationSettings.objects.filter(user_id__in=user_ids)}
    emails = dict(User.objects.filter(pk__in=user_ids).values_list("pk", "email"))
    out = {}
    for uid in user_ids:
        pref = prefs.get(uid)
        chans = [Notification.Channel.IN_APP]
        if pref is None or pref.push:
            chans.append(Notification.Channel.PUSH)
        if (pref is None or pref.email) and emails.get(uid):
            chans.append(Notification.Channel.EMAIL)
        out[uid] = chans
    return out


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
            kinds[chase.pk] = Notification.Kind.REMINDER
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
            kinds[chase.pk] = Notification.Kind.ESCALATION
            chase.next_due_at = now + timedelta(seconds=policy["deputy_wait"])
            result.escalations += 1
        else:
            chase.state, chase.next_due_at = Chase.State.UNREACHED, None
            result.unreached += 1
    _write_steps(chases)
    StandIn.objects.bulk_create(new_standins, ignore_conflicts=True)
    channels = _channels_for({u for users in targets.values() for u in users})
    notes = []
    by_id = {c.pk: c for c in chases}
    for chase_id, users in targets.items():
        chase = by_id[chase_id]
        for uid in users:
            for channel in channels[uid]:
                notes.append(
                    notification_new(
                        message_id=chase.message_id,
                        chase_id=chase_id,
                        step=chase.step,
                        user_id=uid,
                        kind=kinds[chase_id],
                        channel=channel,
                        created_at=now,
                    )
                )
    Notification.objects.bulk_create(notes, batch_size=1000, ignore_conflicts=True)
    created = list(
        Notification.objects.filter(chase_id__in=list(targets), created_at=now).values_list(
            "id", "user_id", "channel", "kind", "message_id", "chase_id"
        )
    )
    result.reports = _report_unreached(message_ids=touched_messages, now=now)
    outbound = [
        nid for nid, _u, channel, *_rest in created if channel != Notification.Channel.IN_APP
    ]
    result.notification_ids = outbound
    _after_commit_delivery(created, outbound)
    events.send_events_on_commit(
        [
            (
                events.ChaseChanged(group=group_id, message=message_id),
                [events.channel_group("watch", group_id), events.channel_group("usr", sender_id)],
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
        channels = _channels_for(recipients)
        notes = [
            notification_new(
                message_id=message_id,
                chase=None,
                step=0,
                user_id=uid,
                kind=Notification.Kind.UNREACHED,
                channel=ch,
                created_at=now,
                detail=detail,
            )
            for uid in recipients
            for ch in channels[uid]
        ]
        made = Notification.objects.bulk_create(notes)
        rows = [(n.pk, n.user_id, n.channel, n.kind, n.message_id, None) for n in made]
        _after_commit_delivery(rows, [n.pk for n in made if n.channel != "inapp" and n.pk])
        reports += 1
    return reports


def crisis_office_user_ids() -> list[int]:
    code = settings.HONBU_CRISIS_OFFICE_UNIT_CODE
    if not code:
        return []
    from directory.models import OrgUnit

    unit = OrgUnit.objects.filter(code=code).first()
    if unit is None:
        return []
    return list(
        Staff.objects.filter(
            unit__path__startswith=unit.path, is_active=True, user__is_active=True
        ).values_list("user_id", flat=True)
    )


def _after_commit_delivery(rows: list[tuple], outbound: list[int]) -> None:
    """In-app reminders go over the channel layer (one hop for the whole batch); push and
    e-mail to a Celery task."""
    events.send_events_on_commit(
        [
            (
                events.Reminder(notification=nid, kind=kind, message=message_id),
                [events.channel_group("usr", uid)],
            )
            for nid, uid, channel, kind, message_id, _chase in rows
            if channel == Notification.Channel.IN_APP
        ]
    )
    if outbound:
        from .tasks import notifications_deliver_task

        ids = list(outbound)
        transaction.on_commit(lambda: notifications_deliver_task.delay(ids))


def _chase_event_by_id(message_id: int) -> None:
    message = Message.objects.only("id", "group_id", "sender_id").get(pk=message_id)
    _chase_event(message)


def _chase_event(message: Message) -> None:
    events.send_event_on_commit(
        events.ChaseChanged(group=message.group_id, message=message.pk),
        groups=[
            events.channel_group("watch", message.group_id),
            events.channel_group("usr", message.sender_id),
        ],
    )
