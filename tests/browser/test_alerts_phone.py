"""Urgent things come to people, and the commander sees who is silent (issue 9), on phones:
Daphne, a real Celery worker, Chromium, and a Web Push endpoint on 127.0.0.1.

The ward head is on Home (then on the directory) when the mayor sends: the overlay names the
sender and the first line within a second and opens the instruction in one tap. The bureau head
has no page open: the push goes out at send time and decrypts on "their phone". The mayor's Home
shows the instruction and its silent count; one tap leads to the not-yet list, grouped by
bureau/ward, which follows the ward head's 了解 live."""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings
from PIL import Image
from playwright.sync_api import Page, expect

from directory.models import User
from messaging import services
from messaging.models import CommandGroup, Message
from realtime import presence
from tests.browser.test_escalation_phone import celery_services  # noqa: F401 (a fixture)
from tests.factories import OrgUnitFactory, PostFactory, StaffFactory, UserFactory
from tests.push import decrypt, subscribe

pytestmark = pytest.mark.browser
SCREENSHOTS = Path(settings.BASE_DIR) / "docs" / "screenshots"
FIRST_LINE = "大津波警報。沿岸部の住民を直ちに高台へ避難させてください。"
BODY = FIRST_LINE + "\n避難所の開設状況を報告してください。"


@dataclass
class City:
    group: CommandGroup
    mayor: User
    ward_head: User
    bureau_head: User


def _person(unit, username, family, given, role=User.Role.HQ_MEMBER) -> User:
    user = UserFactory(username=username, role=role)
    StaffFactory(
        user=user,
        unit=unit,
        employee_number=username,
        family_name=family,
        given_name=given,
        mobile="090-1234-5678",
    )
    return user


@pytest.fixture
def city(transactional_db) -> City:
    root = OrgUnitFactory(name="大阪市", kind="city")
    crisis = OrgUnitFactory(name="危機管理室", kind="bureau", parent=root, sort_order=1)
    kensetsu = OrgUnitFactory(name="建設局", kind="bureau", parent=root, sort_order=2)
    kita = OrgUnitFactory(name="北区", kind="ward", parent=root, sort_order=3)
    mayor = _person(crisis, "300001", "大阪", "市長")
    ward_head = _person(kita, "300002", "北野", "区長")
    bureau_head = _person(kensetsu, "300003", "建部", "局長")
    group = services.group_create(
        name="大阪市災害対策本部", kind=CommandGroup.Kind.HEADQUARTERS, actor=None
    )
    for name, user, role in (
        ("本部長", mayor, "commander"),
        ("北区長", ward_head, "member"),
        ("建設局長", bureau_head, "member"),
    ):
        post = PostFactory(name=name, holder=user.staff)
        services.group_add_member(group=group, post=post, role=role, actor=None)
    return City(group, mayor, ward_head, bureau_head)


@pytest.fixture
def vapid_env(vapid, monkeypatch):
    """The server's VAPID key for the worker process too (it reads the environment)."""
    monkeypatch.setenv("HONBU_VAPID_PRIVATE_KEY", settings.HONBU_VAPID_PRIVATE_KEY)
    return vapid


def wait_online(user: User) -> None:
    deadline = time.monotonic() + 10
    while not presence.online({user.pk}):
        assert time.monotonic() < deadline, "the page's socket never connected"
        time.sleep(0.05)


def instruct(city: City, body: str = BODY) -> Message:
    return services.message_send(
        group=city.group,
        sender=city.mayor,
        body=body,
        client_id=uuid.uuid4(),
        kind="instruction",
        priority="urgent",
        requires_ack=True,
    ).message


def shoot(page: Page, name: str) -> None:
    """A 390×844 screenshot for docs/screenshots (what the README shows), kept small: CSS
    pixels, a 128-colour palette."""
    page.set_viewport_size({"width": 390, "height": 844})
    path = SCREENSHOTS / name
    page.screenshot(path=str(path), scale="css")
    with Image.open(path) as shot:
        shot.convert("RGB").quantize(colors=128).save(path, optimize=True)
    page.set_viewport_size({"width": 360, "height": 740})


def test_the_urgent_instruction_comes_to_people_and_the_mayor_sees_the_silent(
    asgi_phone,
    city: City,
    push_service,
    vapid_env,
    celery_services,  # noqa: F811
):
    # Given the ward head on Home, the bureau head with no page open but push on their phone
    bureau_phone = subscribe(city.bureau_head, push_service)
    ward = asgi_phone(user=city.ward_head)
    ward.goto("/")
    wait_online(city.ward_head)
    expect(ward.locator("#tab-count")).to_be_hidden()

    # When the mayor sends an urgent instruction
    message = instruct(city)

    # Then within a second the ward head's Home shows it: who, the first line, the badge
    overlay = ward.locator("#arrival")
    expect(overlay).to_be_visible(timeout=1000)
    expect(overlay).to_contain_text("大阪 市長")
    expect(overlay).to_contain_text(FIRST_LINE)
    expect(ward.locator("#tab-count")).to_have_text("1")
    assert ward.title().startswith("【緊急】")
    SCREENSHOTS.mkdir(exist_ok=True)
    shoot(ward, "arrival-overlay.png")

    # And the bureau head's phone gets the push at send time (not at the first reminder)
    deadline = time.monotonic() + 20
    while not push_service.received:
        assert time.monotonic() < deadline, "no push reached the bureau head's phone"
        time.sleep(0.1)
    [request] = push_service.received
    pushed = decrypt(bureau_phone, request)
    assert pushed["title"] == "緊急の指示（大阪 市長）"
    assert pushed["body"] == FIRST_LINE
    assert pushed["url"] == f"/messages/g/{city.group.pk}/#msg-{message.seq}"

    # When the ward head taps "open" once: the instruction, with its 了解 button
    overlay.get_by_role("link", name="指示を開く").tap()
    expect(ward).to_have_url(re.compile(rf"/messages/g/{city.group.pk}/#msg-{message.seq}$"))
    card = ward.locator(f"#msg-{message.seq}")
    expect(card).to_contain_text(FIRST_LINE)

    # On the directory, the next urgent instruction arrives the same way
    ward.goto("/directory/")
    wait_online(city.ward_head)
    second = instruct(city, body="第2報：北区の避難所を全て開設してください。")
    expect(ward.locator("#arrival")).to_contain_text("第2報", timeout=1000)
    ward.locator("#arrival").get_by_role("button", name="あとで").tap()
    expect(ward.locator("#arrival")).to_be_hidden()

    # The mayor's Home shows both instructions and how many are silent; one tap to the list
    mayor = asgi_phone(user=city.mayor)
    mayor.goto("/")
    mine = mayor.locator("#open-instructions")
    expect(mine.locator(f'li[data-message="{message.pk}"]')).to_contain_text("未応答 2 人")
    expect(mine.locator(f'li[data-message="{second.pk}"]')).to_be_visible()
    shoot(mayor, "home-commander.png")
    mine.locator(f'li[data-message="{message.pk}"] a').tap()
    expect(mayor).to_have_url(re.compile(rf"/messages/m/{message.pk}/pending/$"))

    # The not-yet list leads with the silent, grouped by bureau and ward in tree order
    units = mayor.locator(".pending-unit-name")
    expect(units).to_have_count(2)
    expect(units.nth(0)).to_contain_text("建設局")
    expect(units.nth(1)).to_contain_text("北区")
    expect(mayor.locator(".chip.active")).to_contain_text("未応答 2")
    expect(mayor.locator(".pending-row").first.locator("a.btn-call")).to_have_attribute(
        "href", "tel:090-1234-5678"
    )
    shoot(mayor, "pending.png")

    # When the ward head acknowledges on their phone, the mayor's list follows without reload
    mayor.evaluate("window.__loaded = true")
    ward.goto(f"/messages/g/{city.group.pk}/#msg-{message.seq}")
    ward.locator(f"#msg-{message.seq}").get_by_role("button", name="了解").tap()
    expect(mayor.locator(".pending-unit-name")).to_have_count(1, timeout=10_000)
    expect(mayor.locator(".pending-list")).not_to_contain_text("北野")
    expect(mayor.locator(".chip.active")).to_contain_text("未応答 1")
    assert mayor.evaluate("window.__loaded") is True  # the same page, updated live
