"""Escalation policies: how a group chases unanswered instructions of each priority.
Instructions copy the policy when sent (Message.escalation), so editing a policy never changes
a chase already running."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from directory.models import User
from directory.services import audit_record

from . import selectors
from .models import CommandGroup, EscalationPolicy, Message

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
ERR_CANNOT_EDIT_POLICY = _(
    "Only commanders, drill coordinators and administrators can change the escalation policy."
)
ERR_BAD_POLICY = _("The escalation policy is not valid: %(detail)s")


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


@transaction.atomic
def policy_update(
    *, group: CommandGroup, priority: str, actor: User, **fields: Any
) -> EscalationPolicy:
    if not selectors.user_can_edit_policy(user=actor, group=group):
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
