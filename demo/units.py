"""The demo city's organisation tree: 大阪市, its bureaus and offices with their departments and
sections, and the 24 wards with their sections. Unit codes are stable by position (``OSK``,
``OSK-B01``, ``OSK-B01-1``, ``OSK-W01`` …)."""

from __future__ import annotations

from directory import services
from directory.models import OrgUnit

from .data import BATCH, BUREAUS, DEMO_ROOT_CODE, PIECES, WARD_SECTIONS, WARDS


class DemoSeedError(Exception):
    pass


def unit_reading(name: str) -> str:
    out, i = [], 0
    while i < len(name):
        for j in range(len(name), i, -1):
            if name[i:j] in PIECES:
                out.append(PIECES[name[i:j]])
                i = j
                break
        else:
            raise DemoSeedError(f"no reading for {name!r} at {name[i:]!r}")
    return "".join(out)


def unit_specs() -> list[tuple[str, str, str, str, str | None]]:
    """(code, name, reading, kind, parent code) parents first; codes are stable by position."""
    units = [(DEMO_ROOT_CODE, "大阪市", "おおさかし", OrgUnit.Kind.CITY, None)]
    for i, (name, kana, kind, children) in enumerate(BUREAUS, start=1):
        code = f"{DEMO_ROOT_CODE}-B{i:02d}"
        units.append((code, name, kana, kind, DEMO_ROOT_CODE))
        for j, child in enumerate(children.split(), start=1):
            dept, _sep, sections = child.partition(":")
            units.append(
                (
                    f"{code}-{j}",
                    dept,
                    unit_reading(dept),
                    OrgUnit.Kind.DEPARTMENT if sections else OrgUnit.Kind.SECTION,
                    code,
                )
            )
            for k, section in enumerate(filter(None, sections.split(",")), start=1):
                units.append(
                    (
                        f"{code}-{j}-{k}",
                        section,
                        unit_reading(section),
                        OrgUnit.Kind.SECTION,
                        f"{code}-{j}",
                    )
                )
    for i, ward in enumerate(WARDS.split(), start=1):
        name, kana = ward.split(":")
        code = f"{DEMO_ROOT_CODE}-W{i:02d}"
        units.append((code, name, kana, OrgUnit.Kind.WARD, DEMO_ROOT_CODE))
        for j, section in enumerate(WARD_SECTIONS.split(), start=1):
            units.append(
                (f"{code}-{j}", section, unit_reading(section), OrgUnit.Kind.SECTION, code)
            )
    return units


def demo_units_seed() -> dict[str, OrgUnit]:
    """Insert the units level by level so parents have ids, then the materialised paths in one
    pass. Returns the units by code."""
    units: dict[str, OrgUnit] = {}
    specs = unit_specs()
    depth: dict[str, int] = {}
    for code, *_rest, parent in specs:  # parents come first
        depth[code] = 0 if parent is None else depth[parent] + 1
    for level in range(max(depth.values()) + 1):
        rows = []
        for order, (code, name, kana, kind, parent) in enumerate(specs):
            if depth[code] == level:
                unit = OrgUnit(
                    code=code,
                    name=name,
                    kana=kana,
                    kind=kind,
                    sort_order=order,
                    parent=units[parent] if parent else None,
                )
                unit.search_key = services.unit_search_key(unit)
                rows.append(unit)
        for unit in OrgUnit.objects.bulk_create(rows, batch_size=BATCH):
            units[unit.code] = unit
    services.unit_rebuild_paths()
    return units


def demo_units_delete(root: OrgUnit) -> None:
    """Delete ``root`` and every unit under it, deepest first (parents are protected)."""
    units = OrgUnit.objects.filter(path__startswith=root.path)
    for depth in sorted(set(units.values_list("depth", flat=True)), reverse=True):
        units.filter(depth=depth).delete()
