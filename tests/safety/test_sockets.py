"""Live totals over the websocket: a headquarters screen watches a round and hears of answers
at most once a second; staff may not watch (an error frame, nothing joined); every socket is
told when disaster mode is declared."""

from __future__ import annotations

import time

import pytest
from asgiref.sync import sync_to_async

from safety import answers, incidents, rounds
from safety.models import SafetyRequest
from tests.messaging.test_consumers import connect, frames_until
from tests.safety.conftest import SAFE

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


async def test_headquarters_hears_of_answers_coalesced(city):
    round_ = await sync_to_async(rounds.round_start)(
        actor=city.mayor, title="安否確認", target={"all": True}
    )
    screen = await connect(city.mayor)
    try:
        await screen.send_json_to({"type": "safety.watch", "round": round_.pk, "ref": 1})
        watching, _ = await frames_until(screen, "safety.watching")
        assert watching == {"type": "safety.watching", "ref": 1, "round": round_.pk}

        started, wall = time.monotonic(), time.time()
        for staff in city.kita_staff:  # four answers in a burst
            request = await SafetyRequest.objects.aget(round=round_, staff=staff)
            await sync_to_async(answers.answer_from_link)(request=request, data=SAFE)
        last_committed = time.time()
        changed, _ = await frames_until(screen, "safety.changed", timeout=5)
        assert changed == {"type": "safety.changed", "round": round_.pk, "at": changed["at"]}
        assert wall <= changed["at"] <= last_committed  # the latest of the four
        assert time.monotonic() - started >= 0.9  # coalesced: one frame after ~a second
        assert await screen.receive_nothing(timeout=1.5)  # not one per answer
    finally:
        await screen.disconnect()


async def test_staff_cannot_watch_a_round(city):
    round_ = await sync_to_async(rounds.round_start)(
        actor=city.mayor, title="安否確認", target={"all": True}
    )
    staff = await connect(city.staff_user)
    try:
        await staff.send_json_to({"type": "safety.watch", "round": round_.pk, "ref": 2})
        error, _ = await frames_until(staff, "error")
        assert (error["code"], error["ref"]) == ("not_found", 2)
        request = await SafetyRequest.objects.aget(round=round_, staff=city.kita_staff[0])
        await sync_to_async(answers.answer_from_link)(request=request, data=SAFE)
        assert await staff.receive_nothing(timeout=1.5)  # never joined the round's channel
    finally:
        await staff.disconnect()


async def test_every_socket_hears_disaster_mode_declared(city):
    level = await sync_to_async(lambda: city.emergency)()
    ward = await connect(city.ward_head)
    staff = await connect(city.staff_user)
    try:
        await sync_to_async(incidents.incident_declare)(
            actor=city.mayor, title="大阪府北部地震", kind="earthquake", level=level
        )
        for sock in (ward, staff):
            frame, _ = await frames_until(sock, "incident.changed")
            assert frame["incident"]["title"] == "大阪府北部地震" and frame["incident"]["open"]
    finally:
        await ward.disconnect()
        await staff.disconnect()
