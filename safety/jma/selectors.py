"""Reads for the JMA feed: the rule and its codes, who gets the proposal, what it did lately."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from directory.models import User

from .. import selectors as safety_selectors
from ..models import Incident, IncidentLevel
from .models import JmaArea, JmaReport, JmaRule, JmaStep


@dataclass(frozen=True)
class Codes:
    """The rule's codes, as the rules module reads them."""

    earthquake: dict[str, tuple[str, int]] = field(default_factory=dict)  # code → (name, unit)
    tsunami: dict[str, str] = field(default_factory=dict)  # code → name

    @property
    def has_cities(self) -> bool:
        return any(len(code) > 3 for code in self.earthquake)


def jma_rule() -> JmaRule:
    """The one rule row (created with the defaults on first use)."""
    found = JmaRule.objects.select_related("level").order_by("pk").first()
    return found if found is not None else JmaRule.objects.create()


def rule_codes(*, rule: JmaRule) -> Codes:
    earthquake: dict[str, tuple[str, int]] = {}
    tsunami: dict[str, str] = {}
    for kind, code, name, unit_id in JmaArea.objects.filter(rule=rule).values_list(
        "kind", "code", "name", "unit_id"
    ):
        if kind == JmaArea.Kind.TSUNAMI:
            tsunami[code] = name
        elif unit_id is not None:
            earthquake[code] = (name, unit_id)
    return Codes(earthquake, tsunami)


def declare_level(*, rule: JmaRule) -> IncidentLevel | None:
    """The level the feed declares: the rule's, else the most severe one."""
    return rule.level or IncidentLevel.objects.order_by("-order", "-pk").first()


def proposal_user_ids() -> list[int]:
    """Who is asked to declare: the active accounts of the crisis-management office."""
    office = safety_selectors.crisis_office_unit()
    if office is None:
        return []
    return list(
        User.objects.filter(
            is_active=True, staff__is_active=True, staff__unit__path__startswith=office.path
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def open_incident(*, is_drill: bool) -> Incident | None:
    """The most severe open incident (of the same kind: real or exercise), if any."""
    return (
        Incident.objects.filter(ended_at__isnull=True, is_drill=is_drill)
        .order_by("-level__order", "-started_at")
        .first()
    )


def strongest_recent_round(*, since: datetime, is_drill: bool) -> int:
    """The strength of the strongest round the feed started since then and did not cancel
    (0: none)."""
    found = (
        JmaStep.objects.filter(
            step=JmaStep.Step.ROUND, is_drill=is_drill, at__gte=since, cancelled_at__isnull=True
        )
        .order_by("-strength")
        .values_list("strength", flat=True)
        .first()
    )
    return found or 0


def repeat_window_start(*, rule: JmaRule, now: datetime) -> datetime:
    return now - timedelta(hours=rule.repeat_hours)


def last_event_started(*, is_drill: bool) -> str:
    """The EventID of the latest quake the feed started something for (jma_replay cancels
    it)."""
    return (
        JmaStep.objects.filter(is_drill=is_drill, cancelled_at__isnull=True)
        .exclude(step__in=[JmaStep.Step.CANCEL_EARTHQUAKE, JmaStep.Step.CANCEL_TSUNAMI])
        .order_by("-at", "-pk")
        .values_list("event_id", flat=True)
        .first()
        or ""
    )


def reports_recent(*, limit: int = 50) -> list[JmaReport]:
    return list(JmaReport.objects.order_by("-seen_at", "-pk")[:limit])
