"""The city's safety set-up, written by the admin (and the demo) through these services: the
settings row (headquarters group, 本部長 post, announcer account, re-send schedule, questions),
the incident levels and the assembly places with their coordinators. Each validates, saves and
writes an audit entry naming what changed."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext_lazy

from directory.models import User
from directory.services import audit_record

from . import selectors
from .models import AssemblyPlace, IncidentLevel, SafetySettings
from .questions import questions_check

ERR_RESEND = gettext_lazy("Give whole minutes after the start, e.g. [15, 30, 60].")
SETTINGS_FIELDS = ("hq_group", "commander_post", "announcer", "resend_minutes", "questions")


def resend_minutes_check(value: Any) -> list[int]:
    if not isinstance(value, list) or not all(
        isinstance(m, int) and not isinstance(m, bool) and 0 < m <= 24 * 60 for m in value
    ):
        raise ValidationError({"resend_minutes": ERR_RESEND})
    return sorted(set(value))


@transaction.atomic
def settings_update(*, actor: User | None, **fields: Any) -> SafetySettings:
    """Change the settings row (created on first use). Unknown field names are an error."""
    unknown = set(fields) - set(SETTINGS_FIELDS)
    if unknown:
        raise TypeError(f"not a settings field: {sorted(unknown)}")
    if "resend_minutes" in fields:
        fields["resend_minutes"] = resend_minutes_check(fields["resend_minutes"])
    if fields.get("questions"):
        questions_check(fields["questions"])
    row = SafetySettings.objects.select_for_update().get(pk=selectors.safety_settings().pk)
    changed = [name for name, value in fields.items() if getattr(row, name) != value]
    for name in changed:
        setattr(row, name, fields[name])
    if changed:
        row.full_clean()
        row.save(update_fields=changed)
        audit_record(actor=actor, action="safety.settings", target=row, data={"fields": changed})
    return row


@transaction.atomic
def level_save(*, level: IncidentLevel, actor: User | None) -> IncidentLevel:
    created = level.pk is None
    level.full_clean()
    level.save()
    audit_record(
        actor=actor,
        action="safety.level_create" if created else "safety.level_update",
        target=level,
        data={"code": level.code, "name": level.name, "order": level.order},
    )
    return level


@transaction.atomic
def place_save(
    *, place: AssemblyPlace, actor: User | None, coordinators: Iterable[User] | None = None
) -> AssemblyPlace:
    """Create or change an assembly place; ``coordinators`` (if given) replaces its list."""
    created = place.pk is None
    place.full_clean()
    place.save()
    data: dict[str, Any] = {"name": place.name, "unit": place.unit_id, "active": place.is_active}
    if coordinators is not None:
        ids = sorted({u.pk for u in coordinators})
        place.coordinators.set(ids)
        data["coordinators"] = ids
    audit_record(
        actor=actor,
        action="safety.place_create" if created else "safety.place_update",
        target=place,
        data=data,
    )
    return place
