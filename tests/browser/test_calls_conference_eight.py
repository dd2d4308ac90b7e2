"""Eight people in one conference on this machine (the mesh's design size, docs/calls.md): eight
Chromium instances with fake microphones, each with seven peer connections, all receiving
audio from all seven others. Slow (a minute or so on two cores)."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from calls.models import Call
from messaging import services
from messaging.models import CommandGroup
from tests.browser.test_calls_phone import (  # noqa: F401 (fixtures)
    _person,
    audio_flowing,
    calls_server,
    phones,
    playwright_driver,
)
from tests.factories import OrgUnitFactory, PostFactory

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PEOPLE = 8


def test_eight_people_hear_each_other(phones, transactional_db):  # noqa: F811 (the fixture)
    root = OrgUnitFactory(name="大阪市", kind="city")
    group = services.group_create(
        name="大阪市災害対策本部", kind=CommandGroup.Kind.HEADQUARTERS, actor=None
    )
    users = []
    for i in range(PEOPLE):
        user = _person(root, f"41000{i}", "職員", f"{i + 1}号")
        post = PostFactory(name=f"第{i + 1}部長", holder=user.staff)
        role = "commander" if i == 0 else "member"
        services.group_add_member(group=group, post=post, role=role, actor=None)
        users.append(user)
    pages = [phones(user) for user in users]

    pages[0].goto(f"/messages/g/{group.pk}/")
    pages[0].locator("#conference-start").tap()
    pages[0].wait_for_url(re.compile(r"/calls/\d+/\?join=1$"))
    call = Call.objects.get()
    for page in pages[1:]:
        page.goto(f"/calls/{call.pk}/?join=1")
    started = time.monotonic()
    for page in pages:
        expect(page.locator(".call-person")).to_have_count(PEOPLE, timeout=60_000)
    for page in pages:
        stats = audio_flowing(page, peers=PEOPLE - 1, timeout=90)
        assert all(s["bytesReceived"] > 0 for s in stats)
    took = time.monotonic() - started
    print(f"\n{PEOPLE} people connected, audio flowing everywhere in {took:.1f}s")
    assert call.participants.filter(left_at__isnull=True).count() == PEOPLE
