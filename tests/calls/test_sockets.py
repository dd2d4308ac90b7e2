"""Signalling through the real ASGI stack (session auth, Origin check) and the Redis channel
layer: the ring reaches the callee's every page and nobody else, the answering page alone holds
the leg, offers/answers/candidates go from one leg's page to the other's only, every outcome
reaches both sides, a stranger's frames are refused and change nothing, a dropped page comes
back (or the call fails), and a conference with a commander's mute."""

from __future__ import annotations

import asyncio
import json

import pytest
import pytest_asyncio
from asgiref.sync import sync_to_async

from calls import services, timers
from calls.models import Call, Participant
from realtime import consumers
from tests.calls.test_turn_sdp import AUDIO_OFFER
from tests.messaging.test_consumers import connect, frames_until

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

CANDIDATE = {
    "candidate": "candidate:1 1 udp 2122260223 192.0.2.2 54321 typ host generation 0",
    "sdpMid": "0",
    "sdpMLineIndex": 0,
}


@pytest_asyncio.fixture(autouse=True)
async def _no_timers_left():
    yield
    for key in timers.pending():
        timers.cancel(key)


async def close(*comms) -> None:
    for comm in comms:
        await comm.disconnect()


async def state_until(comm, predicate, timeout=5):
    """call.state frames until one whose state matches."""
    while True:
        frame, _ = await frames_until(comm, "call.state", timeout=timeout)
        if predicate(frame["state"]):
            return frame["state"]


async def start(caller_comm, callee) -> dict:
    await caller_comm.send_json_to({"type": "call.start", "to": callee.staff.pk, "ref": "s"})
    joined, _ = await frames_until(caller_comm, "call.joined")
    assert joined["ref"] == "s"
    return joined


async def answered_call(hq):
    """The mayor's page calls the ward head, whose second page answers. Returns the sockets,
    the two joined frames (legs) and the call id."""
    mayor = await connect(hq.mayor)
    ward_1, ward_2 = await connect(hq.ward_head), await connect(hq.ward_head)
    a = await start(mayor, hq.ward_head)
    await frames_until(ward_1, "call.ring")
    await frames_until(ward_2, "call.ring")
    await ward_2.send_json_to({"type": "call.answer", "call": a["call"], "ref": "ans"})
    b, _ = await frames_until(ward_2, "call.joined")
    await state_until(mayor, lambda s: s["state"] == "active")
    await state_until(ward_1, lambda s: s["state"] == "active")  # the other phone stops ringing
    await state_until(ward_2, lambda s: s["state"] == "active")
    return mayor, ward_1, ward_2, a, b


# --- one-to-one ----------------------------------------------------------------------------
async def test_the_ring_reaches_every_page_of_the_callee_and_nobody_else(hq):
    mayor = await connect(hq.mayor)
    ward_1, ward_2 = await connect(hq.ward_head), await connect(hq.ward_head)
    outsider = await connect(hq.outsider)
    try:
        joined = await start(mayor, hq.ward_head)
        assert joined["state"]["state"] == "ringing" and joined["ice_servers"] == []
        assert joined["leg"] == joined["state"]["legs"][0]["id"]
        for page in (ward_1, ward_2):
            ring, _ = await frames_until(page, "call.ring")
            assert (ring["call"], ring["caller"], ring["caller_post"]) == (
                joined["call"],
                hq.mayor.display_name(),
                "本部長",
            )
            assert ring["url"] == f"/calls/{joined['call']}/"
        assert await outsider.receive_nothing(timeout=0.5)
    finally:
        await close(mayor, ward_1, ward_2, outsider)


async def test_signalling_goes_between_the_two_legs_pages_only(hq):
    mayor, ward_1, ward_2, a, b = await answered_call(hq)
    try:
        offer = {"type": "offer", "sdp": AUDIO_OFFER}
        await mayor.send_json_to(
            {
                "type": "call.signal",
                "call": a["call"],
                "to": b["leg"],
                "session": "s1",
                "description": offer,
            }
        )
        got, _ = await frames_until(ward_2, "call.signal")
        assert got == {
            "type": "call.signal",
            "call": a["call"],
            "from": a["leg"],
            "epoch": 1,
            "session": "s1",
            "description": offer,
        }
        answer = {"type": "answer", "sdp": AUDIO_OFFER}
        await ward_2.send_json_to(
            {
                "type": "call.signal",
                "call": a["call"],
                "to": a["leg"],
                "session": "s1",
                "description": answer,
            }
        )
        got, _ = await frames_until(mayor, "call.signal")
        assert (got["from"], got["description"]) == (b["leg"], answer)
        await ward_2.send_json_to(
            {
                "type": "call.signal",
                "call": a["call"],
                "to": a["leg"],
                "session": "s1",
                "candidate": CANDIDATE,
            }
        )
        got, _ = await frames_until(mayor, "call.signal")
        assert got["candidate"] == CANDIDATE
        await mayor.send_json_to(
            {
                "type": "call.signal",
                "call": a["call"],
                "to": b["leg"],
                "session": "s1",
                "restart": True,
            }
        )
        got, _ = await frames_until(ward_2, "call.signal")
        assert got["restart"] is True
        assert await ward_1.receive_nothing(timeout=0.5)  # the page that did not answer

        await mayor.send_json_to({"type": "call.hangup", "call": a["call"]})
        for page in (mayor, ward_1, ward_2):
            state = await state_until(page, lambda s: s["state"] == "ended")
            assert state["outcome"] == "completed" and state["legs"] == []
    finally:
        await close(mayor, ward_1, ward_2)


async def test_a_strangers_frames_are_refused_and_change_nothing(hq):
    mayor, ward_1, ward_2, a, b = await answered_call(hq)
    outsider = await connect(hq.outsider)
    try:
        offer = {"type": "offer", "sdp": AUDIO_OFFER}
        attempts = [
            # someone else entirely: offer, answer, candidate; and every other frame
            (outsider, {"type": "call.signal", "to": b["leg"], "description": offer}, "not_found"),
            (
                outsider,
                {
                    "type": "call.signal",
                    "to": a["leg"],
                    "description": {"type": "answer", "sdp": AUDIO_OFFER},
                },
                "not_found",
            ),
            (
                outsider,
                {"type": "call.signal", "to": b["leg"], "candidate": CANDIDATE},
                "not_found",
            ),
            (outsider, {"type": "call.answer"}, "not_found"),
            (outsider, {"type": "call.join"}, "not_found"),
            (outsider, {"type": "call.hangup"}, "not_found"),
            (outsider, {"type": "call.decline"}, "not_found"),
            (outsider, {"type": "call.watch"}, "not_found"),
            (outsider, {"type": "call.media", "muted": True}, "not_found"),
            # the callee's other page, which does not hold the leg
            (ward_1, {"type": "call.signal", "to": a["leg"], "description": offer}, "not_found"),
            (ward_1, {"type": "call.media", "muted": True}, "forbidden"),
            # a leg's own page, but to itself, to a leg of no call, or with bad contents
            (mayor, {"type": "call.signal", "to": a["leg"], "description": offer}, "not_found"),
            (mayor, {"type": "call.signal", "to": 999999, "description": offer}, "not_found"),
            (
                mayor,
                {
                    "type": "call.signal",
                    "to": b["leg"],
                    "description": {"type": "offer", "sdp": "hello"},
                },
                "bad_sdp",
            ),
            (
                mayor,
                {
                    "type": "call.signal",
                    "to": b["leg"],
                    "description": {"type": "offer", "sdp": ["v=0"]},
                },
                "bad_sdp",
            ),
            (
                mayor,
                {"type": "call.signal", "to": b["leg"], "candidate": {"candidate": "x"}},
                "bad_candidate",
            ),
            (mayor, {"type": "call.signal", "to": b["leg"]}, "bad_request"),
            (mayor, {"type": "call.signal", "to": "b", "description": offer}, "bad_request"),
            (mayor, {"type": "call.mute", "leg": b["leg"]}, "forbidden"),  # not a conference
            (mayor, {"type": "call.fail", "reason": "boredom"}, "bad_request"),
        ]
        for sender, frame, code in attempts:
            frame = {"call": a["call"], "session": "s1", **frame, "ref": "x"}
            await sender.send_json_to(frame)
            error, _ = await frames_until(sender, "error")
            assert (frame["type"], error["code"]) == (frame["type"], code)
        # Oversized: the core refuses it before any handler.
        huge = {
            "type": "call.signal",
            "call": a["call"],
            "to": b["leg"],
            "session": "s1",
            "description": {"type": "offer", "sdp": "v=0\r\n" + "a=x\r\n" * 4000},
        }
        await mayor.send_to(text_data=json.dumps(huge))
        error, _ = await frames_until(mayor, "error")
        assert error["code"] == "too_large" and len(json.dumps(huge)) > consumers.MAX_FRAME_BYTES
        for page in (ward_2, ward_1):
            assert await page.receive_nothing(timeout=0.5)
        call = await sync_to_async(Call.objects.get)(pk=a["call"])
        assert (call.state, call.version) == ("active", 2)
        legs = await sync_to_async(list)(
            Participant.objects.filter(call=call).values_list("muted", "left_at", "epoch")
        )
        assert legs == [(False, None, 1), (False, None, 1)]
    finally:
        await close(mayor, ward_1, ward_2, outsider)


async def test_decline_reaches_both_sides(hq):
    mayor, ward = await connect(hq.mayor), await connect(hq.ward_head)
    try:
        a = await start(mayor, hq.ward_head)
        await frames_until(ward, "call.ring")
        await ward.send_json_to({"type": "call.decline", "call": a["call"]})
        for page in (mayor, ward):
            state = await state_until(page, lambda s: s["state"] == "ended")
            assert state["outcome"] == "declined"
    finally:
        await close(mayor, ward)


async def test_no_answer_ends_at_the_deadline(hq, settings):
    settings.HONBU_CALL_RING_SECONDS = 1
    mayor, ward = await connect(hq.mayor), await connect(hq.ward_head)
    try:
        await start(mayor, hq.ward_head)
        state = await state_until(mayor, lambda s: s["state"] == "ended", timeout=5)
        assert (state["outcome"], state["end_reason"]) == ("no_answer", "timeout")
        seen = []
        while not any(f["type"] == "call.state" and f["state"]["state"] == "ended" for f in seen):
            seen.append(await ward.receive_json_from(timeout=5))
        # The missed-call notification, in the app (the banner), with the ended call.
        assert [f["kind"] for f in seen if f["type"] == "reminder"] == ["call_missed"]
    finally:
        await close(mayor, ward)


async def test_cancel_and_busy(hq):
    mayor, ward, bureau = (
        await connect(hq.mayor),
        await connect(hq.ward_head),
        await connect(hq.bureau_head),
    )
    try:
        a = await start(mayor, hq.ward_head)
        await frames_until(ward, "call.ring")
        await bureau.send_json_to({"type": "call.start", "to": hq.ward_head.staff.pk, "ref": "b"})
        busy, _ = await frames_until(bureau, "call.state")
        assert (busy["ref"], busy["state"]["outcome"]) == ("b", "busy")
        await mayor.send_json_to({"type": "call.hangup", "call": a["call"]})
        state = await state_until(ward, lambda s: s["call"] == a["call"] and s["state"] == "ended")
        assert state["outcome"] == "cancelled"
    finally:
        await close(mayor, ward, bureau)


async def test_a_dropped_page_comes_back_or_the_call_fails(hq, settings):
    settings.HONBU_CALL_RECONNECT_SECONDS = 1
    mayor, ward_1, ward_2, a, b = await answered_call(hq)
    try:
        await ward_2.disconnect()  # a network change: the socket drops
        state = await state_until(mayor, lambda s: any(leg["lost"] for leg in s["legs"]))
        assert [leg["lost"] for leg in state["legs"]] == [False, True]
        back = await connect(hq.ward_head)
        await back.send_json_to({"type": "call.join", "call": a["call"], "fresh": False})
        joined, _ = await frames_until(back, "call.joined")
        assert (joined["leg"], joined["epoch"]) == (b["leg"], 1)  # the same connection goes on
        state = await state_until(mayor, lambda s: not any(leg["lost"] for leg in s["legs"]))
        await asyncio.sleep(1.5)  # past the grace: nothing happens, it came back
        call = await sync_to_async(Call.objects.get)(pk=a["call"])
        assert call.state == "active"

        await back.disconnect()  # and now for good
        state = await state_until(mayor, lambda s: s["state"] == "ended", timeout=5)
        assert (state["outcome"], state["end_reason"]) == ("failed", "network")
    finally:
        await close(mayor, ward_1)


async def test_ice_failure_is_reported_to_both(hq):
    mayor, ward_1, ward_2, a, b = await answered_call(hq)
    try:
        await ward_2.send_json_to({"type": "call.fail", "call": a["call"], "reason": "ice"})
        for page in (mayor, ward_2):
            state = await state_until(page, lambda s: s["state"] == "ended")
            assert (state["outcome"], state["end_reason"]) == ("failed", "ice")
    finally:
        await close(mayor, ward_1, ward_2)


# --- conference ----------------------------------------------------------------------------
async def test_conference_join_mute_and_leave(hq):
    call = await sync_to_async(services.conference_start)(group=hq.group, user=hq.mayor)
    mayor, ward, bureau, outsider = (
        await connect(hq.mayor),
        await connect(hq.ward_head),
        await connect(hq.bureau_head),
        await connect(hq.outsider),
    )
    try:
        legs = {}
        for page, name in ((mayor, "mayor"), (ward, "ward"), (bureau, "bureau")):
            await page.send_json_to({"type": "call.join", "call": call.pk, "fresh": True})
            joined, _ = await frames_until(page, "call.joined")
            legs[name] = joined["leg"]
        state = await state_until(mayor, lambda s: len(s["legs"]) == 3)
        assert [leg["role"] for leg in state["legs"]] == ["commander", "member", "member"]
        await outsider.send_json_to({"type": "call.join", "call": call.pk})
        error, _ = await frames_until(outsider, "error")
        assert error["code"] == "not_found"

        # A member may not mute others; the commander may, and that page is asked to obey.
        await ward.send_json_to({"type": "call.mute", "call": call.pk, "leg": legs["bureau"]})
        error, _ = await frames_until(ward, "error")
        assert error["code"] == "forbidden"
        await mayor.send_json_to({"type": "call.mute", "call": call.pk, "leg": legs["bureau"]})
        request, _ = await frames_until(bureau, "call.mute_request")
        assert (request["leg"], request["by"]) == (legs["bureau"], hq.mayor.display_name())
        state = await state_until(ward, lambda s: any(leg["muted"] for leg in s["legs"]))
        muted = [leg for leg in state["legs"] if leg["muted"]]
        assert [(leg["id"], leg["muted_by"]) for leg in muted] == [
            (legs["bureau"], hq.mayor.display_name())
        ]

        await ward.send_json_to({"type": "call.hangup", "call": call.pk})
        state = await state_until(mayor, lambda s: len(s["legs"]) == 2)
        assert [leg["id"] for leg in state["legs"]] == [legs["mayor"], legs["bureau"]]
        assert await outsider.receive_nothing(timeout=0.3)
    finally:
        await close(mayor, ward, bureau, outsider)
