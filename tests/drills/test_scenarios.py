"""The scenario editor: the services write scenarios and injects (audited) and refuse what a run
could not use, with the reason on the field; contingencies are injects of the scenario that
neither point at themselves nor go round in a circle; a scenario that has been run stays as it
was (copy it to change it); the pages work for coordinators, show times as mm:ss / hh:mm:ss and
Japanese errors; players never see them, and every denied path changes nothing."""

from __future__ import annotations

import re

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import translation

from directory.models import AuditEntry, User
from drills import forms_scenario, msel, runs, scenarios
from drills.models import Inject, Scenario
from messaging import services as messaging_services
from tests.factories import StaffFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def coordinator(city) -> User:
    """A coordinator in the crisis office who can post in the headquarters group."""
    user = UserFactory(role=User.Role.COORDINATOR)
    StaffFactory(user=user, unit=city.crisis)
    messaging_services.group_add_member(
        group=city.group, staff=user.staff, role="commander", actor=None
    )
    return user


def _posts(city):
    return city.mayor.staff.posts_held.get(), city.ward_head.staff.posts_held.get()


def _save(city, actor, scenario, **kw) -> Inject:
    values = {
        "number": 1,
        "offset": 60,
        "kind": Inject.Kind.SITUATION,
        "from_post": None,
        "to_group": city.group,
        "to_units": [],
        "priority": "urgent",
        "text": "震度6強を観測",
        "expectations": [],
    } | kw
    return scenarios.inject_save(actor=actor, scenario=scenario, **values)


def _counts() -> tuple[int, int, int]:
    return Scenario.objects.count(), Inject.objects.count(), AuditEntry.objects.count()


# --- services -------------------------------------------------------------------------------
def test_a_scenario_and_its_injects_are_written_through_audited_services(city, coordinator):
    head, kita = _posts(city)
    scenario = scenarios.scenario_create(actor=coordinator, title=" 2019年1月 地震訓練 ")
    follow_up = _save(
        city,
        coordinator,
        scenario,
        number=2,
        offset=0,
        text="第1代行者は報告してください",
        only_as_contingency=True,
    )
    first = _save(
        city,
        coordinator,
        scenario,
        number=1,
        offset=90,
        kind=Inject.Kind.INSTRUCTION,
        from_post=head,
        text="住民を3階以上へ避難させてください",
        expectations=[
            {"check": "read", "minutes": 2},
            {"check": "ack", "minutes": 5, "posts": ["北区長"]},
        ],
        objective="指示が区長に届く",
        contingency=follow_up,
    )
    safety = _save(
        city,
        coordinator,
        scenario,
        number=3,
        offset=3600 + 300,
        kind=Inject.Kind.SAFETY_ROUND,
        to_group=None,
        to_units=[city.kita, city.chuo],
        expectations=[{"check": "safety", "minutes": 30, "percent": 50}],
    )

    first.refresh_from_db()
    assert scenario.title == "2019年1月 地震訓練" and scenario.created_by == coordinator
    assert (first.offset, first.kind, first.from_post, first.contingency) == (
        90,
        "instruction",
        head,
        follow_up,
    )
    assert first.expectations == [
        {"check": "read", "minutes": 2},
        {"check": "ack", "minutes": 5, "posts": ["北区長"]},
    ]
    assert set(safety.to_units.all()) == {city.kita, city.chuo}
    assert list(
        AuditEntry.objects.filter(action__startswith="drill.")
        .order_by("pk")
        .values_list("action", flat=True)
    ) == [
        "drill.scenario_create",
        "drill.inject_create",
        "drill.inject_create",
        "drill.inject_create",
    ]

    _save(city, coordinator, scenario, inject=first, number=1, offset=120, kind="situation")
    first.refresh_from_db()
    assert (first.offset, first.kind, first.from_post) == (120, "situation", None)
    assert AuditEntry.objects.filter(action="drill.inject_update", target_id=str(first.pk)).count()

    # The scenario runs: what the editor wrote is what the run sends.
    run = runs.run_start(scenario=scenario, actor=coordinator)
    assert run.injects.count() == 3


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"to_group": None}, "to_group", scenarios.ERR_NEEDS_GROUP),
        ({"kind": "jma", "from_post": "head"}, "from_post", scenarios.ERR_FROM_CONTROL),
        ({"kind": "safety"}, "to_group", scenarios.ERR_SAFETY_GROUP),
        (
            {"expectations": [{"check": "ack", "minutes": 5}]},
            "expectations",
            scenarios.ERR_EXP_ACK_KIND,
        ),
        (
            {"expectations": [{"check": "safety", "minutes": 30, "percent": 50}]},
            "expectations",
            scenarios.ERR_EXP_SAFETY_KIND,
        ),
        (
            {"kind": "call", "to_group": None, "expectations": [{"check": "read", "minutes": 2}]},
            "expectations",
            scenarios.ERR_EXP_MESSAGE_KIND,
        ),
        (
            {"expectations": [{"check": "read", "minutes": 0}]},
            "expectations",
            scenarios.ERR_EXP_INVALID,
        ),
        ({"offset": msel.MAX_OFFSET + 1}, "offset", msel.ERR_TIME),
        ({"number": 7}, "number", scenarios.ERR_NUMBER_TAKEN % {"n": 7}),
    ],
)
def test_an_inject_a_run_could_not_use_is_refused_on_its_field(
    city, coordinator, change, field, message
):
    scenario = scenarios.scenario_create(actor=coordinator, title="訓練")
    _save(city, coordinator, scenario, number=7)
    if change.get("from_post") == "head":
        change["from_post"] = _posts(city)[0]
    before = _counts()

    with pytest.raises(ValidationError) as exc:
        _save(city, coordinator, scenario, **{"number": 8} | change)

    assert exc.value.message_dict[field] == [str(message)]
    assert _counts() == before


def test_a_contingency_is_another_inject_of_the_scenario_and_no_circle(city, coordinator):
    scenario = scenarios.scenario_create(actor=coordinator, title="訓練")
    one = _save(city, coordinator, scenario, number=1)
    two = _save(city, coordinator, scenario, number=2, contingency=one)
    elsewhere = _save(
        city, coordinator, scenarios.scenario_create(actor=coordinator, title="別"), number=9
    )

    cases = [
        (one, one, scenarios.ERR_CONTINGENCY_SELF),
        (one, two, scenarios.ERR_CONTINGENCY_LOOP % {"chain": "#1 → #2 → #1"}),
        (one, elsewhere, scenarios.ERR_CONTINGENCY_UNKNOWN % {"n": 9}),
    ]
    for inject, contingency, message in cases:
        with pytest.raises(ValidationError) as exc:
            _save(city, coordinator, scenario, inject=inject, number=1, contingency=contingency)
        assert exc.value.message_dict["contingency"] == [str(message)]
    one.refresh_from_db()
    assert one.contingency is None


def test_an_inject_named_as_a_contingency_is_not_deleted(city, coordinator):
    scenario = scenarios.scenario_create(actor=coordinator, title="訓練")
    spare = _save(city, coordinator, scenario, number=5, only_as_contingency=True)
    _save(city, coordinator, scenario, number=1, contingency=spare)

    with pytest.raises(ValidationError) as exc:
        scenarios.inject_delete(actor=coordinator, inject=spare)

    assert exc.value.messages == [str(scenarios.ERR_IS_CONTINGENCY % {"n": 5, "of": "#1"})]
    assert Inject.objects.filter(pk=spare.pk).exists()


def test_a_scenario_that_has_been_run_stays_as_it_was_and_its_copy_can_change(city, coordinator):
    head, _kita = _posts(city)
    scenario = scenarios.scenario_create(actor=coordinator, title="2019年1月 地震訓練")
    spare = _save(city, coordinator, scenario, number=2, only_as_contingency=True)
    first = _save(
        city,
        coordinator,
        scenario,
        number=1,
        kind="instruction",
        from_post=head,
        to_units=[city.kita],
        expectations=[{"check": "reply", "minutes": 5, "posts": ["北区長"]}],
        contingency=spare,
    )
    runs.run_start(scenario=scenario, actor=coordinator)
    before = _counts()

    with pytest.raises(ValidationError, match=re.escape(str(scenarios.ERR_HAS_RUNS))):
        _save(city, coordinator, scenario, inject=first, number=1, text="変更")
    with pytest.raises(ValidationError, match=re.escape(str(scenarios.ERR_HAS_RUNS))):
        scenarios.scenario_delete(actor=coordinator, scenario=scenario)
    with pytest.raises(ValidationError, match=re.escape(str(scenarios.ERR_HAS_RUNS))):
        scenarios.inject_delete(actor=coordinator, inject=spare)
    assert _counts() == before

    copy = scenarios.scenario_copy(actor=coordinator, scenario=scenario)

    assert copy.title == "2019年1月 地震訓練のコピー"
    copied = {i.number: i for i in copy.injects.all()}
    assert copied[1].contingency == copied[2] and copied[1].expectations == first.expectations
    assert list(copied[1].to_units.all()) == [city.kita]
    _save(city, coordinator, copy, inject=copied[1], number=1, text="変更")
    scenarios.scenario_delete(actor=coordinator, scenario=copy)
    assert not Scenario.objects.filter(pk=copy.pk).exists()


def test_only_coordinators_and_administrators_write_scenarios(city, coordinator):
    scenario = scenarios.scenario_create(actor=coordinator, title="訓練")
    inject = _save(city, coordinator, scenario)
    admin = UserFactory(role=User.Role.ADMIN)
    StaffFactory(user=admin, unit=city.crisis)
    before = _counts()

    for user in (city.mayor, city.ward_head, city.staff_user, city.officer):
        with pytest.raises(PermissionDenied):
            scenarios.scenario_create(actor=user, title="x")
        with pytest.raises(PermissionDenied):
            _save(city, user, scenario, inject=inject, text="書き換え")
        with pytest.raises(PermissionDenied):
            scenarios.inject_delete(actor=user, inject=inject)
        with pytest.raises(PermissionDenied):
            scenarios.scenario_delete(actor=user, scenario=scenario)
        with pytest.raises(PermissionDenied):
            scenarios.scenario_copy(actor=user, scenario=scenario)
    assert _counts() == before

    assert scenarios.scenario_create(actor=admin, title="管理者の訓練").created_by == admin


# --- pages ----------------------------------------------------------------------------------
def _form(city, **kw) -> dict:
    data = {
        "number": "1",
        "time": "01:30",
        "kind": "instruction",
        "from_post": str(_posts(city)[0].pk),
        "to_group": str(city.group.pk),
        "to_units": "",
        "priority": "urgent",
        "text": "住民を3階以上へ避難させてください",
        "objective": "指示が届く",
        "contingency": "",
        "exp-TOTAL_FORMS": "3",
        "exp-INITIAL_FORMS": "0",
        "exp-MIN_NUM_FORMS": "0",
        "exp-MAX_NUM_FORMS": "12",
        "exp-0-check": "read",
        "exp-0-minutes": "2",
        "exp-1-check": "reply",
        "exp-1-minutes": "5",
        "exp-1-posts": "北区長",
    }
    return data | kw


def test_a_coordinator_writes_an_inject_on_the_page_and_sees_its_time_as_mm_ss(
    client, city, coordinator
):
    client.force_login(coordinator)
    response = client.post(reverse("drills:scenario_new"), {"title": "地震訓練"})
    scenario = Scenario.objects.get()
    assert response.url == reverse("drills:scenario_edit", args=[scenario.pk])

    response = client.post(reverse("drills:inject_new", args=[scenario.pk]), _form(city))

    inject = scenario.injects.get()
    assert response.status_code == 302 and response.url.endswith("#inject-1")
    assert (inject.offset, inject.kind, inject.text) == (90, "instruction", _form(city)["text"])
    assert inject.expectations == [
        {"check": "read", "minutes": 2},
        {"check": "reply", "minutes": 5, "posts": ["北区長"]},
    ]
    page = client.get(reverse("drills:scenario_edit", args=[scenario.pk])).content.decode()
    assert "01:30" in page and "既読 2分; 返信 5分 北区長" in page
    edit = client.get(reverse("drills:inject_edit", args=[scenario.pk, inject.pk]))
    assert 'value="01:30"' in edit.content.decode()

    # An hour and more is hh:mm:ss, both ways.
    client.post(
        reverse("drills:inject_edit", args=[scenario.pk, inject.pk]), _form(city, time="1:05:00")
    )
    inject.refresh_from_db()
    assert inject.offset == 3900
    assert (
        "01:05:00"
        in client.get(reverse("drills:scenario_detail", args=[scenario.pk])).content.decode()
    )


def test_the_inject_page_says_what_is_wrong_in_japanese_and_saves_nothing(
    client, city, coordinator
):
    scenario = scenarios.scenario_create(actor=coordinator, title="訓練")
    client.force_login(coordinator)
    before = _counts()

    response = client.post(
        reverse("drills:inject_new", args=[scenario.pk]),
        _form(
            city,
            time="5分",
            to_units="OSK-W01 火星区",
            **{
                "exp-TOTAL_FORMS": "4",
                "exp-2-check": "safety",
                "exp-2-minutes": "30",
                "exp-2-posts": "北区長",
                "exp-3-minutes": "5",  # and no check
            },
        ),
    )
    page = response.content.decode()
    with translation.override("ja"):
        assert str(msel.ERR_TIME) in page
        assert str(msel.ERR_UNIT % {"unit": "火星区"}) in page
        assert str(forms_scenario.ERR_POSTS_SAFETY) in page
        assert str(forms_scenario.ERR_CHECK_MISSING) in page
        assert "時刻は mm:ss" in str(msel.ERR_TIME)  # the catalogue has it
    assert response.status_code == 200 and _counts() == before

    # The kind rules come back from the service onto the page.
    response = client.post(
        reverse("drills:inject_new", args=[scenario.pk]),
        _form(city, kind="situation", from_post="", to_group=""),
    )
    page = response.content.decode()
    with translation.override("ja"):
        assert str(scenarios.ERR_NEEDS_GROUP) in page
    response = client.post(
        reverse("drills:inject_new", args=[scenario.pk]),
        _form(city, kind="call", from_post="", to_group=""),
    )
    with translation.override("ja"):  # once, above the expectation rows
        assert response.content.decode().count(str(scenarios.ERR_EXP_MESSAGE_KIND)) == 1
    assert _counts() == before


def test_players_never_see_the_editor_and_each_denied_path_changes_nothing(
    client, city, coordinator
):
    scenario = scenarios.scenario_create(actor=coordinator, title="訓練")
    inject = _save(city, coordinator, scenario)
    s, i = scenario.pk, inject.pk
    gets = [
        reverse("drills:scenario_new"),
        reverse("drills:scenario_import"),
        reverse("drills:scenario_edit", args=[s]),
        reverse("drills:scenario_reimport", args=[s]),
        reverse("drills:scenario_export", args=[s, "csv"]),
        reverse("drills:scenario_export", args=[s, "xlsx"]),
        reverse("drills:inject_new", args=[s]),
        reverse("drills:inject_edit", args=[s, i]),
    ]
    posts = [
        (reverse("drills:scenario_new"), {"title": "乗っ取り"}),
        (reverse("drills:scenario_edit", args=[s]), {"title": "乗っ取り"}),
        (reverse("drills:inject_new", args=[s]), _form(city, number="2")),
        (reverse("drills:inject_edit", args=[s, i]), _form(city, text="書き換え")),
        (reverse("drills:inject_delete", args=[s, i]), {}),
        (reverse("drills:scenario_copy", args=[s]), {}),
        (reverse("drills:scenario_delete", args=[s]), {}),
        (reverse("drills:scenario_import"), {"title": "x"}),
        (reverse("drills:scenario_reimport", args=[s]), {}),
    ]
    before = _counts()

    for user in (city.mayor, city.ward_head, city.staff_user):
        client.force_login(user)
        for url in gets:
            assert client.get(url).status_code == 403, url
        for url, data in posts:
            assert client.post(url, data).status_code == 403, url
    client.logout()
    for url, data in posts:
        assert client.post(url, data).status_code == 302  # to the sign-in page

    assert _counts() == before
    inject.refresh_from_db()
    scenario.refresh_from_db()
    assert (scenario.title, inject.text) == ("訓練", "震度6強を観測")
    client.force_login(coordinator)
    assert all(client.get(url).status_code == 200 for url in gets)
