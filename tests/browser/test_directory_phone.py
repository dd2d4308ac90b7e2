"""A staff member on a 360-px phone: sign in, find a colleague by kana as they type, open the
profile."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from directory import services
from directory.models import OrgUnit
from tests.factories import OrgUnitFactory, PostFactory, StaffFactory, UserFactory

PASSWORD = "correct-horse-battery"  # UserFactory's password


@pytest.fixture
def directory(transactional_db) -> dict:
    city = OrgUnitFactory(code="C", name="大阪市", kana="おおさかし", kind=OrgUnit.Kind.CITY)
    bureau = OrgUnitFactory(
        code="B", name="危機管理室", kana="ききかんりしつ", kind=OrgUnit.Kind.BUREAU, parent=city
    )
    section = OrgUnitFactory(
        code="S", name="危機管理課", kana="ききかんりか", kind=OrgUnit.Kind.SECTION, parent=bureau
    )
    ward = OrgUnitFactory(
        code="W", name="北区役所", kana="きたくやくしょ", kind=OrgUnit.Kind.WARD, parent=city
    )
    me = StaffFactory(
        employee_number="123456",
        family_name="佐藤",
        given_name="花子",
        family_kana="さとう",
        given_kana="はなこ",
        unit=section,
        user=UserFactory(username="123456"),
    )
    holder = StaffFactory(
        employee_number="200001",
        family_name="髙橋",
        given_name="健一",
        family_kana="たかはし",
        given_kana="けんいち",
        unit=bureau,
        job_title="危機管理監",
    )
    first = StaffFactory(
        employee_number="200002",
        family_name="鈴木",
        given_name="一郎",
        family_kana="すずき",
        given_kana="いちろう",
        unit=section,
    )
    second = StaffFactory(
        employee_number="200003",
        family_name="田中",
        given_name="美咲",
        family_kana="たなか",
        given_kana="みさき",
        unit=ward,
    )
    post = PostFactory(code="HQ-CM", name="防災監", kana="ぼうさいかん", unit=bureau, holder=holder)
    services.post_set_deputies(post=post, deputies=[first, second], actor=None)
    return {"me": me, "holder": holder}


def assert_fits_the_phone(page: Page) -> None:
    assert page.evaluate("document.documentElement.lang") == "ja"
    assert page.evaluate("document.documentElement.scrollWidth") <= 360, page.url


@pytest.mark.browser
def test_find_a_colleague_by_kana_on_a_phone(phone: Page, directory):
    # Given the sign-in page on a phone
    phone.goto("/directory/")
    expect(phone).to_have_url(re.compile(r"/accounts/login/\?next=/directory/$"))
    assert_fits_the_phone(phone)

    # When I sign in with my employee number
    phone.get_by_label("職員番号または業務メール").fill("123456")
    phone.locator("#id_password").fill(PASSWORD)
    phone.locator("form.form button[type=submit]").tap()

    # Then I am back on the directory (the page I asked for), in Japanese
    expect(phone.locator("form[data-live-search] input[name=q]")).to_be_visible()
    assert phone.url.endswith("/directory/")
    assert_fits_the_phone(phone)

    # When I type the reading in katakana (stored in hiragana), without pressing enter
    box = phone.locator("input[name=q]")
    box.tap()
    box.press_sequentially("タカハシ", delay=30)

    # Then the person appears as I type
    result = phone.locator("#results .staff-results a", has_text="髙橋 健一")
    expect(result).to_be_visible()
    expect(result).to_contain_text("危機管理室")
    assert phone.url.endswith("/directory/?q=%E3%82%BF%E3%82%AB%E3%83%8F%E3%82%B7")
    assert_fits_the_phone(phone)
    box_height = box.bounding_box()["height"]
    row_height = result.bounding_box()["height"]
    assert box_height >= 48 and row_height >= 48, (box_height, row_height)

    # When I open the profile
    result.tap()

    # Then I see the unit, the post and its deputies in order
    expect(phone.locator("h1")).to_have_text("髙橋 健一")
    expect(phone.locator(".unit-path")).to_have_text("大阪市 › 危機管理室")
    post = phone.locator("section.post", has_text="防災監")
    deputies = post.locator("ol.deputies > li")
    expect(deputies.locator(".rank-no")).to_have_text(["1", "2"])
    expect(deputies.locator(".name")).to_have_text(["鈴木 一郎", "田中 美咲"])
    expect(deputies.locator(".sub")).to_have_text(
        [re.compile("^危機管理課"), re.compile("^北区役所")]
    )
    message = phone.locator("form button.btn", has_text="メッセージを送る")
    expect(message).to_be_visible()
    assert message.bounding_box()["height"] >= 48
    assert_fits_the_phone(phone)


@pytest.mark.browser
def test_live_search_survives_a_lost_network(phone: Page, phone_context, directory, live_server):
    phone.goto("/accounts/login/?next=/directory/")
    phone.locator("#id_login").fill("123456")
    phone.locator("#id_password").fill(PASSWORD)
    phone.locator("#id_password").press("Enter")
    box = phone.locator("input[name=q]")
    expect(box).to_be_visible()

    # Offline: a clear message instead of stale or missing results
    phone_context.set_offline(True)
    box.fill("すずき")
    expect(phone.locator("#search-status.error")).to_be_visible()
    expect(phone.locator("#conn-state")).to_have_class("conn offline")

    # Back online: the same query is retried without another keystroke
    phone_context.set_offline(False)
    expect(phone.locator("#results .staff-results a", has_text="鈴木 一郎")).to_be_visible()
    expect(phone.locator("#search-status")).to_be_empty()
