"""The January 2019 drill, replayed inside the tool (issue 11): Daphne, a real Celery worker with
beat sweeping every second, Chromium.

The coordinator starts a two-inject scenario at 5× speed; the mayor's instruction appears on
the ward head's phone marked 訓練; the ward head acknowledges and replies "calling on residents
by official car"; the control page turns the expectations green without a reload; the report
shows the ward head's measured latencies."""

from __future__ import annotations

import re

import pytest
from django.utils import translation
from playwright.sync_api import expect

from directory.models import User
from drills.models import Inject, RunInject, Scenario
from drills.templatetags.drill_report import duration
from messaging import services as messaging_services
from messaging.models import CommandGroup, Message
from tests.browser.test_alerts_phone import wait_online
from tests.browser.test_escalation_phone import celery_services  # noqa: F401 (a fixture)
from tests.factories import OrgUnitFactory, PostFactory, StaffFactory, UserFactory

pytestmark = pytest.mark.browser
INSTRUCTION = "住民を3階以上へ避難させてください"
REPLY = "公用車で住民に呼びかけ中"


def _person(unit, username, family, given, role=User.Role.HQ_MEMBER) -> User:
    user = UserFactory(username=username, role=role)
    StaffFactory(
        user=user, unit=unit, employee_number=username, family_name=family, given_name=given
    )
    return user


@pytest.fixture
def drill(transactional_db):
    root = OrgUnitFactory(name="大阪市", kind="city", code="OSK")
    kita = OrgUnitFactory(name="北区", kind="ward", parent=root, code="OSK-W01")
    crisis = OrgUnitFactory(name="危機管理室", kind="bureau", parent=root, code="OSK-B01")
    mayor = _person(root, "500001", "大阪", "市長")
    ward_head = _person(kita, "500002", "北野", "区長")
    coordinator = _person(crisis, "500003", "訓練", "担当", role=User.Role.COORDINATOR)
    group = messaging_services.group_create(
        name="大阪市災害対策本部", kind=CommandGroup.Kind.HEADQUARTERS, unit=root, actor=None
    )
    head = PostFactory(name="本部長", holder=mayor.staff, unit=root)
    kita_post = PostFactory(name="北区長", holder=ward_head.staff, unit=kita)
    messaging_services.group_add_member(group=group, post=head, role="commander", actor=None)
    messaging_services.group_add_member(group=group, post=kita_post, role="member", actor=None)
    messaging_services.group_add_member(
        group=group, staff=coordinator.staff, role="commander", actor=None
    )
    scenario = Scenario.objects.create(title="2019年1月 地震訓練（再現）", created_by=coordinator)
    Inject.objects.create(
        scenario=scenario,
        number=1,
        offset=10,
        kind=Inject.Kind.INSTRUCTION,
        from_post=head,
        to_group=group,
        text=INSTRUCTION,
        expectations=[
            {"check": "ack", "minutes": 5, "posts": ["北区長"]},
            {"check": "reply", "minutes": 10, "posts": ["北区長"]},
        ],
        objective="本部長の指示が区長に届き、対応が報告される",
    )
    Inject.objects.create(
        scenario=scenario,
        number=2,
        offset=600,
        kind=Inject.Kind.SITUATION,
        to_group=group,
        text="北区で停電。避難所の開設状況を報告してください。",
    )
    return {
        "scenario": scenario,
        "ward_head": ward_head,
        "coordinator": coordinator,
        "group": group,
    }


def test_the_2019_drill_replayed_inside_the_tool(
    asgi_phone,
    drill,
    celery_services,  # noqa: F811
):
    group = drill["group"]
    ward = asgi_phone(user=drill["ward_head"])
    ward.goto(f"/messages/g/{group.pk}/")
    wait_online(drill["ward_head"])

    # The coordinator starts the scenario at 5× speed
    coordinator = asgi_phone(user=drill["coordinator"])
    coordinator.set_viewport_size({"width": 1280, "height": 800})  # a laptop
    coordinator.goto(f"/drills/scenarios/{drill['scenario'].pk}/")
    coordinator.get_by_label("速度").select_option("5")
    coordinator.locator("#run-start-submit").click()
    expect(coordinator).to_have_url(re.compile(r"/drills/runs/\d+/$"))
    coordinator.evaluate("window.__loaded = true")

    # Two seconds later (10 s at 5×) the mayor's instruction is on the ward head's phone, 訓練
    card = ward.locator("#messages li.msg.instruction.exercise", has_text=INSTRUCTION)
    expect(card).to_be_visible(timeout=15_000)
    expect(card).to_contain_text("【訓練】")

    # The ward head acknowledges and replies
    card.locator("button[data-ack]").tap()
    expect(card.locator("button[data-ack]")).to_be_disabled()
    card.locator("[data-reply]").first.tap()
    ward.locator("textarea[name=body]").fill(REPLY)
    ward.locator("#composer button[type=submit]").tap()
    expect(ward.locator("#messages li.msg.mine", has_text=REPLY)).to_have_count(1)
    reply = Message.objects.get(body__endswith=REPLY)
    assert reply.exercise and reply.body == f"【訓練】{REPLY}"

    # The control page turns the expectations green, without a reload (and the drill's own
    # instruction does not cover the control page with an arrival overlay)
    fired = coordinator.locator('.inject[data-number="1"]')
    expect(fired.locator(".expect.met")).to_have_count(2, timeout=15_000)
    assert coordinator.evaluate("window.__loaded") is True
    expect(coordinator.locator("#arrival")).to_have_count(0)

    # The report shows the ward head's measured latencies (the inject's own page: everyone
    # it reached)
    coordinator.get_by_role("link", name="事後検証レポート").click()
    coordinator.locator("#latency-1 a", has_text="#1").click()
    row = coordinator.locator("#inject-1 tr", has_text="北野 区長")
    expect(row).to_be_visible()
    ri = RunInject.objects.get(number=1)
    receipt = ri.message.receipts.get(user=drill["ward_head"])
    with translation.override("ja"):
        acked = duration((receipt.acked_at - ri.fired_at).total_seconds())
        replied = duration((reply.created_at - ri.fired_at).total_seconds())
    expect(row).to_contain_text(acked)
    expect(row).to_contain_text(replied)
