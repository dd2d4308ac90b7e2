"""What a report starts or cancels, each step once.

One report at a time: ``report_apply`` locks the rule row for its transaction, so two workers
never decide at once (and the 6-hour comparison sees the other's round). Each step is a row
unique per EventID, step and drill-ness, written in the same savepoint as the service it
stands for: a step that was taken is never taken again, and one whose service failed (nobody
to ask, no level to declare) leaves no row and is logged."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import translation
from django.utils.translation import gettext as _

from directory.models import OrgUnit
from notifications.models import Notification
from realtime import clock

from .. import incidents, rounds
from ..models import Incident, SafetyRound
from . import selectors
from .models import JmaReport, JmaRule, JmaStep
from .notices import KIND_PROPOSAL, proposal_send
from .parse import Report
from .rules import Decision, Tier, evaluate
from .scale import label

logger = logging.getLogger("safety.jma")

# JmaReport.outcome
STARTED = "started"  # at least one step taken
NOTHING = "nothing"  # not strong enough in our codes (or every step was taken before)
EXERCISE = "exercise"  # 訓練, and exercise rounds are off
TEST = "test"  # 試験
CANCELLED = "cancelled"  # 取消
STALE = "stale"  # older than the rule's limit
DISABLED = "disabled"  # the rule is off
ERROR = "error"  # a step failed (see detail)

MAX_NAMES = 5


def _names(places: list[str]) -> str:
    shown = "、".join(places[:MAX_NAMES])
    if len(places) > MAX_NAMES:
        return _("%(names)s and %(count)s more") % {
            "names": shown,
            "count": len(places) - MAX_NAMES,
        }
    return shown


def _title(decision: Decision) -> str:
    places = _names(decision.places)
    if decision.tsunami and not decision.intensity:
        warning = decision.tsunami[0].kind_name or _("tsunami warning")
        return _("Tsunami: %(warning)s for %(places)s") % {
            "warning": warning,
            "places": places,
        }
    return _("Earthquake, intensity %(intensity)s: %(places)s") % {
        "intensity": label(decision.intensity),
        "places": places,
    }


@dataclass
class _Run:
    """One report being applied: what it says, what it means, and what was done."""

    row: JmaReport
    report: Report
    rule: JmaRule
    is_drill: bool
    now: datetime
    decision: Decision = field(default_factory=lambda: Decision(Tier.NONE))
    done: list[dict] = field(default_factory=list)
    failed: bool = False

    def note(self, step: str, **data) -> None:
        self.done.append({"step": step, **data})

    def once(self, step: str, do: Callable[[JmaStep], None]) -> JmaStep | None:
        """Take ``step`` for this EventID unless it was taken: its row and the service it
        stands for commit together or not at all."""
        key = {"event_id": self.report.event_id, "step": step, "is_drill": self.is_drill}
        if JmaStep.objects.filter(**key).exists():
            self.note(step, skipped="taken before for this EventID")
            return None
        try:
            with transaction.atomic():
                taken = JmaStep.objects.create(
                    **key,
                    family=self.report.family,
                    report=self.row,
                    at=self.now,
                    strength=self.decision.strength,
                )
                do(taken)
                taken.save()
        except IntegrityError:  # taken by another worker meanwhile
            self.note(step, skipped="taken before for this EventID")
            return None
        except ValidationError as exc:
            self.failed = True
            message = "; ".join(str(m) for m in exc.messages)[:200]
            logger.error(
                "JMA %s %s: %s failed: %s", self.row.kind, self.row.event_id, step, message
            )
            self.note(step, error=message)
            return None
        return taken


def _declare(run: _Run) -> Incident | None:
    """Disaster mode, once per EventID; an open incident (declared by hand or for an earlier
    quake) is joined instead of declaring a second one."""

    def do(step: JmaStep) -> None:
        current = selectors.open_incident(is_drill=run.is_drill)
        if current is not None:
            step.incident = current
        else:
            level = selectors.declare_level(rule=run.rule)
            if level is None:
                raise ValidationError(_("No incident level is defined."))
            step.incident = incidents.incident_declare(
                actor=None,
                title=_title(run.decision),
                kind=Incident.Kind.TSUNAMI
                if run.decision.tsunami and not run.decision.intensity
                else Incident.Kind.EARTHQUAKE,
                level=level,
                affected_units=list(OrgUnit.objects.filter(pk__in=run.decision.unit_ids)),
                source="jma",
                jma_event_id=run.report.event_id,
                is_drill=run.is_drill,
            )
            step.declared = True

    step = run.once(JmaStep.Step.DECLARE, do)
    if step is not None:
        run.note("declare", incident=step.incident_id, joined=not step.declared)
        return step.incident
    taken = JmaStep.objects.filter(
        event_id=run.report.event_id, step=JmaStep.Step.DECLARE, is_drill=run.is_drill
    ).first()
    return taken.incident if taken is not None else None


def _round(
    run: _Run, *, target: dict, incident: Incident | None
) -> tuple[SafetyRound | None, bool]:
    """A round, once per EventID, and within the repeat window only for a stronger quake.
    Returns the round started (if any) and whether the repeat window held it back."""
    since = selectors.repeat_window_start(rule=run.rule, now=run.now)
    stronger_than = selectors.strongest_recent_round(since=since, is_drill=run.is_drill)
    already = JmaStep.objects.filter(
        event_id=run.report.event_id, step=JmaStep.Step.ROUND, is_drill=run.is_drill
    ).exists()
    if not already and run.decision.strength <= stronger_than:
        run.note(
            "round",
            skipped=f"a round as strong or stronger within {run.rule.repeat_hours} h",
        )
        return None, True

    def do(step: JmaStep) -> None:
        step.round = rounds.round_start(
            actor=None,
            title=_title(run.decision),
            target=target,
            incident=incident,
            is_drill=run.is_drill,
            jma_event_id=run.report.event_id,
            intensity=run.decision.intensity,
        )

    step = run.once(JmaStep.Step.ROUND, do)
    if step is None:
        return None, False
    run.note("round", round=step.round_id, target=target, total=step.round.total)
    return step.round, False


def _propose(run: _Run, round_: SafetyRound | None) -> None:
    if selectors.open_incident(is_drill=run.is_drill) is not None:
        run.note("proposal", skipped="disaster mode is already declared")
        return
    user_ids = selectors.proposal_user_ids()
    written: list[int] = []

    def do(step: JmaStep) -> None:
        step.round = round_
        written.append(
            proposal_send(
                report=run.row,
                user_ids=user_ids,
                once_key=f"jma:{step.pk}",
                data=_proposal_data(run, round_),
                created_at=run.now,
            )
        )

    if run.once(JmaStep.Step.PROPOSAL, do) is not None:
        if not user_ids:
            logger.warning("JMA proposal: the crisis-management office has no active accounts")
        run.note("proposal", notified=len(user_ids), notifications=written[0])


def _proposal_data(run: _Run, round_: SafetyRound | None) -> dict:
    return {
        "event_id": run.report.event_id,
        "intensity": run.decision.intensity,
        "places": _names(run.decision.places),
        "round": round_.pk if round_ else None,
        "drill": run.is_drill,
    }


def _start(run: _Run) -> None:
    decision = run.decision
    if decision.tier == Tier.DECLARE:
        incident = _declare(run)
        _round(run, target={"all": True}, incident=incident)
        return
    round_, held_back = _round(run, target={"workplace_units": decision.unit_ids}, incident=None)
    if held_back:  # a quake as strong within the window: no second proposal either
        run.note("proposal", skipped="held back with the round")
    else:
        _propose(run, round_)


def _cancel(run: _Run) -> None:
    """取消: undo what this EventID's reports of the same family started (once)."""
    step_name = (
        JmaStep.Step.CANCEL_TSUNAMI
        if run.report.family == "VTSE"
        else JmaStep.Step.CANCEL_EARTHQUAKE
    )
    reason = _("The JMA cancelled its report (%(title)s, EventID %(event)s).") % {
        "title": run.report.title,
        "event": run.report.event_id,
    }

    def do(cancel: JmaStep) -> None:
        started = list(
            JmaStep.objects.select_for_update(of=("self",))
            .filter(
                event_id=run.report.event_id,
                is_drill=run.is_drill,
                family=run.report.family,
                cancelled_at__isnull=True,
            )
            .exclude(pk=cancel.pk)
            .exclude(step__in=[JmaStep.Step.CANCEL_EARTHQUAKE, JmaStep.Step.CANCEL_TSUNAMI])
            .select_related("round", "incident", "report")
            .order_by("pk")
        )
        for step in started:  # rounds first, then the incident
            if step.step == JmaStep.Step.ROUND and step.round is not None:
                rounds.round_close(round_=step.round, actor=None)
                run.note("round_close", round=step.round_id)
        for step in started:
            if step.step == JmaStep.Step.DECLARE and step.declared and step.incident.is_open:
                incidents.incident_end(incident=step.incident, actor=None, reason=reason)
                run.note("incident_end", incident=step.incident_id)
            elif step.step == JmaStep.Step.PROPOSAL:
                _withdraw(run, step)
        JmaStep.objects.filter(pk__in=[s.pk for s in started]).update(cancelled_at=run.now)
        if not started:
            run.note("cancel", skipped="nothing was started for this EventID")

    run.once(step_name, do)


def _withdraw(run: _Run, proposal: JmaStep) -> None:
    data = {**_stored_proposal_data(proposal), "withdrawn": True}
    proposal_send(
        report=run.row,
        user_ids=selectors.proposal_user_ids(),
        once_key=f"jma:{proposal.pk}:withdrawn",
        data=data,
        created_at=run.now,
    )
    run.note("proposal_withdrawn", proposal=proposal.pk)


def _stored_proposal_data(proposal: JmaStep) -> dict:
    """What the proposal said (the withdrawal repeats it)."""
    found = (
        Notification.objects.filter(kind=KIND_PROPOSAL, once_key=f"jma:{proposal.pk}")
        .values_list("data", flat=True)
        .first()
    )
    return dict(found or {"event_id": proposal.event_id, "drill": proposal.is_drill})


def _outcome(run: _Run) -> str:
    rule, report = run.rule, run.report
    if report.status == "試験":
        return TEST
    if report.is_cancel:  # undoes what was started, even with the rule off since
        _cancel(run)
        return CANCELLED
    if not rule.enabled:
        return DISABLED
    age = rule.max_age_minutes
    if age and report.report_at and report.report_at < run.now - timedelta(minutes=age):
        return STALE
    run.decision = evaluate(report, rule=rule, codes=selectors.rule_codes(rule=rule))
    run.row.intensity = run.decision.intensity
    if run.decision.tier == Tier.NONE:
        return NOTHING
    _start(run)
    if run.failed:
        return ERROR
    return STARTED if any("skipped" not in d for d in run.done) else NOTHING


def report_apply(*, row: JmaReport, report: Report, drill_rounds: bool | None = None) -> JmaReport:
    """Act on a parsed report (the poller calls this once it has the document). Idempotent: a
    report already done is returned as it is; every step is once per EventID anyway."""
    rule = selectors.jma_rule()
    is_drill = report.status == "訓練"
    with translation.override(settings.LANGUAGE_CODE), transaction.atomic():
        JmaRule.objects.select_for_update().filter(pk=rule.pk).first()
        locked = JmaReport.objects.select_for_update().get(pk=row.pk)
        if locked.state != JmaReport.State.PENDING:
            return locked
        locked.status, locked.info_type = report.status, report.info_type
        locked.event_id, locked.report_at = report.event_id, report.report_at
        locked.headline = report.headline
        run = _Run(locked, report, rule, is_drill, clock.now())
        exercise_off = not (rule.drill_rounds if drill_rounds is None else drill_rounds)
        outcome = EXERCISE if is_drill and exercise_off else _outcome(run)
        locked.outcome = outcome
        locked.detail = {"places": run.decision.places, "steps": run.done}
        locked.state, locked.done_at, locked.lease_until = JmaReport.State.DONE, clock.now(), None
        locked.save()
    log = logger.warning if outcome in (STARTED, CANCELLED, ERROR) else logger.info
    log(
        "JMA %s %s (%s, %s) EventID %s: %s %s",
        locked.kind,
        report.title,
        report.status,
        report.info_type,
        report.event_id,
        outcome,
        locked.detail,
    )
    return locked
