"""A page that was away asks for the in-app notifications it missed (``notifications.sync``):
only its own person's, only after the id it names; the first connect learns where to start."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from notifications.models import Notification
from tests.factories import StaffFactory, UserFactory
from tests.messaging.test_consumers import connect, frames_until

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


@sync_to_async
def people():
    me, other = UserFactory(), UserFactory()
    StaffFactory(user=me)
    StaffFactory(user=other)
    return me, other


@sync_to_async
def note(user, channel="inapp", kind="test") -> int:
    return Notification.objects.create(
        user=user, kind=kind, channel=channel, status="sent", created_at=timezone.now()
    ).pk


async def test_a_page_back_from_away_gets_what_it_missed_and_only_its_own():
    me, other = await people()
    before = await note(me)
    page = await connect(me)
    try:
        # Given the first connect: only where to start
        await page.send_json_to({"type": "notifications.sync", "after": None, "ref": 1})
        first, _ = await frames_until(page, "notifications")
        assert first == {"type": "notifications", "ref": 1, "last": before, "items": []}

        # When notifications are written while the page was away (its events lost)
        missed = [await note(me), await note(me)]
        await note(other)  # someone else's
        await note(me, channel="email")  # not in-app
        await page.send_json_to({"type": "notifications.sync", "after": before})
        back, _ = await frames_until(page, "notifications")

        # Then it gets exactly its own missed in-app ones, oldest first, and where it is now
        assert [i["notification"] for i in back["items"]] == missed
        assert back["last"] == missed[-1]
        assert {i["kind"] for i in back["items"]} == {"test"}

        # and asking again from there gives nothing
        await page.send_json_to({"type": "notifications.sync", "after": back["last"]})
        again, _ = await frames_until(page, "notifications")
        assert again["items"] == [] and again["last"] == missed[-1]
    finally:
        await page.disconnect()


async def test_a_bad_after_gets_an_error_and_nothing():
    me, _other = await people()
    await note(me)
    page = await connect(me)
    try:
        await page.send_json_to({"type": "notifications.sync", "after": "all", "ref": 7})
        error, skipped = await frames_until(page, "error")
        assert error["ref"] == 7 and error["code"] == "bad_request"
        assert [f for f in skipped if f["type"] == "notifications"] == []
    finally:
        await page.disconnect()
