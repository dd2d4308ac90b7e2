"""A small city for safety tests: 大阪市 → 危機管理室, 北区 (with a section), 中央区; the mayor
holds 本部長 and commands the headquarters group; staff without accounts in the wards."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from directory.models import OrgUnit, Staff, User
from messaging import services as messaging_services
from messaging.models import CommandGroup
from safety.models import AssemblyPlace, IncidentLevel, SafetySettings
from tests.factories import OrgUnitFactory, PostFactory, StaffFactory, UserFactory


@dataclass
class City:
    root: OrgUnit
    crisis: OrgUnit
    kita: OrgUnit
    kita_section: OrgUnit
    chuo: OrgUnit
    mayor: User
    ward_head: User
    officer: User  # in the crisis-management office
    staff_user: User  # an ordinary member of staff with an account
    coordinator: User
    group: CommandGroup
    kita_staff: list[Staff] = field(default_factory=list)  # no accounts
    chuo_staff: list[Staff] = field(default_factory=list)

    # The levels come from a data migration; a transactional test's flush removes them, so
    # the fixture makes sure they are there (as the migration would).
    @property
    def emergency(self) -> IncidentLevel:
        return IncidentLevel.objects.get_or_create(
            code="emergency", defaults={"name": "非常体制", "order": 2}
        )[0]

    @property
    def alert(self) -> IncidentLevel:
        return IncidentLevel.objects.get_or_create(
            code="alert", defaults={"name": "警戒体制", "order": 1}
        )[0]


def _person(unit, role=User.Role.STAFF, **kw) -> User:
    user = UserFactory(role=role)
    StaffFactory(user=user, unit=unit, **kw)
    return user


@pytest.fixture
def city(db, settings) -> City:
    root = OrgUnitFactory(name="大阪市", kind="city", code="OSK")
    crisis = OrgUnitFactory(name="危機管理室", kind="bureau", parent=root, code="OSK-B01")
    kita = OrgUnitFactory(name="北区", kind="ward", parent=root, code="OSK-W01", sort_order=1)
    kita_section = OrgUnitFactory(name="北区総務課", parent=kita, code="OSK-W01-1")
    chuo = OrgUnitFactory(name="中央区", kind="ward", parent=root, code="OSK-W02", sort_order=2)
    settings.HONBU_CRISIS_OFFICE_UNIT_CODE = "OSK-B01"
    mayor = _person(root, role=User.Role.HQ_MEMBER)
    ward_head = _person(kita, role=User.Role.HQ_MEMBER)
    officer = _person(crisis)
    staff_user = _person(kita_section)
    coordinator = _person(chuo, role=User.Role.COORDINATOR)
    group = messaging_services.group_create(
        name="大阪市災害対策本部", kind=CommandGroup.Kind.HEADQUARTERS, unit=root, actor=None
    )
    head = PostFactory(name="本部長", holder=mayor.staff, unit=root)
    kita_post = PostFactory(name="北区長", holder=ward_head.staff, unit=kita)
    messaging_services.group_add_member(group=group, post=head, role="commander", actor=None)
    messaging_services.group_add_member(group=group, post=kita_post, role="member", actor=None)
    SafetySettings.objects.create(hq_group=group, commander_post=head)
    AssemblyPlace.objects.create(name="北区役所", unit=kita, is_ward_office=True)
    AssemblyPlace.objects.create(name="中央区役所", unit=chuo, is_ward_office=True)
    kita_staff = [StaffFactory(unit=kita_section) for _ in range(4)]
    chuo_staff = [StaffFactory(unit=chuo) for _ in range(3)]
    # The migration's levels, also after an earlier transactional test's flush removed them
    # (the feed declares the most severe one).
    for code, name, order in (("alert", "警戒体制", 1), ("emergency", "非常体制", 2)):
        IncidentLevel.objects.get_or_create(code=code, defaults={"name": name, "order": order})
    return City(
        root,
        crisis,
        kita,
        kita_section,
        chuo,
        mayor,
        ward_head,
        officer,
        staff_user,
        coordinator,
        group,
        kita_staff,
        chuo_staff,
    )


SAFE = {"self": "safe", "family": "safe", "home": "ok", "attend": "yes", "place": "own"}


# --- the JMA feed ---------------------------------------------------------------------------
@pytest.fixture
def jma_server():
    """The fixture feed and reports from a real HTTP server on 127.0.0.1 (jma_server.py)."""
    from tests.safety.jma_server import JmaServer

    server = JmaServer()
    yield server
    server.stop()


@pytest.fixture
def jma_rule(city):
    """The rule for the test city, filled in as the admin's "fill in 大阪市" does: 大阪北区
    2712700 → 北区, 大阪中央区 2712800 → 中央区, 大阪府北部 520 → the whole city, the tsunami
    forecast area 大阪府 510. The fixtures are dated 2024, so no age limit."""
    from safety.jma import selectors, services

    rule = selectors.jma_rule()
    rule.max_age_minutes = 0
    rule.save()
    services.jma_areas_fill_osaka(rule=rule, city=city.root, actor=None)
    return rule


@pytest.fixture
def jma(jma_server, jma_rule, settings):
    """The poller pointed at the local feed."""
    settings.HONBU_JMA_FEED_URL = jma_server.feed_url
    return jma_server
