"""The after-action report on a 390×844 phone: every chart is drawn and fits the screen, the
page does not scroll sideways, and the evaluator rates an objective by tapping."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_pages_phone import signed_in
from tests.drills.test_report import OBJ_ORDER, at, scripted  # noqa: F401
from tests.safety.conftest import city  # noqa: F401

pytestmark = [pytest.mark.browser]

CHARTS = """imgs => imgs.map(i => [i.complete && i.naturalWidth > 0, i.getBoundingClientRect().left,
  i.getBoundingClientRect().right])"""


def test_the_report_fits_a_phone_and_the_evaluator_rates_by_tapping(
    phone: Page,
    live_server,
    city,  # noqa: F811
    scripted,  # noqa: F811
):
    signed_in(phone, live_server, city.coordinator)

    phone.goto(f"/drills/runs/{scripted.pk}/report/")

    charts = phone.locator("figure.chart img").evaluate_all(CHARTS)
    assert len(charts) == 4  # the timeline, response times, wards and bureaus, safety answers
    assert all(drawn and left >= 0 and right <= 390 for drawn, left, right in charts), charts
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    expect(phone.locator("#expectations")).to_contain_text("未達")

    phone.locator("label[for=id_rating_0_2]").tap()  # S — some challenges
    phone.locator("#id_strengths_0").fill("区長への伝達は30秒で既読")
    phone.get_by_role("button", name="評価を保存").tap()

    expect(phone.locator(".flash")).to_contain_text("評価を保存しました")
    expect(phone.locator("#id_rating_0_2")).to_be_checked()
    scripted.refresh_from_db()
    assert scripted.evaluation[OBJ_ORDER] == {
        "rating": "S",
        "strengths": "区長への伝達は30秒で既読",
        "improvements": "",
    }
