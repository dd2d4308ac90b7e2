"""Disaster mode and safety confirmation on phones (issue 10): Daphne, a real Celery worker,
a real SMTP server on 127.0.0.1 and Chromium.

The mayor declares disaster mode with a safety round for 北区; the banner appears on the ward
head's phone without a reload; a member of staff with no account answers from the link in the
e-mail the worker sent, without signing in; the mayor's totals and the not-answered list change
without a reload; the ward head answers on behalf of someone else, and that shows as such."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from messaging import services as messaging_services
from messaging.models import CommandGroup
from safety.models import AssemblyPlace, IncidentLevel, SafetyAnswer, SafetySettings
from tests import smtp
from tests.browser.test_alerts_phone import shoot, wait_online
from tests.browser.test_escalation_phone import celery_services  # noqa: F401 (a fixture)
from tests.factories import OrgUnitFactory, PostFactory, StaffFactory, UserFactory

pytestmark = pytest.mark.browser
LINK = re.compile(r"https?://\S+(/s/\d+\.[a-z2-7]+/)")


@pytest.fixture
def smtp_for_worker(monkeypatch):
    controller, sink, port = smtp.start()
    monkeypatch.setenv("HONBU_TEST_SMTP_PORT", str(port))
    yield sink
    controller.stop()


@pytest.fixture
def city(transactional_db):
    for code, name, order in (("alert", "警戒体制", 1), ("emergency", "非常体制", 2)):
        IncidentLevel.objects.get_or_create(code=code, defaults={"name": name, "order": order})
    root = OrgUnitFactory(name="大阪市", kind="city", code="OSK")
    crisis = OrgUnitFactory(name="危機管理室", kind="bureau", parent=root, code="OSK-B01")
    kita = OrgUnitFactory(name="北区", kind="ward", parent=root, code="OSK-W01", sort_order=1)
    OrgUnitFactory(name="中央区", kind="ward", parent=root, code="OSK-W02", sort_order=2)
    mayor = UserFactory(username="400001", role="hq_member")
    StaffFactory(user=mayor, unit=crisis, family_name="大阪", given_name="市長")
    ward_head = UserFactory(username="400002", role="hq_member")
    StaffFactory(user=ward_head, unit=kita, family_name="北野", given_name="区長")
    answering = StaffFactory(unit=kita, family_name="田中", given_name="花子", email="tanaka@x.jp")
    by_phone = StaffFactory(unit=kita, family_name="佐藤", given_name="一郎", email="sato@x.jp")
    group = messaging_services.group_create(
        name="大阪市災害対策本部", kind=CommandGroup.Kind.HEADQUARTERS, unit=root, actor=None
    )
    head = PostFactory(name="本部長", holder=mayor.staff, unit=root)
    kita_post = PostFactory(name="北区長", holder=ward_head.staff, unit=kita)
    messaging_services.group_add_member(group=group, post=head, role="commander", actor=None)
    messaging_services.group_add_member(group=group, post=kita_post, role="member", actor=None)
    SafetySettings.objects.all().delete()
    SafetySettings.objects.create(hq_group=group, commander_post=head)
    AssemblyPlace.objects.create(name="北区役所", unit=kita, is_ward_office=True)
    return {
        "mayor": mayor,
        "ward_head": ward_head,
        "answering": answering,
        "by_phone": by_phone,
        "kita": kita,
    }


def test_disaster_mode_a_link_answer_live_totals_and_an_answer_on_behalf(
    asgi_phone,
    city,
    smtp_for_worker,
    celery_services,  # noqa: F811
):
    ward = asgi_phone(user=city["ward_head"])
    ward.goto("/")
    wait_online(city["ward_head"])
    expect(ward.locator("#disaster-banner")).to_be_hidden()

    # The mayor declares disaster mode for 北区, with a safety round for its staff
    mayor = asgi_phone(user=city["mayor"])
    mayor.goto("/safety/declare/")
    mayor.get_by_label("件名").fill("大阪府北部地震")
    mayor.get_by_label("体制").select_option(label="非常体制")
    mayor.get_by_label("北区").check()
    mayor.locator("#declare-submit").tap()
    expect(mayor).to_have_url(re.compile(r"/safety/incidents/\d+/$"))

    # The ward head's phone shows the banner at once, without a reload
    banner = ward.locator("#disaster-banner")
    expect(banner).to_be_visible(timeout=3000)
    expect(banner).to_contain_text("大阪府北部地震")
    expect(banner).to_contain_text("非常体制")

    # The mayor opens the round's totals: nobody has answered yet
    mayor.get_by_role("link", name=re.compile("安否確認：")).tap()
    expect(mayor.locator("#answered")).to_have_text("0")
    expect(mayor.locator("#unanswered")).to_contain_text("田中 花子")
    mayor.evaluate("window.__loaded = true")

    # The worker e-mails everyone in 北区; 田中 (no account) opens her link, without signing in
    deadline = time.monotonic() + 30
    while not smtp_for_worker.to("tanaka@x.jp"):
        assert time.monotonic() < deadline, "no e-mail reached 田中"
        time.sleep(0.2)
    [mail] = smtp_for_worker.to("tanaka@x.jp")
    [path] = LINK.findall(smtp.body_text(mail))
    staff_phone = asgi_phone()  # a phone with no session
    staff_phone.goto(path)
    staff_phone.get_by_label("無事").first.check()
    staff_phone.get_by_label("全員無事").check()
    staff_phone.get_by_label("被害なし").check()
    staff_phone.get_by_label("遅れて可能").check()
    staff_phone.locator("input[name=eta]").fill("10:30")
    staff_phone.get_by_label("自分の職場").check()
    shoot(staff_phone, "safety-answer.png")
    staff_phone.get_by_role("button", name="回答を送信").tap()
    expect(staff_phone.locator("h1")).to_have_text("回答を受け付けました。")

    # The mayor's totals and the not-answered list change without a reload
    expect(mayor.locator("#answered")).to_have_text("1", timeout=10_000)
    expect(mayor.locator("#unanswered")).not_to_contain_text("田中 花子")
    assert mayor.evaluate("window.__loaded") is True

    # The ward head answers for 佐藤 after a phone call; it shows as given on his behalf
    ward.goto(mayor.url)
    ward.locator("#unanswered li", has_text="佐藤 一郎").get_by_role(
        "link", name="代理回答する"
    ).tap()
    ward.get_by_label("代理回答（電話で確認）").check()
    ward.locator("input[name=note]").fill("自宅に電話、無事")
    for label in ("無事", "全員無事", "被害なし", "不可"):
        ward.locator("fieldset", has=ward.locator("legend")).get_by_label(
            label, exact=True
        ).first.check()
    ward.get_by_role("button", name="回答を記録する").tap()
    expect(ward.locator("#recent-answers")).to_contain_text("佐藤 一郎")
    recent = mayor.locator("#recent-answers li", has_text="佐藤 一郎")
    expect(recent).to_contain_text("北野 区長", timeout=10_000)
    expect(recent).to_contain_text("電話")
    shoot(mayor, "safety-round.png")
    answer = SafetyAnswer.objects.get(request__staff=city["by_phone"])
    assert (answer.via, answer.entered_by_id) == ("phone", city["ward_head"].pk)
