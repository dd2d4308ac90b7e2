"""The assembly pages are live: a place's coordinator (not headquarters) may watch the round on
the one websocket, and a check-in reaches the watching screen as ``safety.changed`` through the
real ASGI stack and Redis channel layer; someone who may not watch gets an error and nothing."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from directory.models import User
from safety import assembly, rounds
from safety.models import AssemblyPlace, SafetyRequest
from tests.factories import StaffFactory, UserFactory
from tests.messaging.test_consumers import connect, frames_until

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


@sync_to_async
def setting_up(city):
    desk = UserFactory(role=User.Role.STAFF)
    StaffFactory(user=desk, unit=city.chuo)
    place = AssemblyPlace.objects.get(name="中央区役所")
    place.coordinators.add(desk)
    round_ = rounds.round_start(actor=city.mayor, title="安否確認", target={"all": True})
    request = SafetyRequest.objects.get(round=round_, staff=city.chuo_staff[0])
    return desk, place, round_, request


async def test_a_check_in_reaches_the_coordinators_screen_and_outsiders_cannot_watch(city):
    desk, place, round_, request = await setting_up(city)
    coordinator, outsider = await connect(desk), await connect(city.staff_user)
    try:
        await coordinator.send_json_to({"type": "safety.watch", "round": round_.pk, "ref": 1})
        watching, _ = await frames_until(coordinator, "safety.watching")
        await outsider.send_json_to({"type": "safety.watch", "round": round_.pk, "ref": 2})
        refused, _ = await frames_until(outsider, "error")

        await sync_to_async(assembly.checkin_from_link)(request=request, place=place)

        changed, _ = await frames_until(coordinator, "safety.changed")
        assert (watching["round"], changed["round"]) == (round_.pk, round_.pk)
        assert refused["ref"] == 2 and refused["code"] == "not_found"
        assert await outsider.receive_nothing(timeout=1.5)
    finally:
        for socket in (coordinator, outsider):
            await socket.disconnect()
