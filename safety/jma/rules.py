"""What a report means for the city, by the rule (no database writes, no side effects).

Earthquake reports: the strongest intensity in our codes. A 震度速報 (VXSE51) names areas only
(大阪府北部), so area codes act on it; when a report lists cities (VXSE53) and the rule names
cities, the cities decide and the area codes are not used for it — an area's 5強 elsewhere in
it is not our 5強. A city listed as 震度５弱以上未入電 counts as 5弱.

- the proposal threshold (5弱) or more: a round for the affected units' staff and a proposal
  to the crisis-management office to declare;
- the declare threshold (5強) or more, or a tsunami warning (津波警報, 大津波警報) in our forecast
  areas: disaster mode and a round for all staff."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from .models import JmaRule
from .parse import Report, TsunamiItem
from .scale import rank
from .selectors import Codes


class Tier(IntEnum):
    NONE = 0
    PROPOSE = 1
    DECLARE = 2


@dataclass(frozen=True)
class Hit:
    code: str
    name: str
    intensity: str
    unit_id: int


@dataclass(frozen=True)
class Decision:
    tier: Tier
    intensity: str = ""  # the strongest in our codes ("" for a tsunami warning alone)
    strength: int = 0  # what the repeat rule compares (a tsunami warning: the declare threshold)
    hits: tuple[Hit, ...] = ()  # our codes at or over the proposal threshold
    tsunami: tuple[TsunamiItem, ...] = ()  # warnings in our forecast areas

    @property
    def unit_ids(self) -> list[int]:
        return sorted({hit.unit_id for hit in self.hits})

    @property
    def places(self) -> list[str]:
        names = [hit.name for hit in self.hits] + [item.name for item in self.tsunami]
        return list(dict.fromkeys(names))


def _our_places(report: Report, codes: Codes) -> list[Hit]:
    found = []
    for area in report.areas:
        if area.cities and codes.has_cities:
            for city in area.cities:
                if city.code in codes.earthquake:
                    name, unit_id = codes.earthquake[city.code]
                    found.append(Hit(city.code, name or city.name, city.intensity, unit_id))
        elif area.code in codes.earthquake:
            name, unit_id = codes.earthquake[area.code]
            found.append(Hit(area.code, name or area.name, area.intensity, unit_id))
    return found


def evaluate(report: Report, *, rule: JmaRule, codes: Codes) -> Decision:
    propose, declare = rank(rule.propose_at), rank(rule.declare_at)
    if report.family == "VTSE":
        warnings = tuple(
            item for item in report.tsunami if item.is_warning and item.code in codes.tsunami
        )
        if warnings and rule.tsunami_declares:
            return Decision(Tier.DECLARE, strength=declare, tsunami=warnings)
        return Decision(Tier.NONE)
    places = _our_places(report, codes)
    if not places:
        return Decision(Tier.NONE)
    strongest = max(places, key=lambda hit: rank(hit.intensity)).intensity
    strength = rank(strongest)
    hits = tuple(hit for hit in places if rank(hit.intensity) >= propose)
    if strength >= declare:
        tier = Tier.DECLARE
    elif strength >= propose:
        tier = Tier.PROPOSE
    else:
        tier = Tier.NONE
    return Decision(tier, strongest, strength, hits)
