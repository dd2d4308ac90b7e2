"""``manage.py jma_replay``: a bundled report served from 127.0.0.1 through the real poller."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from safety.jma.models import JmaArea, JmaFeed, JmaReport
from safety.models import Incident, SafetyRound

pytestmark = pytest.mark.django_db


def replay(*args: str) -> str:
    out = StringIO()
    call_command("jma_replay", *args, stdout=out)
    return out.getvalue()


def test_a_replayed_5_upper_declares_and_its_cancel_ends_it(city, jma_rule):
    said = replay("--report", "5plus")

    [incident] = Incident.objects.all()
    [round_] = SafetyRound.objects.all()
    assert incident.source == "jma" and incident.is_open and not incident.is_drill
    assert (round_.target, round_.incident, round_.intensity) == ({"all": True}, incident, "5+")
    assert "VXSE53 通常 発表" in said and ": started" in said
    assert JmaFeed.objects.count() == 0  # the replay's own local feed leaves no state

    said = replay("--report", "cancel")

    incident.refresh_from_db()
    round_.refresh_from_db()
    assert not incident.is_open and round_.status == "closed"
    assert f"取消 EventID {incident.jma_event_id}: cancelled" in said


def test_each_replay_is_a_new_quake(city, jma_rule):
    replay("--report", "5minus")
    replay("--report", "tsunami")

    assert JmaReport.objects.count() == 2
    assert Incident.objects.get().kind == "tsunami"  # stronger than the 5弱: a second round
    assert SafetyRound.objects.count() == 2


def test_a_drill_replay_starts_only_exercises(city, jma_rule):
    assert not jma_rule.drill_rounds

    said = replay("--drill", "--report", "5minus")

    [round_] = SafetyRound.objects.all()
    assert round_.is_drill and round_.target == {"workplace_units": [city.kita.pk]}
    assert "VXSE53 訓練 発表" in said
    replay("--drill", "--report", "cancel")
    round_.refresh_from_db()
    assert round_.status == "closed"
    assert Incident.objects.filter(is_drill=False).count() == 0


def test_without_codes_nothing_starts_and_fill_osaka_adds_them(city):
    said = replay("--report", "5plus")

    assert "has no codes" in said and Incident.objects.count() == 0
    assert JmaReport.objects.get().outcome == "nothing"

    said = replay("--report", "5plus", "--fill-osaka")

    assert "Added 4 JMA codes for 大阪市." in said  # 北区, 中央区, 大阪府北部, 大阪府 (tsunami)
    assert set(JmaArea.objects.values_list("code", flat=True)) == {
        "2712700",
        "2712800",
        "520",
        "510",
    }
    assert Incident.objects.count() == 1


def test_nothing_to_cancel_is_an_error(city, jma_rule):
    with pytest.raises(CommandError, match="Nothing to cancel"):
        replay("--report", "cancel")
