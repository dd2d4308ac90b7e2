"""Assembly (参集): where "my own office" leads, who is expected where, check-ins (by the person
from the link or the app, or ticked off by the place's coordinator; once per place), late and
missing by the rule, totals per place and per unit, and who may see and do what (a denied path
changes nothing)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from directory.models import User
from realtime import clock
from safety import answers, assembly, assembly_board, rounds
from safety.assembly_board import assembly_board as board_of
from safety.assembly_board import own_place
from safety.links import link_token
from safety.models import AssemblyPlace, CheckIn, SafetyRequest
from tests.factories import OrgUnitFactory, StaffFactory, UserFactory
from tests.safety.conftest import SAFE

pytestmark = pytest.mark.django_db


@pytest.fixture
def round_(city):
    return rounds.round_start(actor=city.mayor, title="北部地震 安否確認", target={"all": True})


@pytest.fixture
def kita_office(city) -> AssemblyPlace:
    return AssemblyPlace.objects.get(name="北区役所")


@pytest.fixture
def desk(city) -> User:
    """An ordinary member of staff in 中央区 who runs the ward office's assembly desk."""
    user = UserFactory(role=User.Role.STAFF)
    StaffFactory(user=user, unit=city.chuo)
    return user


@pytest.fixture
def chuo_office(city, desk) -> AssemblyPlace:
    place = AssemblyPlace.objects.get(name="中央区役所")
    place.coordinators.add(desk)
    return place


def req(round_, staff) -> SafetyRequest:
    return SafetyRequest.objects.select_related("staff", "round").get(round=round_, staff=staff)


def in_minutes(minutes: int) -> str:
    """An expected time "HH:MM" that many minutes from now, as a person would type it."""
    return timezone.localtime(clock.now() + timedelta(minutes=minutes)).strftime("%H:%M")


def row(board, name):
    return next(r for r in board.places if (r.name or "elsewhere") == name).counts


def unit_row(board, name):
    return next(u for u in board.units if u.name == name).counts


def counts(c) -> tuple[int, int, int, int, int]:
    return (c.expected, c.arrived, c.late, c.missing, c.coming)


# --- where "my own office" is ---------------------------------------------------------------
def test_own_office_is_the_bureau_or_ward_place_else_the_nearest_ancestors(city):
    kita_office = AssemblyPlace.objects.get(name="北区役所")
    # A place of the section itself does not win over the ward's (the first-level ancestor).
    AssemblyPlace.objects.create(name="北区総務課分室", unit=city.kita_section)

    assert own_place(unit=city.kita_section) == kita_office
    assert own_place(unit=city.kita) == kita_office
    assert own_place(unit=city.chuo).name == "中央区役所"
    assert own_place(unit=city.crisis) is None  # no place for 危機管理室, none above it yet

    city_hall = AssemblyPlace.objects.create(name="大阪市役所", unit=city.root)
    deep = OrgUnitFactory(name="防災計画課", parent=city.crisis)
    assert own_place(unit=city.crisis) == city_hall  # the nearest ancestor with a place
    assert own_place(unit=deep) == city_hall
    assert own_place(unit=city.root) == city_hall
    kita_office.is_active = False
    kita_office.save()
    assert own_place(unit=city.kita_section).name == "北区総務課分室"  # then the nearest


# --- the board ------------------------------------------------------------------------------
def test_the_board_counts_expected_arrived_late_and_missing_per_place_and_unit(
    desk, city, round_, kita_office, chuo_office
):
    kita0, kita1, kita2, kita3 = (req(round_, s) for s in city.kita_staff)
    chuo0, chuo1 = (req(round_, s) for s in city.chuo_staff[:2])
    mine = req(round_, city.staff_user.staff)
    answers.answer_from_link(request=kita0, data=SAFE)  # yes, own office → 北区役所
    answers.answer_from_link(
        request=kita1, data={**SAFE, "attend": "late", "eta": in_minutes(30)}
    )  # due in 45 minutes (ETA + 15)
    answers.answer_from_link(
        request=kita2, data={**SAFE, "place": "office", "place_place": str(chuo_office.pk)}
    )
    answers.answer_from_link(request=kita3, data={**SAFE, "attend": "no"})
    answers.answer_from_link(request=chuo0, data=SAFE)
    answers.answer_from_link(
        request=chuo1, data={**SAFE, "place": "other", "place_other": "自宅近くの避難所"}
    )
    answers.answer_in_app(user=city.staff_user, round_=round_, data=SAFE)
    assembly.checkin_from_link(request=kita0, place=kita_office)
    assembly.checkin_record(actor=desk, request=chuo0, place=chuo_office)

    board = board_of(round_=round_, fresh=True)
    assert counts(row(board, "北区役所")) == (3, 1, 0, 0, 2)
    assert counts(row(board, "中央区役所")) == (2, 1, 0, 0, 1)
    assert counts(row(board, "elsewhere")) == (1, 0, 0, 0, 1)
    assert counts(board.counts) == (6, 2, 0, 0, 4)
    # The places in the city's order, then "elsewhere" (a place's name is empty there).
    assert [r.name for r in board.places] == ["北区役所", "中央区役所", ""]

    clock.advance(50 * 60)  # past kita1's expected time + 15 minutes, before the hour
    board = board_of(round_=round_, fresh=True)
    assert counts(row(board, "北区役所")) == (3, 1, 1, 0, 1)

    clock.advance(11 * 60)  # an hour after the start: "yes, now" and not there is late
    board = board_of(round_=round_, fresh=True)
    assert counts(row(board, "北区役所")) == (3, 1, 2, 0, 0)
    assert counts(row(board, "中央区役所")) == (2, 1, 1, 0, 0)
    assert counts(unit_row(board, "北区")) == (4, 1, 3, 0, 0)  # kita0-2 and the section's user
    assert counts(unit_row(board, "北区総務課")) == (4, 1, 3, 0, 0)
    assert counts(unit_row(board, "中央区")) == (2, 1, 1, 0, 0)
    assert counts(unit_row(board, "大阪市")) == (6, 2, 4, 0, 0)

    rounds.round_close(round_=round_, actor=city.mayor)
    round_.refresh_from_db()
    board = board_of(round_=round_, fresh=True)
    assert counts(row(board, "北区役所")) == (3, 1, 0, 2, 0)  # late becomes missing at the end
    assert counts(board.counts) == (6, 2, 0, 4, 0)
    assert mine.pk in {
        p.request_id
        for p in assembly_board.place_people(round_=round_, place=kita_office)
        if p.status == "missing"
    }  # noqa: E501


def test_the_place_list_puts_the_late_first_and_shows_walk_ins(
    city, round_, kita_office, chuo_office
):
    kita0, kita1, kita2 = (req(round_, s) for s in city.kita_staff[:3])
    eta = in_minutes(90)
    answers.answer_from_link(request=kita0, data={**SAFE, "attend": "late", "eta": eta})
    answers.answer_from_link(request=kita1, data=SAFE)
    answers.answer_from_link(request=kita2, data={**SAFE, "attend": "no"})
    clock.advance(61 * 60)
    assembly.checkin_from_link(request=kita2, place=kita_office)  # said no, came anyway

    people = assembly_board.place_people(round_=round_, place=kita_office)

    by_name = {p.name: p for p in people}
    assert [p.status for p in people] == ["late", "coming", "arrived"]
    assert people[0].request_id == kita1.pk and (people[1].request_id, people[1].eta) == (
        kita0.pk,
        eta,
    )
    walk_in = by_name[city.kita_staff[2].full_name]
    assert (walk_in.expected_here, walk_in.attend) == (False, "")
    assert counts(assembly_board.place_counts(people)) == (2, 1, 1, 0, 1)


def test_an_answer_given_on_behalf_counts_like_their_own(city, round_, kita_office):
    request = req(round_, city.kita_staff[0])
    answers.answer_on_behalf(actor=city.ward_head, request=request, data=SAFE, via="phone")

    board = board_of(round_=round_, fresh=True)

    assert counts(row(board, "北区役所")) == (1, 0, 0, 0, 1)


# --- check-ins ------------------------------------------------------------------------------
def test_a_check_in_is_once_per_person_and_place(desk, city, round_, kita_office, chuo_office):
    request = req(round_, city.kita_staff[0])

    first = assembly.checkin_from_link(request=request, place=kita_office)
    clock.advance(120)
    again = assembly.checkin_from_link(request=request, place=kita_office)
    ticked = assembly.checkin_record(actor=desk, request=request, place=chuo_office)

    assert again == first and again.at == first.at and first.entered_by is None
    assert ticked.entered_by == desk
    assert CheckIn.objects.filter(request=request).count() == 2


def test_check_ins_tell_watching_pages_after_commit(
    city, round_, kita_office, django_capture_on_commit_callbacks
):
    request = req(round_, city.kita_staff[0])

    with django_capture_on_commit_callbacks() as first:
        assembly.checkin_from_link(request=request, place=kita_office)
    with django_capture_on_commit_callbacks() as again:
        assembly.checkin_from_link(request=request, place=kita_office)

    assert len(first) == 1 and again == []  # the second tap changed nothing, told nobody


def test_only_the_places_coordinators_and_administrators_tick_others_off(
    desk, city, round_, kita_office, chuo_office, admin_user
):
    chuo = req(round_, city.chuo_staff[0])
    kita = req(round_, city.kita_staff[0])

    for actor, place, request in (
        (city.mayor, chuo_office, chuo),  # headquarters see the board, they do not tick
        (city.staff_user, chuo_office, chuo),
        (city.coordinator, chuo_office, chuo),  # a drill coordinator, not this place's
        (desk, kita_office, kita),  # coordinates 中央区役所, not 北区役所
    ):
        with pytest.raises(PermissionDenied):
            assembly.checkin_record(actor=actor, request=request, place=place)
    assert CheckIn.objects.count() == 0

    assembly.checkin_record(actor=admin_user, request=kita, place=kita_office)
    own = req(round_, city.staff_user.staff)
    assembly.checkin_record(actor=city.staff_user, request=own, place=chuo_office)  # themselves
    assert CheckIn.objects.get(request=own).entered_by is None
    assert CheckIn.objects.get(request=kita).entered_by == admin_user


def test_no_check_in_after_the_round_closed_or_at_a_closed_place(
    city, round_, kita_office, chuo_office
):
    request = req(round_, city.kita_staff[0])
    kita_office.is_active = False
    kita_office.save()
    with pytest.raises(ValidationError):
        assembly.checkin_from_link(request=request, place=kita_office)
    rounds.round_close(round_=round_, actor=city.mayor)
    with pytest.raises(ValidationError):
        assembly.checkin_from_link(request=request, place=chuo_office)
    assert CheckIn.objects.count() == 0


# --- pages ----------------------------------------------------------------------------------
def board_url(round_) -> str:
    return reverse("safety:assembly_board", args=[round_.pk])


def place_url(round_, place) -> str:
    return reverse("safety:assembly_place", args=[round_.pk, place.pk])


def checkin_url(round_, place) -> str:
    return reverse("safety:assembly_check_in", args=[round_.pk, place.pk])


def test_headquarters_see_every_place_and_unit_coordinators_their_own(
    desk, client, city, round_, kita_office, chuo_office
):
    answers.answer_from_link(request=req(round_, city.kita_staff[0]), data=SAFE)

    client.force_login(city.mayor)
    page = client.get(board_url(round_)).content.decode()
    assert "北区役所" in page and "中央区役所" in page and "所属別" in page
    assert client.get(place_url(round_, kita_office)).status_code == 200
    assert (
        city.kita_staff[0].full_name in client.get(place_url(round_, kita_office)).content.decode()
    )

    client.force_login(desk)  # coordinates 中央区役所 only
    page = client.get(board_url(round_)).content.decode()
    assert "中央区役所" in page and "北区役所" not in page and "所属別" not in page
    assert client.get(place_url(round_, chuo_office)).status_code == 200
    assert client.get(place_url(round_, kita_office)).status_code == 403
    partial = client.get(place_url(round_, chuo_office) + "?partial=1").content.decode()
    assert "<html" not in partial and "asm-summary" in partial


def test_others_see_no_board_and_their_posts_change_nothing(
    desk, client, city, round_, kita_office, chuo_office
):
    request = req(round_, city.chuo_staff[0])
    client.force_login(city.staff_user)

    assert client.get(board_url(round_)).status_code == 403
    assert client.get(place_url(round_, chuo_office)).status_code == 403
    posted = client.post(checkin_url(round_, chuo_office), {"request": request.pk})
    client.force_login(city.mayor)  # headquarters: may look, may not tick off
    by_hq = client.post(checkin_url(round_, chuo_office), {"request": request.pk})
    client.force_login(desk)  # another place's coordinator
    other = client.post(checkin_url(round_, kita_office), {"request": request.pk})

    assert (posted.status_code, by_hq.status_code, other.status_code) == (403, 403, 403)
    assert CheckIn.objects.count() == 0


def test_the_coordinator_ticks_someone_off_with_the_big_button(
    desk, client, city, round_, chuo_office
):
    request = req(round_, city.chuo_staff[0])
    answers.answer_from_link(request=request, data=SAFE)
    client.force_login(desk)

    page = client.get(place_url(round_, chuo_office)).content.decode()
    assert 'class="btn asm-arrive">到着</button>' in page
    fetched = client.post(
        checkin_url(round_, chuo_office),
        {"request": request.pk},
        headers={"X-Requested-With": "fetch"},
    )
    plain = client.post(checkin_url(round_, chuo_office), {"request": request.pk})

    checkin = CheckIn.objects.get()
    label = timezone.localtime(checkin.at).strftime("%H:%M")
    assert fetched.json() == {"ok": True, "label": f"到着 {label}"}
    assert plain.status_code == 302 and plain["Location"].endswith(f"#r{request.pk}")
    assert (checkin.request, checkin.place, checkin.entered_by) == (
        request,
        chuo_office,
        desk,
    )


def test_someone_not_on_the_list_is_checked_in_by_employee_number(
    desk, client, city, round_, chuo_office
):
    client.force_login(desk)
    stranger = StaffFactory(unit=city.chuo)  # joined after the round started: not asked

    asked = client.post(
        checkin_url(round_, chuo_office),
        {"employee_number": "  " + city.kita_staff[1].employee_number},
    )
    not_asked = client.post(
        checkin_url(round_, chuo_office), {"employee_number": stranger.employee_number}
    )

    assert asked.status_code == 302 and not_asked.status_code == 302
    [checkin] = CheckIn.objects.all()
    assert checkin.request.staff == city.kita_staff[1]


def test_the_person_checks_in_from_the_answer_link_without_signing_in(
    client, city, round_, kita_office
):
    request = req(round_, city.kita_staff[0])
    link = reverse("safety:answer", args=[link_token(request_id=request.pk, nonce=request.nonce)])

    thanks = client.post(link, SAFE).content.decode()
    assert "到着しました" in thanks and f'value="{kita_office.pk}" selected' in thanks
    arrived = client.post(link + "arrived/", {"place": kita_office.pk})

    assert arrived.status_code == 200 and "到着を記録しました" in arrived.content.decode()
    [checkin] = CheckIn.objects.all()
    assert (checkin.request, checkin.place, checkin.entered_by) == (request, kita_office, None)
    again = client.get(link).content.decode()  # the answer page shows it
    assert "北区役所に" in again and "到着を記録しました" in again


def test_a_wrong_link_or_a_closed_round_records_no_arrival(client, city, round_, kita_office):
    request = req(round_, city.kita_staff[0])
    token = link_token(request_id=request.pk, nonce=request.nonce)
    tampered = client.post(f"/s/{token[:-2]}zz/arrived/", {"place": kita_office.pk})
    rounds.round_close(round_=round_, actor=city.mayor)
    closed = client.post(f"/s/{token}/arrived/", {"place": kita_office.pk})

    assert (tampered.status_code, closed.status_code) == (404, 410)
    assert CheckIn.objects.count() == 0


def test_the_person_checks_in_from_the_app(client, city, round_, kita_office):
    answers.answer_in_app(user=city.staff_user, round_=round_, data=SAFE)
    client.force_login(city.staff_user)

    index = client.get(reverse("safety:index")).content.decode()
    assert "到着しました" in index and f'value="{kita_office.pk}" selected' in index
    done = client.post(
        reverse("safety:arrived_in_app", args=[round_.pk]), {"place": kita_office.pk}
    )
    client.force_login(city.ward_head)  # asked too, but cannot check in for someone else here
    client.post(reverse("safety:arrived_in_app", args=[round_.pk]), {"place": "999999"})

    assert done.status_code == 302
    [checkin] = CheckIn.objects.all()
    assert checkin.request.staff == city.staff_user.staff and checkin.entered_by is None


def test_someone_going_elsewhere_who_arrives_at_a_place_counts_on_both_rows(
    city, round_, chuo_office
):
    request = req(round_, city.chuo_staff[1])
    answers.answer_from_link(
        request=request, data={**SAFE, "place": "other", "place_other": "自宅近くの避難所"}
    )
    assembly.checkin_from_link(request=request, place=chuo_office)

    board = board_of(round_=round_, fresh=True)

    assert counts(row(board, "elsewhere")) == (1, 1, 0, 0, 0)
    assert counts(row(board, "中央区役所")) == (0, 1, 0, 0, 0)  # a walk-in there
