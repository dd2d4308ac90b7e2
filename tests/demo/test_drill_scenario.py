"""The demo city ships with a drill scenario, 南海トラフ地震 発生から1時間: imported from the
bundled MSEL file (so the seed proves the import path), fit to run against the demo city's
headquarters as the demo coordinator, exported back to exactly that file, seeded once, and
removed (with its runs) by ``seed_demo --reset``."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.management import call_command

from demo import city as demo
from demo.drills import FIXTURE
from directory.models import AuditEntry, Staff, User
from drills import msel, runs, scenarios
from drills.models import Inject, Run, RunEntry, RunInject, Scenario
from messaging import services as messaging_services
from messaging.models import CommandGroup
from tests.factories import StaffFactory, UserFactory

pytestmark = pytest.mark.django_db

STAFF = 500


@pytest.fixture
def seeded():
    return demo.demo_city_seed(staff_count=STAFF)


def _scenario() -> Scenario:
    return Scenario.objects.get(title=demo.DEMO_SCENARIO_TITLE)


def _user(number: str) -> User:
    return Staff.objects.get(employee_number=number).user


def test_the_seed_imports_the_nankai_scenario_from_the_bundled_file(seeded):
    scenario = _scenario()
    injects = {i.number: i for i in scenario.injects.select_related("from_post", "to_group")}

    assert seeded.scenarios == 1 and scenario.created_by is None
    assert FIXTURE == Path(scenarios.__file__).parent / "fixtures" / "nankai-first-hour.csv"
    assert len(injects) == 15
    assert [injects[n].kind for n in sorted(injects)] == [
        "jma", "jma", "instruction", "situation", "safety", "situation", "situation",
        "instruction", "call", "situation", "instruction", "call", "jma", "situation",
        "instruction",
    ]  # fmt: skip
    order = list(
        scenario.injects.filter(only_as_contingency=False).values_list("offset", flat=True)
    )
    assert order == sorted(order) and max(order) < 3600  # the first hour
    # The 本部長's instruction, what is expected of the ward heads, and its contingency: the
    # first deputy answers for a silent 北区長.
    order_ = injects[3]
    assert (order_.from_post.code, order_.to_group.name, order_.priority) == (
        "OSK-HONBUCHO",
        "大阪市災害対策本部",
        "urgent",
    )
    assert order_.expectations == [
        {"check": "read", "minutes": 2},
        {"check": "ack", "minutes": 5, "posts": ["北区長", "港区長"]},
        {"check": "reply", "minutes": 15, "posts": ["北区長"]},
    ]
    assert order_.contingency == injects[4] and injects[4].only_as_contingency
    assert "第1代行者" in injects[4].text
    assert sorted(u.code for u in injects[5].to_units.all()) == ["OSK-B01", "OSK-W01", "OSK-W07"]
    assert injects[5].expectations == [
        {"check": "safety", "minutes": 20, "percent": 50},
        {"check": "safety", "minutes": 45, "percent": 80},
    ]
    assert injects[1].text.startswith("【模擬】震度速報") and injects[1].from_post is None
    assert AuditEntry.objects.filter(action="drill.scenario_import", actor=None).count() == 1


def test_the_demo_coordinator_can_run_it_against_the_demo_city(seeded):
    coordinator = _user(demo.COORDINATOR)

    run = runs.run_start(scenario=_scenario(), actor=coordinator, speed=5)

    assert run.injects.count() == 15
    assert run.injects.filter(due_at__isnull=True).get().number == 4  # only as a contingency


def test_the_demo_scenario_exports_to_exactly_the_bundled_file(seeded):
    assert msel.export_csv(scenario=_scenario(), english=False) == FIXTURE.read_bytes()


def test_a_second_seed_adds_no_scenario(seeded):
    before = (Scenario.objects.count(), Inject.objects.count(), AuditEntry.objects.count())

    again = demo.demo_city_seed(staff_count=STAFF)

    assert again.scenarios == 0
    assert (Scenario.objects.count(), Inject.objects.count(), AuditEntry.objects.count()) == before


def test_reset_removes_the_scenario_with_its_runs_and_seeds_it_again(capsys):
    call_command("seed_demo", "--staff", "450")
    assert "Added the drill scenario 南海トラフ地震 発生から1時間." in capsys.readouterr().out
    # A run of it by an administrator from outside the demo city (not a demo account).
    admin = UserFactory(role=User.Role.ADMIN)
    StaffFactory(user=admin)
    hq = CommandGroup.objects.get(name="大阪市災害対策本部")
    messaging_services.group_add_member(group=hq, staff=admin.staff, role="commander", actor=None)
    old = _scenario()
    runs.run_start(scenario=old, actor=admin)

    call_command("seed_demo", "--staff", "450", "--reset")

    new = _scenario()
    assert new.pk != old.pk and Scenario.objects.count() == 1 and new.injects.count() == 15
    assert (Run.objects.count(), RunInject.objects.count(), RunEntry.objects.count()) == (0, 0, 0)
    assert Inject.objects.count() == 15
