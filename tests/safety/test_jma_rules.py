"""The rules, end to end: the fixture feed on a real HTTP server on 127.0.0.1, one real poll,
and what it started (rounds, incidents, the proposal) — or, where it must not, that nothing
was started."""

from __future__ import annotations

import pytest
from django.contrib.contenttypes.models import ContentType

from notifications import kinds
from notifications.models import Notification
from realtime import clock
from safety import incidents
from safety.jma import actions
from safety.jma.models import JmaReport, JmaStep
from safety.jma.notices import KIND_PROPOSAL
from safety.jma.parse import parse_report
from safety.jma.poller import jma_poll
from safety.models import Incident, IncidentEntry, SafetyRequest, SafetyRound
from tests.safety.jma_server import fixture

pytestmark = pytest.mark.django_db

E1 = "20240601100048"  # 5弱 (VXSE51 and VXSE53)
E2 = "20240601143012"  # 5強, and its 取消
AFTERSHOCK = "20240601113020"


def poll(jma, *names, **kw):
    jma.publish(*names)
    return jma_poll(**kw)


def asked(round_: SafetyRound) -> set[int]:
    return set(SafetyRequest.objects.filter(round=round_).values_list("staff_id", flat=True))


def ward_staff(city, unit) -> set[int]:
    from directory.models import Staff

    return set(Staff.objects.filter(unit__path__startswith=unit.path).values_list("pk", flat=True))


def proposals() -> list[Notification]:
    return list(Notification.objects.filter(kind=KIND_PROPOSAL).order_by("channel", "pk"))


def report_row(name: str) -> JmaReport:
    return JmaReport.objects.get(url__endswith=f"/data/{name}")


# --- 5弱 ------------------------------------------------------------------------------------
def test_5_lower_in_our_city_asks_the_affected_wards_and_proposes_disaster_mode(city, jma):
    result = poll(jma, "VXSE53_5minus_osaka.xml")

    [round_] = SafetyRound.objects.all()
    assert round_.target == {"workplace_units": [city.kita.pk]}
    assert asked(round_) == ward_staff(city, city.kita) and round_.total == 6
    assert (round_.incident, round_.is_drill, round_.started_by) == (None, False, None)
    assert (round_.jma_event_id, round_.intensity) == (E1, "5-")
    assert round_.title == "地震（震度5弱）：大阪北区"
    assert Incident.objects.count() == 0
    # The crisis office is asked to declare: in the app and by push, linking to /safety/declare/
    notes = proposals()
    assert [(n.user, n.channel) for n in notes] == [(city.officer, "inapp"), (city.officer, "push")]
    assert notes[0].subject_type == ContentType.objects.get_for_model(JmaReport)
    texts = kinds.get(KIND_PROPOSAL).render(notes[0])
    assert texts.link == "/safety/declare/"
    assert texts.title == "災害モードを宣言しますか？ 大阪北区で震度5弱"
    row = JmaReport.objects.get(pk=result.done[0])
    assert (row.outcome, row.intensity, row.event_id, row.status) == ("started", "5-", E1, "通常")


def test_a_city_not_yet_reporting_counts_as_5_lower(city, jma):
    poll(jma, "VXSE53_unreceived.xml")

    [round_] = SafetyRound.objects.all()
    assert round_.target == {"workplace_units": [city.chuo.pk]}
    assert asked(round_) == ward_staff(city, city.chuo)
    assert len(proposals()) == 2


# --- 5強 and tsunami ------------------------------------------------------------------------
def test_5_upper_declares_disaster_mode_and_asks_all_staff(city, jma):
    poll(jma, "VXSE53_5plus_osaka.xml")

    [incident] = Incident.objects.all()
    assert (incident.source, incident.jma_event_id, incident.kind) == ("jma", E2, "earthquake")
    assert incident.declared_by is None and incident.is_open and not incident.is_drill
    assert incident.level == city.emergency  # the most severe level, the rule naming none
    assert set(incident.affected_units.all()) == {city.kita, city.chuo}
    assert incident.title == "地震（震度5強）：大阪北区、大阪中央区"
    [round_] = SafetyRound.objects.all()
    assert (round_.target, round_.incident, round_.intensity) == ({"all": True}, incident, "5+")
    assert round_.total == 12
    actions_ = list(IncidentEntry.objects.filter(incident=incident).values_list("action", "actor"))
    assert actions_ == [("declare", None), ("round_start", None)]
    assert proposals() == []  # declared: nothing to propose


def test_a_tsunami_warning_for_our_forecast_area_is_like_5_upper(city, jma):
    poll(jma, "VTSE41_warning_osaka.xml")

    [incident] = Incident.objects.all()
    assert (incident.kind, incident.jma_event_id) == ("tsunami", "20240605061530")
    assert incident.title == "津波：大阪府に津波警報"
    assert list(incident.affected_units.all()) == []  # the whole city
    [round_] = SafetyRound.objects.all()
    assert (round_.target, round_.incident, round_.total) == ({"all": True}, incident, 12)


def test_a_tsunami_advisory_for_our_area_starts_nothing(city, jma):
    poll(jma, "VTSE41_advisory_osaka.xml")

    assert Incident.objects.count() == 0 and SafetyRound.objects.count() == 0
    assert report_row("VTSE41_advisory_osaka.xml").outcome == "nothing"


# --- nothing --------------------------------------------------------------------------------
def test_strong_shaking_elsewhere_only_starts_nothing(city, jma):
    poll(jma, "VXSE53_elsewhere.xml")

    assert Incident.objects.count() == 0 and SafetyRound.objects.count() == 0
    assert Notification.objects.count() == 0 and JmaStep.objects.count() == 0
    row = report_row("VXSE53_elsewhere.xml")
    assert (row.state, row.outcome, row.intensity) == ("done", "nothing", "3")


def test_an_exercise_report_never_starts_anything_real(city, jma, caplog):
    caplog.set_level("INFO", logger="safety.jma")

    poll(jma, "VXSE53_drill_5plus.xml", "VXSE51_test.xml")

    assert Incident.objects.count() == 0 and SafetyRound.objects.count() == 0
    assert Notification.objects.count() == 0 and JmaStep.objects.count() == 0
    assert report_row("VXSE53_drill_5plus.xml").outcome == "exercise"
    assert report_row("VXSE51_test.xml").outcome == "test"
    logged = [r.getMessage() for r in caplog.records if r.name == "safety.jma"]
    assert any("訓練" in m and "exercise" in m for m in logged)
    assert any("試験" in m and ": test" in m for m in logged)


def test_with_exercise_rounds_on_an_exercise_starts_only_exercises(city, jma, jma_rule):
    jma_rule.drill_rounds = True
    jma_rule.save()

    poll(jma, "VXSE53_drill_5plus.xml", "VXSE51_test.xml")

    [incident] = Incident.objects.all()
    [round_] = SafetyRound.objects.all()
    assert incident.is_drill and round_.is_drill and round_.incident == incident
    assert Incident.objects.filter(is_drill=False).count() == 0  # the 試験 one: nothing


def test_reports_older_than_the_limit_start_nothing(city, jma, jma_rule):
    jma_rule.max_age_minutes = 60  # the fixtures are from 2024
    jma_rule.save()

    poll(jma, "VXSE53_5plus_osaka.xml")

    assert Incident.objects.count() == 0 and SafetyRound.objects.count() == 0
    assert report_row("VXSE53_5plus_osaka.xml").outcome == "stale"


def test_with_the_rule_off_reports_are_recorded_and_start_nothing(city, jma, jma_rule):
    jma_rule.enabled = False
    jma_rule.save()

    poll(jma, "VXSE53_5plus_osaka.xml")

    assert Incident.objects.count() == 0 and SafetyRound.objects.count() == 0
    assert report_row("VXSE53_5plus_osaka.xml").outcome == "disabled"


# --- 取消 ------------------------------------------------------------------------------------
def test_a_cancellation_ends_the_incident_and_closes_the_round_it_started(city, jma):
    poll(jma, "VXSE53_5plus_osaka.xml")
    [incident] = Incident.objects.all()
    [round_] = SafetyRound.objects.all()

    poll(jma, "VXSE53_5plus_osaka.xml", "VXSE53_cancel_5plus.xml")

    incident.refresh_from_db()
    round_.refresh_from_db()
    assert not incident.is_open and round_.status == "closed"
    end = IncidentEntry.objects.get(incident=incident, action="end")
    assert end.actor is None
    assert end.data["reason"] == (
        "気象庁が情報を取り消しました（震源・震度に関する情報、EventID 20240601143012）。"
    )
    assert report_row("VXSE53_cancel_5plus.xml").outcome == "cancelled"
    assert JmaStep.objects.filter(event_id=E2, cancelled_at__isnull=True).count() == 1  # cancel
    assert SafetyRound.objects.count() == 1 and Incident.objects.count() == 1


def test_a_cancellation_leaves_disaster_mode_it_did_not_declare(city, jma):
    declared = incidents.incident_declare(
        actor=city.mayor, title="大雨", kind="flood", level=city.alert
    )

    poll(jma, "VXSE53_5plus_osaka.xml")
    poll(jma, "VXSE53_5plus_osaka.xml", "VXSE53_cancel_5plus.xml")

    declared.refresh_from_db()
    assert declared.is_open and Incident.objects.count() == 1  # joined, then left open
    [round_] = SafetyRound.objects.all()
    assert round_.incident == declared and round_.status == "closed"


def test_a_cancelled_proposal_is_withdrawn(city, jma):
    poll(jma, "VXSE53_5minus_osaka.xml")
    cancel = fixture("VXSE53_cancel_5plus.xml").replace(E2.encode(), E1.encode())
    row = JmaReport.objects.create(
        entry_id="cancel-e1", url="x", kind="VXSE53", seen_at=clock.now()
    )

    actions.report_apply(row=row, report=parse_report(cancel, max_bytes=10**6))

    [round_] = SafetyRound.objects.all()
    assert round_.status == "closed"
    withdrawn = [n for n in proposals() if n.data.get("withdrawn")]
    assert [(n.user, n.channel) for n in withdrawn] == [
        (city.officer, "inapp"),
        (city.officer, "push"),
    ]
    texts = kinds.get(KIND_PROPOSAL).render(withdrawn[0])
    assert texts.title == "提案の取り下げ：気象庁が情報を取り消しました"


# --- once per quake; a further round only for a stronger one --------------------------------
def test_a_later_report_of_the_same_quake_starts_no_second_round(city, jma):
    poll(jma, "VXSE51_5minus_osaka.xml")
    [round_] = SafetyRound.objects.all()
    assert round_.target == {"workplace_units": [city.root.pk]}  # 大阪府北部: the whole city

    poll(jma, "VXSE51_5minus_osaka.xml", "VXSE53_5minus_osaka.xml")

    assert list(SafetyRound.objects.all()) == [round_]
    assert len(proposals()) == 2  # one proposal (in the app, by push) for the quake
    later = report_row("VXSE53_5minus_osaka.xml")
    assert later.outcome == "nothing" and later.event_id == E1
    assert later.detail["steps"] == [
        {"step": "round", "skipped": "taken before for this EventID"},
        {"step": "proposal", "skipped": "taken before for this EventID"},
    ]


def test_a_stronger_quake_within_6_hours_starts_a_second_round_for_all(city, jma):
    poll(jma, "VXSE53_5minus_osaka.xml")
    clock.advance(4 * 3600)

    poll(jma, "VXSE53_5minus_osaka.xml", "VXSE53_5plus_osaka.xml")

    first, second = SafetyRound.objects.order_by("pk")
    assert first.target == {"workplace_units": [city.kita.pk]}
    assert (second.target, second.jma_event_id, second.intensity) == ({"all": True}, E2, "5+")
    assert second.incident == Incident.objects.get()


def test_an_equal_quake_within_6_hours_starts_no_round_and_no_proposal(city, jma):
    poll(jma, "VXSE53_5minus_osaka.xml")

    poll(jma, "VXSE53_5minus_osaka.xml", "VXSE53_5minus_aftershock.xml")

    assert SafetyRound.objects.count() == 1 and len(proposals()) == 2
    row = report_row("VXSE53_5minus_aftershock.xml")
    assert (row.outcome, row.event_id) == ("nothing", AFTERSHOCK)
    assert row.detail["steps"][0] == {
        "step": "round",
        "skipped": "a round as strong or stronger within 6 h",
    }


def test_a_weaker_quake_after_a_declared_one_starts_nothing(city, jma):
    poll(jma, "VXSE53_5plus_osaka.xml")

    poll(jma, "VXSE53_5plus_osaka.xml", "VXSE53_5minus_aftershock.xml")

    assert SafetyRound.objects.count() == 1 and Incident.objects.count() == 1
    assert proposals() == []


def test_after_6_hours_an_equal_quake_starts_a_round_again(city, jma):
    poll(jma, "VXSE53_5minus_osaka.xml")
    clock.advance(6 * 3600 + 60)

    poll(jma, "VXSE53_5minus_osaka.xml", "VXSE53_5minus_aftershock.xml")

    assert SafetyRound.objects.count() == 2
    assert SafetyRound.objects.order_by("pk").last().jma_event_id == AFTERSHOCK
