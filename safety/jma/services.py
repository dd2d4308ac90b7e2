"""Writes of the JMA rule and its codes (the admin calls these): validated and audited."""

from __future__ import annotations

from django.db import transaction

from directory.models import OrgUnit, User
from directory.services import audit_record

from . import osaka
from .models import JmaArea, JmaRule

RULE_FIELDS = (
    "enabled",
    "propose_at",
    "declare_at",
    "tsunami_declares",
    "level",
    "repeat_hours",
    "drill_rounds",
    "max_age_minutes",
)


@transaction.atomic
def jma_rule_save(*, rule: JmaRule, actor: User | None, changed: list[str]) -> JmaRule:
    rule.full_clean()
    rule.save()
    data = {name: str(getattr(rule, name)) for name in changed if name in RULE_FIELDS}
    audit_record(actor=actor, action="safety.jma_rule", target=rule, data=data)
    return rule


@transaction.atomic
def jma_area_save(*, area: JmaArea, actor: User | None) -> JmaArea:
    area.full_clean()
    area.save()
    audit_record(
        actor=actor,
        action="safety.jma_code",
        target=area.rule,
        data={"kind": area.kind, "code": area.code, "unit": area.unit_id},
    )
    return area


@transaction.atomic
def jma_area_delete(*, area: JmaArea, actor: User | None) -> None:
    audit_record(
        actor=actor,
        action="safety.jma_code_delete",
        target=area.rule,
        data={"kind": area.kind, "code": area.code},
    )
    area.delete()


@transaction.atomic
def jma_areas_fill_osaka(*, rule: JmaRule, city: OrgUnit, actor: User | None) -> int:
    """Add 大阪市's codes that are missing: each ward found under ``city`` by name, 大阪府北部 for
    the whole city, and the 大阪府 tsunami forecast area. Returns how many were added."""
    have = set(JmaArea.objects.filter(rule=rule).values_list("kind", "code"))
    wards = {
        unit.name: unit
        for unit in OrgUnit.objects.filter(
            path__startswith=city.path, kind=OrgUnit.Kind.WARD, is_active=True
        )
    }
    wanted = [
        (JmaArea.Kind.EARTHQUAKE, code, osaka.jma_city_name(name), wards[name])
        for code, name in osaka.WARDS
        if name in wards
    ]
    wanted.append((JmaArea.Kind.EARTHQUAKE, *osaka.EARTHQUAKE_AREA, city))
    wanted.append((JmaArea.Kind.TSUNAMI, *osaka.TSUNAMI_AREA, None))
    added = 0
    for kind, code, name, unit in wanted:
        if (kind, code) in have:
            continue
        jma_area_save(
            area=JmaArea(rule=rule, kind=kind, code=code, name=name, unit=unit), actor=actor
        )
        added += 1
    return added
