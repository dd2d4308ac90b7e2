"""The demo city's drill scenario, 南海トラフ地震 発生から1時間: fifteen injects against
大阪市災害対策本部 and its posts (the simulated JMA reports, the 本部長's instructions with
what is expected of the ward heads, a safety round, calls for the control cell to make, and
the first deputy answering for a silent 北区長 as a contingency).

It is the bundled MSEL file ``drills/fixtures/nankai-first-hour.csv`` imported through
``drills.scenarios.scenario_import``, the path a planner's upload takes, so seeding it also
proves that path. Idempotent (found by its title); ``--reset`` deletes it with every scenario
that points at the demo city (see :func:`demo_drills_delete`)."""

from __future__ import annotations

from pathlib import Path

from django.db.models import Q

from directory.models import OrgUnit
from drills import scenarios
from drills.models import Inject, RunInject, Scenario

from .groups import _purge
from .units import DemoSeedError

DEMO_SCENARIO_TITLE = "南海トラフ地震 発生から1時間"
DEMO_SCENARIO_DESCRIPTION = (
    "平日14時46分、紀伊半島沖を震源とするM8.7の地震。大阪市内で震度6弱、大阪府に大津波警報。"
    "発災から1時間の本部運営（本部設置、区からの第1報、沿岸区への避難指示、職員の安否確認、"
    "余震、第2回本部会議の招集）を訓練する。"
)
FIXTURE = Path(scenarios.__file__).resolve().parent / "fixtures" / "nankai-first-hour.csv"


def demo_drills_seed() -> int:
    """Import the demo scenario unless it is there; returns how many scenarios were new."""
    if Scenario.objects.filter(title=DEMO_SCENARIO_TITLE, created_by=None).exists():
        return 0
    try:
        scenarios.scenario_import(
            actor=None,
            filename=FIXTURE.name,
            content=FIXTURE.read_bytes(),
            title=DEMO_SCENARIO_TITLE,
            description=DEMO_SCENARIO_DESCRIPTION,
        )
    except scenarios.ScenarioImportError as exc:
        lines = "; ".join(f"row {e.row} {e.column}: {e.message}" for e in exc.errors)
        raise DemoSeedError(f"the demo drill scenario does not fit this city ({lines})") from exc
    return 1


def demo_drills_delete(root: OrgUnit) -> None:
    """Delete the scenarios that point at the demo city (its posts, groups or units) or were
    written by its accounts, with their runs and what the runs logged; the messages and
    safety rounds the runs sent go with the demo's groups and people."""
    inside = root.path
    scenarios_qs = Scenario.objects.filter(
        Q(injects__from_post__unit__path__startswith=inside)
        | Q(injects__to_group__unit__path__startswith=inside)
        | Q(injects__to_units__path__startswith=inside)
        | Q(created_by__staff__unit__path__startswith=inside)
        | Q(title=DEMO_SCENARIO_TITLE, created_by=None)
    )
    ids = set(scenarios_qs.values_list("pk", flat=True))
    if not ids:
        return
    Inject.objects.filter(scenario_id__in=ids).update(contingency=None)
    RunInject.objects.filter(run__scenario_id__in=ids).update(contingency_of=None)
    _purge(Scenario.objects.filter(pk__in=ids))
