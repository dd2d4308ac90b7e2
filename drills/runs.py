"""Running an exercise: start a run of a scenario against the real groups and staff, fire its
injects on schedule from a beat sweep, pause, resume, skip, fire now, add an unplanned inject,
stop; and stop or pause every drill when a real disaster is declared. Every action is audited.

The sweep locks due injects (``SELECT … FOR UPDATE SKIP LOCKED``), fires each and marks it
fired in the same transaction: two sweeps at once split the work, and a worker that dies mid-way
rolls back, so the next sweep fires what it had not committed — every inject at most once and
none lost. A fired inject whose expectations' deadlines have passed is checked once (the same
lock); a missed expectation fires the inject's contingency."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from directory.models import User
from directory.services import audit_record
from messaging import selectors as messaging_selectors
from messaging import services as messaging_services
from messaging.models import CommandGroup, Message
from realtime import clock
from safety import rounds as safety_rounds
from safety.models import Incident

from . import metrics
from .models import Inject, Run, RunEntry, RunInject, Scenario

ERR_NOT_COORDINATOR = gettext_lazy("Only drill coordinators and administrators run drills.")
ERR_SPEED = gettext_lazy("The speed must be 1, 2 or 5.")
ERR_NOT_RUNNING = gettext_lazy("This drill is not running.")
ERR_NOT_PAUSED = gettext_lazy("This drill is not paused.")
ERR_ENDED = gettext_lazy("This drill has ended.")
ERR_NOT_DUE = gettext_lazy("This inject is no longer due.")
ERR_CANNOT_SEND = gettext_lazy("Inject %(n)s cannot be sent: %(why)s")
ERR_OUTSIDE_UNITS = gettext_lazy(
    "This safety round asks only units that do not take part in this drill."
)
SPEEDS = (1, 2, 5)
BATCH = 50


def user_runs_drills(*, user: User) -> bool:
    return bool(
        user.is_authenticated
        and user.is_active
        and user.role in (User.Role.ADMIN, User.Role.COORDINATOR)
    )


def _check(user: User) -> None:
    if not user_runs_drills(user=user):
        raise PermissionDenied(ERR_NOT_COORDINATOR)


def _entry(run: Run, actor: User | None, action: str, **data: Any) -> None:
    RunEntry.objects.create(run=run, at=clock.now(), actor=actor, action=action, data=data)
    audit_record(actor=actor, action=f"drill.{action}", target=run, data=data)


def _sender(run: Run, inject_kind: str, from_post) -> User | None:
    if from_post is not None:
        holder = from_post.holder
        return holder.user if holder and holder.user_id and holder.user.is_active else None
    return run.started_by  # the exercise control cell (統制部): the coordinator


def _problems(run: Run, injects: list[Inject]) -> list[str]:
    """Why injects could not be sent (checked before the run starts, so it does not fail
    half-way): a sender who may not post there, a message without a group."""
    out = []
    for inject in injects:
        if inject.kind not in (Inject.Kind.SITUATION, Inject.Kind.INSTRUCTION):
            continue
        group = inject.to_group
        sender = _sender(run, inject.kind, inject.from_post)
        if group is None:
            why = _("no group to send it to")
        elif sender is None:
            why = _("the post has no holder with an account")
        elif inject.kind == Inject.Kind.INSTRUCTION and not messaging_selectors.user_can_instruct(
            user=sender, group=group
        ):
            why = _("%(who)s is not a commander of %(group)s") % {
                "who": sender.display_name(),
                "group": group.name,
            }
        elif not messaging_selectors.role_can_post(
            messaging_selectors.user_group_role(user=sender, group=group)
        ):
            why = _("%(who)s may not post in %(group)s") % {
                "who": sender.display_name(),
                "group": group.name,
            }
        else:
            continue
        out.append(str(ERR_CANNOT_SEND % {"n": inject.number, "why": why}))
    return out


@transaction.atomic
def run_start(
    *,
    scenario: Scenario,
    actor: User,
    speed: int = 1,
    start_at: datetime | None = None,
    on_real_incident: str = Run.OnRealIncident.STOP,
    units: list | None = None,
) -> Run:
    """``units``: play only part of the city (its safety rounds ask only these units' staff
    and the measurements count only their people); none: everyone."""
    _check(actor)
    if speed not in SPEEDS:
        raise ValidationError(ERR_SPEED)
    start_at = start_at or clock.now()
    run = Run.objects.create(
        scenario=scenario,
        status=Run.Status.RUNNING,
        speed=speed,
        start_at=start_at,
        started_by=actor,
        on_real_incident=on_real_incident,
    )
    if units:
        run.units.set(units)
    injects = list(scenario.injects.select_related("from_post__holder__user", "to_group"))
    problems = _problems(run, injects)
    if problems:
        raise ValidationError(problems)
    RunInject.objects.bulk_create(
        [
            RunInject(
                run=run,
                inject=inject,
                number=inject.number,
                kind=inject.kind,
                text=inject.text,
                due_at=None
                if inject.only_as_contingency
                else start_at + timedelta(seconds=inject.offset / speed),
            )
            for inject in injects
        ]
    )
    _entry(
        run,
        actor,
        "start",
        speed=speed,
        start_at=start_at.isoformat(),
        units=[u.pk for u in units or []],
    )
    return run


def within(paths: list[str], path: str) -> bool:
    """Whether the unit at ``path`` is one of ``paths`` or below one of them (materialised
    paths "/1/7/": a subtree is a prefix)."""
    return any(path.startswith(p) for p in paths)


def _round_target(run: Run, inject_units: list) -> dict:
    """Whom a safety-round inject asks: its own units, the run's, or the part of its own units
    inside the run's (none inside: the inject cannot be sent)."""
    run_units = list(run.units.all())
    if not run_units:
        return {"units": [u.pk for u in inject_units]} if inject_units else {"all": True}
    if not inject_units:
        return {"units": [u.pk for u in run_units]}
    paths = [u.path for u in run_units]
    inside = [u.pk for u in inject_units if within(paths, u.path)]
    if not inside:
        raise ValidationError(ERR_OUTSIDE_UNITS)
    return {"units": inside}


def _fire(ri: RunInject) -> None:
    """Send what the inject is, as exercise traffic (marked 【訓練】 everywhere)."""
    run = ri.run
    inject = ri.inject
    if inject is not None:
        group, from_post, priority = inject.to_group, inject.from_post, inject.priority
        units = list(inject.to_units.all())
    else:  # an unplanned inject added during the run
        group = ri.message.group if ri.message_id else None
        from_post, priority, units = None, Message.Priority.URGENT, []
        if ri.detail.startswith("group:"):
            group = CommandGroup.objects.filter(pk=int(ri.detail.split(":", 1)[1])).first()
    if ri.kind in (Inject.Kind.SITUATION, Inject.Kind.INSTRUCTION, Inject.Kind.JMA):
        sender = _sender(run, ri.kind, from_post if ri.kind != Inject.Kind.JMA else None)
        instruction = ri.kind == Inject.Kind.INSTRUCTION
        ri.message = messaging_services.message_send(
            group=group,
            sender=sender,
            body=ri.text,
            client_id=uuid.uuid5(uuid.NAMESPACE_URL, f"honbu-drill:{run.pk}:{ri.pk}"),
            kind=Message.Kind.INSTRUCTION if instruction else Message.Kind.MESSAGE,
            priority=priority if instruction else Message.Priority.NORMAL,
            requires_ack=instruction,
            exercise=True,
        ).message
    elif ri.kind == Inject.Kind.SAFETY_ROUND:
        target = _round_target(run, units)
        ri.round = safety_rounds.round_start(
            actor=run.started_by, title=ri.text[:120], target=target, is_drill=True
        )
    elif ri.kind == Inject.Kind.CALL:
        metrics.call_reminder(run=run, text=ri.text)


def _due(now: datetime) -> list[RunInject]:
    return list(
        RunInject.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(status=RunInject.Status.DUE, due_at__lte=now, run__status=Run.Status.RUNNING)
        .select_related("run__started_by", "inject__from_post__holder__user", "inject__to_group")
        .order_by("due_at", "number")[:BATCH]
    )


def drills_sweep(*, now: datetime | None = None) -> int:
    """Fire what is due, check expectations whose deadline passed, finish finished runs.
    Returns how many injects fired."""
    now = now or clock.now()
    fired = 0
    while True:
        with transaction.atomic():
            due = _due(now)
            for ri in due:
                try:
                    with transaction.atomic():
                        _fire(ri)
                        ri.status, ri.fired_at = RunInject.Status.FIRED, clock.now()
                        ri.save(update_fields=["status", "fired_at", "message", "round"])
                    fired += 1
                except (ValidationError, PermissionDenied) as exc:
                    RunInject.objects.filter(pk=ri.pk).update(
                        status=RunInject.Status.FAILED, detail=" ".join(exc.messages)[:300]
                    )
        if len(due) < BATCH:
            break
    _check_expectations(now)
    _finish(now)
    return fired


def _check_expectations(now: datetime) -> None:
    with transaction.atomic():
        for ri in (
            RunInject.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(status=RunInject.Status.FIRED, checked=False, inject__isnull=False)
            .select_related("inject__contingency", "run", "message", "round")[:BATCH]
        ):
            deadline = metrics.last_deadline(ri)
            if deadline is None or deadline > now:
                continue
            ri.checked = True
            ri.save(update_fields=["checked"])
            contingency = ri.inject.contingency
            if contingency is None or all(e.met for e in metrics.expectations(ri, now=now)):
                continue
            RunInject.objects.create(
                run=ri.run,
                inject=contingency,
                number=contingency.number,
                kind=contingency.kind,
                text=contingency.text,
                due_at=now,
                contingency_of=ri,
            )
            _entry(ri.run, None, "contingency", inject=contingency.number, missed=ri.number)


def _finish(now: datetime) -> None:
    for run in Run.objects.filter(status=Run.Status.RUNNING):
        open_ = RunInject.objects.filter(run=run, status=RunInject.Status.DUE, due_at__isnull=False)
        unchecked = RunInject.objects.filter(
            run=run, status=RunInject.Status.FIRED, checked=False, inject__isnull=False
        ).exclude(inject__expectations=[])
        if not open_.exists() and not unchecked.exists():
            updated = Run.objects.filter(pk=run.pk, status=Run.Status.RUNNING).update(
                status=Run.Status.FINISHED, ended_at=now
            )
            if updated:
                _entry(run, None, "finish")


# --- control -------------------------------------------------------------------------------
def _locked(run: Run) -> Run:
    return Run.objects.select_for_update().get(pk=run.pk)


@transaction.atomic
def run_pause(*, run: Run, actor: User | None) -> Run:
    if actor is not None:
        _check(actor)
    run = _locked(run)
    if run.status != Run.Status.RUNNING:
        raise ValidationError(ERR_NOT_RUNNING)
    run.status, run.paused_at = Run.Status.PAUSED, clock.now()
    run.save(update_fields=["status", "paused_at"])
    _entry(run, actor, "pause")
    return run


@transaction.atomic
def run_resume(*, run: Run, actor: User) -> Run:
    """Carry on where it paused: everything still due moves later by the pause."""
    _check(actor)
    run = _locked(run)
    if run.status != Run.Status.PAUSED:
        raise ValidationError(ERR_NOT_PAUSED)
    paused = clock.now() - run.paused_at
    RunInject.objects.filter(run=run, status=RunInject.Status.DUE, due_at__isnull=False).update(
        due_at=F("due_at") + paused
    )
    run.status, run.paused_at = Run.Status.RUNNING, None
    run.save(update_fields=["status", "paused_at"])
    _entry(run, actor, "resume", paused_seconds=round(paused.total_seconds()))
    return run


@transaction.atomic
def run_stop(*, run: Run, actor: User | None, reason: str = "") -> Run:
    if actor is not None:
        _check(actor)
    run = _locked(run)
    if run.status in (Run.Status.FINISHED, Run.Status.STOPPED):
        raise ValidationError(ERR_ENDED)
    run.status, run.ended_at = Run.Status.STOPPED, clock.now()
    run.save(update_fields=["status", "ended_at"])
    RunInject.objects.filter(run=run, status=RunInject.Status.DUE).update(
        status=RunInject.Status.SKIPPED, detail=reason[:300]
    )
    _entry(run, actor, "stop", reason=reason)
    return run


@transaction.atomic
def inject_skip(*, ri: RunInject, actor: User) -> RunInject:
    _check(actor)
    if not RunInject.objects.filter(pk=ri.pk, status=RunInject.Status.DUE).update(
        status=RunInject.Status.SKIPPED
    ):
        raise ValidationError(ERR_NOT_DUE)
    _entry(ri.run, actor, "skip", inject=ri.number)
    ri.refresh_from_db()
    return ri


@transaction.atomic
def inject_fire_now(*, ri: RunInject, actor: User) -> RunInject:
    _check(actor)
    if not RunInject.objects.filter(pk=ri.pk, status=RunInject.Status.DUE).update(
        due_at=clock.now()
    ):
        raise ValidationError(ERR_NOT_DUE)
    _entry(ri.run, actor, "fire_now", inject=ri.number)
    ri.refresh_from_db()
    return ri


@transaction.atomic
def inject_add(
    *, run: Run, actor: User, kind: str, text: str, group_id: int | None, minutes: float = 0
) -> RunInject:
    """An unplanned inject during the run (fires from the sweep, like the planned ones)."""
    _check(actor)
    run = _locked(run)
    if run.status not in (Run.Status.RUNNING, Run.Status.PAUSED):
        raise ValidationError(ERR_ENDED)
    if kind not in (Inject.Kind.SITUATION, Inject.Kind.CALL):
        raise ValidationError(_("Unplanned injects are situation reports or calls."))
    number = 1000 + RunInject.objects.filter(run=run, inject__isnull=True).count()
    ri = RunInject.objects.create(
        run=run,
        number=number,
        kind=kind,
        text=text.strip()[:2000],
        due_at=clock.now() + timedelta(minutes=max(0.0, minutes)),
        detail=f"group:{group_id}" if group_id else "",
    )
    _entry(run, actor, "add", inject=number, kind=kind)
    return ri


def on_real_incident(incident: Incident) -> None:
    """A real disaster: every running or paused drill stops (or pauses, as its coordinator
    chose). Registered with safety.hooks; runs in the declaration's transaction."""
    for run in Run.objects.filter(Q(status=Run.Status.RUNNING) | Q(status=Run.Status.PAUSED)):
        reason = _("a real disaster was declared: %(title)s") % {"title": incident.title}
        if run.on_real_incident == Run.OnRealIncident.PAUSE:
            if run.status == Run.Status.RUNNING:
                run_pause(run=run, actor=None)
            RunEntry.objects.create(
                run=run, at=clock.now(), action="real_incident", data={"incident": incident.pk}
            )
        else:
            run_stop(run=run, actor=None, reason=reason)
