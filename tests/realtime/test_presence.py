"""Presence: who has a live page open, as the alert task sees it (a real Redis, real sockets
through the ASGI stack)."""

import pytest
from asgiref.sync import sync_to_async

from realtime import presence
from tests.messaging.test_consumers import connect

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


async def test_a_person_is_online_while_any_of_their_sockets_is_open(hq):
    everyone = {hq.ward_head.pk, hq.bureau_head.pk, hq.mayor.pk}
    online = sync_to_async(presence.online)
    assert await online(everyone) == set()

    phone, laptop = await connect(hq.ward_head), await connect(hq.ward_head)
    mayor = await connect(hq.mayor)
    try:
        assert await online(everyone) == {hq.ward_head.pk, hq.mayor.pk}
        await phone.disconnect()
        assert await online(everyone) == {hq.ward_head.pk, hq.mayor.pk}  # the laptop is open
        await laptop.disconnect()
        assert await online(everyone) == {hq.mayor.pk}
    finally:
        await mayor.disconnect()
    assert await online(everyone) == set()


async def test_a_dead_server_process_drops_out(hq, monkeypatch):
    """A process that stops refreshing its set (killed) no longer counts after the TTL."""
    ward = await connect(hq.ward_head)
    try:
        assert await sync_to_async(presence.online)({hq.ward_head.pk}) == {hq.ward_head.pk}
        real_time = presence.time.time
        monkeypatch.setattr(presence.time, "time", lambda: real_time() + presence.TTL + 1)
        assert await sync_to_async(presence.online)({hq.ward_head.pk}) == set()
    finally:
        monkeypatch.undo()
        await ward.disconnect()
