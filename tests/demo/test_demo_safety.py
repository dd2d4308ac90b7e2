"""The demo city's safety record: assembly places at every ward office and the city hall, the
settings pointing at the city HQ and the 本部長 post, and a past earthquake with a closed
round to six wards — about 80 % answered with a realistic mix, some on behalf, check-ins, the
rest missing. Seeded once, the same for a seed, gone with ``seed_demo --reset``."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from demo import city as demo
from demo.safety import INCIDENT_TITLE, NORTH
from directory.models import AuditEntry, OrgUnit, Staff, User
from safety import selectors
from safety.assembly_board import assembly_board
from safety.models import (
    AssemblyPlace,
    CheckIn,
    Incident,
    IncidentEntry,
    SafetyAnswer,
    SafetyRequest,
    SafetyRound,
    SafetySettings,
)

pytestmark = pytest.mark.django_db

STAFF = 500
SAFETY_MODELS = (
    AssemblyPlace, Incident, IncidentEntry, SafetyRound, SafetyRequest, SafetyAnswer, CheckIn,
)  # fmt: skip


@pytest.fixture
def seeded():
    return demo.demo_city_seed(staff_count=STAFF)


def _counts() -> dict[str, int]:
    return {m.__name__: m.objects.count() for m in (*SAFETY_MODELS, AuditEntry)}


def _snapshot() -> list[tuple]:
    """Answers and check-ins by employee number, places by name (ids differ after a reset)."""
    names = dict(AssemblyPlace.objects.values_list("id", "name"))
    answers = [
        (number, {k: names.get(v, v) if k == "place" else v for k, v in values.items()}, *rest)
        for number, values, *rest in SafetyAnswer.objects.order_by(
            "request__staff__employee_number", "at", "id"
        ).values_list("request__staff__employee_number", "values", "via", "entered_by__username")
    ]
    return answers + list(
        CheckIn.objects.order_by("request__staff__employee_number", "place__name").values_list(
            "request__staff__employee_number", "place__name", "entered_by__username"
        )
    )


def test_every_ward_office_and_the_city_hall_is_an_assembly_place(seeded):
    places = {p.name: p for p in AssemblyPlace.objects.select_related("unit")}

    wards = OrgUnit.objects.filter(kind=OrgUnit.Kind.WARD)
    assert set(places) == {f"{w.name}役所" for w in wards} | {"大阪市役所"}
    assert places["大阪市役所"].unit.code == demo.DEMO_ROOT_CODE
    assert all(places[f"{w.name}役所"].unit == w for w in wards)
    assert all(p.coordinators.exists() for p in places.values())
    kita = [u.username for u in places["北区役所"].coordinators.order_by("username")]
    assert demo.STAFF in kita  # the staff sign-in runs 北区役所's desk
    row = SafetySettings.objects.get()
    assert row.hq_group.name == "大阪市災害対策本部" and row.commander_post.name == "本部長"
    assert seeded.safety.places == 25


def test_a_past_incident_with_a_closed_round_of_six_wards(seeded):
    incident = Incident.objects.get()
    round_ = SafetyRound.objects.get()
    local = timezone.localtime

    assert (incident.title, incident.source, incident.is_open) == (INCIDENT_TITLE, "demo", False)
    assert local(incident.started_at).date() == (local() - timedelta(days=5)).date()
    assert incident.started_at < round_.started_at < round_.closed_at < incident.ended_at
    assert [e.action for e in incident.entries.order_by("at")] == [
        "declare",
        "round_start",
        "round_close",
        "end",
    ]
    assert (round_.incident, round_.status) == (incident, "closed")
    wards = OrgUnit.objects.filter(name__in=NORTH, kind=OrgUnit.Kind.WARD)
    asked = Staff.objects.filter(
        unit__path__regex=r"^(" + "|".join(w.path for w in wards) + ")"
    ).count()
    assert round_.total == asked == SafetyRequest.objects.count() > 40


def test_about_eighty_percent_answered_with_a_realistic_mix(seeded):
    round_ = SafetyRound.objects.get()
    requests = SafetyRequest.objects.filter(round=round_).select_related("answer")
    current = [r.answer.values for r in requests if r.answer_id]

    assert 0.7 <= len(current) / round_.total <= 0.9
    assert set(Counter(v["self"] for v in current)) >= {"safe", "minor"}
    attend = Counter(v["attend"] for v in current)
    assert set(attend) == {"yes", "late", "no"} and attend["yes"] > attend["late"] > 0
    assert all("eta" in v for v in current if v["attend"] == "late")
    where = Counter("id" if isinstance(v.get("place"), int) else v.get("place") for v in current)
    assert where["own"] > where["id"] > 0 and where["other"] > 0
    on_behalf = SafetyAnswer.objects.filter(entered_by__isnull=False)
    assert on_behalf.exists() and set(on_behalf.values_list("via", flat=True)) == {"phone"}
    assert not AuditEntry.objects.filter(action="safety.answer_on_behalf").exists()
    for r in requests.filter(answer__isnull=False):
        first = SafetyAnswer.objects.filter(request=r).order_by("at").first()
        assert r.first_answer_at == first.at
        assert round_.started_at < first.at < round_.closed_at


def test_check_ins_arrived_and_the_missing_show_on_the_board(seeded, client):
    round_ = SafetyRound.objects.get()
    checkins = CheckIn.objects.filter(round=round_)

    assert checkins.filter(entered_by__isnull=False).exists()  # ticked off at the place
    assert checkins.filter(entered_by__isnull=True).exists()  # by themselves
    assert all(round_.started_at < c.at < round_.closed_at for c in checkins)
    board = assembly_board(round_=round_, fresh=True)
    assert board.counts.arrived == checkins.count() and board.counts.missing > 0
    assert board.counts.late == 0 and board.counts.coming == 0  # closed: missing, not late
    kita = next(p for p in board.places if p.name == "北区役所")
    assert kita.counts.expected > 0 and kita.counts.arrived > 0
    mine = CheckIn.objects.get(request__staff__employee_number=demo.STAFF)
    assert mine.place.name == "北区役所"

    client.force_login(User.objects.get(username=demo.MAYOR))
    page = client.get(reverse("safety:assembly_board", args=[round_.pk])).content.decode()
    assert "北区役所" in page and "淀川区役所" in page
    place = client.get(reverse("safety:assembly_place", args=[round_.pk, kita.place_id]))
    assert place.status_code == 200 and "到着済み" in place.content.decode()
    assert selectors.user_can_see_assembly(user=User.objects.get(username=demo.STAFF))


def test_a_second_run_adds_nothing_and_the_same_seed_gives_the_same_record(seeded):
    before, snapshot = _counts(), _snapshot()

    again = demo.demo_city_seed(staff_count=STAFF)
    assert (again.safety.places, again.safety.incidents) == (0, 0)
    assert _counts() == before

    demo.demo_city_delete()
    demo.demo_city_seed(staff_count=STAFF)
    assert _snapshot() == snapshot


def test_reset_removes_the_safety_record(seeded):
    demo.demo_city_delete()

    assert {m.__name__: m.objects.count() for m in SAFETY_MODELS} == dict.fromkeys(
        (m.__name__ for m in SAFETY_MODELS), 0
    )
    row = SafetySettings.objects.get()
    assert (row.hq_group, row.commander_post) == (None, None)
