"""The evaluator's after-action ratings: for each objective of the run's scenario, HSEEP's
rating (P: performed without challenges, S: with some challenges, M: with major challenges,
U: unable to be performed) and free-text strengths and areas for improvement. Saved into
``Run.evaluation`` (keyed by the objective's text) and audited."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from directory.models import User
from directory.services import audit_record
from realtime import clock

from .models import Run, RunEntry
from .runs import ERR_NOT_COORDINATOR, user_runs_drills

RATINGS = (
    ("P", _("P — performed without challenges")),
    ("S", _("S — performed with some challenges")),
    ("M", _("M — performed with major challenges")),
    ("U", _("U — unable to be performed")),
)
TEXT_MAX = 4000
ERR_OBJECTIVE = _("This objective is not one of the scenario's.")
ERR_RATING = _("Choose P, S, M or U.")
ERR_TOO_LONG = _("At most 4,000 characters.")


def run_objectives(*, run: Run) -> list[str]:
    """The objectives the run's injects name, in the scenario's inject order, each once."""
    seen: dict[str, None] = {}
    for objective in (
        run.injects.filter(inject__isnull=False, contingency_of__isnull=True)
        .order_by("inject__number")
        .values_list("inject__objective", flat=True)
    ):
        if objective and objective.strip():
            seen.setdefault(objective.strip(), None)
    return list(seen)


def run_evaluate(*, run: Run, actor: User, ratings: dict[str, dict[str, str]]) -> Run:
    """Save ratings for some or all objectives: ``{objective: {"rating", "strengths",
    "improvements"}}``. An empty rating with no text removes the objective's entry."""
    if not user_runs_drills(user=actor):
        raise PermissionDenied(ERR_NOT_COORDINATOR)
    allowed = set(run_objectives(run=run))
    valid = {code for code, _label in RATINGS}
    cleaned: dict[str, dict[str, str]] = {}
    for objective, values in ratings.items():
        if objective not in allowed:
            raise ValidationError(ERR_OBJECTIVE)
        rating = (values.get("rating") or "").strip()
        if rating and rating not in valid:
            raise ValidationError(ERR_RATING)
        strengths = (values.get("strengths") or "").strip()
        improvements = (values.get("improvements") or "").strip()
        if len(strengths) > TEXT_MAX or len(improvements) > TEXT_MAX:
            raise ValidationError(ERR_TOO_LONG)
        cleaned[objective] = {
            "rating": rating,
            "strengths": strengths,
            "improvements": improvements,
        }
    with transaction.atomic():
        locked = Run.objects.select_for_update().get(pk=run.pk)
        evaluation = dict(locked.evaluation or {})
        changed = []
        for objective, values in cleaned.items():
            before = evaluation.get(objective)
            after = values if any(values.values()) else None
            if before == after:
                continue
            changed.append(objective)
            if after is None:
                evaluation.pop(objective, None)
            else:
                evaluation[objective] = after
        if changed:
            locked.evaluation = evaluation
            locked.save(update_fields=["evaluation"])
            data = {"objectives": changed, "ratings": {o: cleaned[o]["rating"] for o in changed}}
            RunEntry.objects.create(
                run=locked, at=clock.now(), actor=actor, action="evaluate", data=data
            )
            audit_record(actor=actor, action="drill.evaluate", target=locked, data=data)
    return locked
