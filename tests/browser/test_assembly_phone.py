"""Assembly on real phones (Chromium): the person answers from the e-mailed link and taps
"到着しました" (the light page's forms pass the CSRF Origin check); the place's coordinator taps
the big 到着 button and the row turns at once, while headquarters' board counts the arrival
live over the websocket."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from directory.models import User
from safety import answers, rounds
from safety.links import link_token
from safety.models import AssemblyPlace, CheckIn, SafetyAnswer, SafetyRequest
from tests.factories import StaffFactory, UserFactory
from tests.safety.conftest import SAFE, city  # noqa: F401  (the small city fixture)

pytestmark = [pytest.mark.browser]


def test_the_person_answers_from_the_link_and_checks_in_on_arrival(
    phone: Page,
    live_server,
    transactional_db,
    city,  # noqa: F811
):
    round_ = rounds.round_start(actor=city.mayor, title="北部地震 安否確認", target={"all": True})
    request = SafetyRequest.objects.get(round=round_, staff=city.kita_staff[0])
    token = link_token(request_id=request.pk, nonce=request.nonce)

    phone.goto(f"/s/{token}/")
    for key, value in (("self", "safe"), ("family", "safe"), ("home", "ok"), ("attend", "yes")):
        phone.locator(f"input[name={key}][value={value}]").check()
    phone.locator("input[name=place][value=own]").check()
    phone.get_by_role("button", name="回答を送信").tap()
    expect(phone.locator("h1")).to_have_text("回答を受け付けました。")
    expect(phone.locator("select[name=place]")).to_have_value(
        str(AssemblyPlace.objects.get(name="北区役所").pk)
    )
    phone.get_by_role("button", name="到着しました").tap()

    expect(phone.locator("h1")).to_have_text("到着を記録しました。")
    assert SafetyAnswer.objects.get(request=request).values["attend"] == "yes"
    checkin = CheckIn.objects.get(request=request)
    assert (checkin.place.name, checkin.entered_by) == ("北区役所", None)


def test_the_coordinator_ticks_off_and_the_board_follows_live(asgi_phone, city):  # noqa: F811
    desk = UserFactory(role=User.Role.STAFF)
    StaffFactory(user=desk, unit=city.chuo)
    place = AssemblyPlace.objects.get(name="中央区役所")
    place.coordinators.add(desk)
    round_ = rounds.round_start(actor=city.mayor, title="安否確認", target={"all": True})
    request = SafetyRequest.objects.get(round=round_, staff=city.chuo_staff[0])
    answers.answer_from_link(request=request, data=SAFE)
    board = asgi_phone(user=city.mayor)
    board.goto(reverse("safety:assembly_board", args=[round_.pk]))
    expect(board.locator("#asm-arrived")).to_have_text("0")
    phone = asgi_phone(user=desk)
    # Everyone (the default list, "not yet arrived", drops them once they have arrived).
    phone.goto(reverse("safety:assembly_place", args=[round_.pk, place.pk]) + "?show=all")
    row = phone.locator(f"#r{request.pk}")
    expect(row.locator(".badge")).to_have_text("到着待ち")
    # Measured in one step: the list may be re-rendered meanwhile (the refresh on connect).
    width, height = phone.evaluate(
        "id => { const b = document.querySelector(`#r${id} .asm-arrive`);"
        " return [b.offsetWidth, b.offsetHeight]; }",
        request.pk,
    )
    assert height >= 48 and width >= 80  # one thumb

    row.get_by_role("button", name="到着").tap()

    expect(row.locator(".badge")).to_have_text(re.compile(r"^到着 \d\d:\d\d$"))
    expect(row).to_have_class(re.compile("status-arrived"))
    expect(board.locator("#asm-arrived")).to_have_text("1", timeout=8_000)  # no reload
    checkin = CheckIn.objects.get()
    assert (checkin.request, checkin.place, checkin.entered_by) == (request, place, desk)
    assert phone.evaluate("document.documentElement.scrollWidth") <= 360  # fits the phone
