"""Pages on a 390×844 phone in Japanese (issue 9's rough edges): the directory search's
placeholder fits its box; the escalation policy is a thumb-sized form."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import Page, expect

from directory.models import User
from messaging import services
from messaging.models import CommandGroup
from tests.browser.conftest import session_for
from tests.factories import PostFactory, StaffFactory, UserFactory

pytestmark = [pytest.mark.browser]

PHONE_390 = {"width": 390, "height": 844}
MEASURE_PLACEHOLDER = """(i) => {
  const cs = getComputedStyle(i, "::placeholder");
  const ctx = document.createElement("canvas").getContext("2d");
  ctx.font = `${cs.fontStyle} ${cs.fontWeight} ${cs.fontSize} ${cs.fontFamily}`;
  const box = getComputedStyle(i);
  const room = i.clientWidth - parseFloat(box.paddingLeft) - parseFloat(box.paddingRight);
  return [ctx.measureText(i.placeholder).width, room];
}"""


def signed_in(page: Page, live_server, user: User) -> Page:
    page.context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": session_for(user), "url": live_server.url}]
    )
    page.set_viewport_size(PHONE_390)
    return page


def shot(page: Page, name: str) -> None:
    """Screenshots to look at, when HONBU_SCREENSHOTS names a directory (not in normal runs)."""
    folder = os.environ.get("HONBU_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"))


def _member(username: str, role: str = User.Role.HQ_MEMBER) -> User:
    user = UserFactory(username=username, role=role)
    StaffFactory(user=user, employee_number=username)
    return user


def test_the_directory_search_placeholder_fits_a_390_px_phone(phone: Page, live_server):
    signed_in(phone, live_server, _member("123456", role=User.Role.STAFF))

    phone.goto("/directory/")

    box = phone.locator("#q")
    text_width, room = box.evaluate(MEASURE_PLACEHOLDER)
    assert text_width <= room, (text_width, room, box.get_attribute("placeholder"))
    expect(box).to_have_attribute("placeholder", "氏名・番号・所属・ポスト")
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE_390["width"]
    shot(phone, "directory-search")


def test_the_policy_page_is_a_thumb_sized_form(phone: Page, live_server, transactional_db):
    mayor = _member("100001")
    group = services.group_create(
        name="大阪市災害対策本部", kind=CommandGroup.Kind.HEADQUARTERS, actor=None
    )
    post = PostFactory(name="本部長", holder=mayor.staff)
    services.group_add_member(group=group, post=post, role="commander", actor=None)
    signed_in(phone, live_server, mayor)

    phone.goto(f"/messages/g/{group.pk}/policy/")

    # Every switch row, field and button is a comfortable tap target, and the page fits
    urgent = phone.locator("#policy-urgent")
    for target in [
        urgent.locator("label.switch").first,
        urgent.locator("label.switch").last,
        urgent.locator("select"),
        urgent.locator("input[type=number]").first,
        urgent.locator("button[type=submit]"),
    ]:
        box = target.bounding_box()
        assert box["height"] >= 44 and box["width"] >= 44, box
    switch = urgent.locator("input[name=urgent-enabled]").bounding_box()
    assert switch["width"] >= 44 and switch["height"] >= 28, switch
    expect(urgent.locator("input[name=urgent-first_after]")).to_have_value("2")
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE_390["width"]
    shot(phone, "policy")

    # Tapping a switch's label turns it off; saving keeps it off
    urgent.locator("label.switch", has_text="代行者").tap()
    expect(urgent.locator("input[name=urgent-use_deputies]")).not_to_be_checked()
    urgent.locator("input[name=urgent-first_after]").fill("0.5")
    urgent.locator("button[type=submit]").tap()
    expect(phone.locator(".flash")).to_contain_text("督促ルールを保存しました")
    expect(phone.locator("input[name=urgent-use_deputies]")).not_to_be_checked()
    expect(phone.locator("input[name=urgent-first_after]")).to_have_value("0.5")
