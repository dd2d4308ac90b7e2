"""Calls on the one websocket: the signalling frames (registered in apps.py). Thin: read the
fields, look the call up through a selector, call one service, answer. Frames and errors are
documented in docs/calls.md.

A page takes a leg of a call (``call.start``, ``call.answer``, ``call.join``): from then on that
socket is the leg's page (``Participant.channel``) and the only one allowed to signal for it.
``call.signal`` is relayed from one joined leg's page to another's, and only then, with its
description or candidate checked and rebuilt (sdp.py); anything else is refused with an error
frame and nobody else receives anything."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils.translation import gettext_lazy

from directory.models import Staff
from realtime import clock
from realtime.consumers import RealtimeConsumer as Socket
from realtime.db import database_sync_to_async
from realtime.events import channel_group
from realtime.frames import FrameError, bad_field, call_service, int_field, str_field
from realtime.registry import Joined

from . import sdp, selectors, services, timers, turn
from .models import Call, Participant

APP = "calls"
ERR_NO_CALL = gettext_lazy("No such call, or you are not in it.")
ERR_NO_PERSON = gettext_lazy("No such person.")


@dataclass
class SocketState:
    legs: dict[int, int] = field(default_factory=dict)  # call id -> leg held by this page


def _state(socket: Socket) -> SocketState:
    return socket.state[APP]


# --- connect / disconnect ------------------------------------------------------------------
async def on_connect(socket: Socket) -> Joined:
    socket.state[APP] = SocketState()
    return Joined()


async def on_disconnect(socket: Socket) -> None:
    """A page holding a leg went away: the leg waits for it (a network change), then ends."""
    if not _state(socket).legs:
        return  # most pages: no query at all
    lost = await database_sync_to_async(services.participants_socket_lost)(
        channel=socket.channel_name
    )
    for leg_id in lost:
        timers.later(
            f"lost:{leg_id}",
            settings.HONBU_CALL_RECONNECT_SECONDS,
            services.participant_lost_expire,
            leg_id=leg_id,
            channel=socket.channel_name,
        )


# --- lookups and answers -------------------------------------------------------------------
@database_sync_to_async
def _call_for(user, frame: dict) -> Call:
    call = selectors.call_for_user(user=user, call_id=int_field(frame, "call"))
    if call is None:
        raise FrameError("not_found", str(ERR_NO_CALL))
    return call


@database_sync_to_async
def _payload(call_id: int) -> dict[str, Any]:
    return selectors.call_payload(Call.objects.select_related("group").get(pk=call_id))


@database_sync_to_async
def _ring_left(call_id: int) -> float | None:
    """Seconds until a ringing call's deadline (None when it no longer rings)."""
    call = Call.objects.filter(pk=call_id, state=Call.State.RINGING).first()
    if call is None:
        return None
    return (call.ring_until - clock.now()) / timedelta(seconds=1)


def _ring_timer(call_id: int, seconds: float) -> None:
    timers.later(f"ring:{call_id}", seconds, services.call_expire, call_id=call_id)


async def _took(socket: Socket, call: Call, leg: Participant, previous: str, ref: Any) -> None:
    """This page holds the leg now: remember it, watch a conference, tell the page it came
    from, and answer with the call, the leg and fresh ICE servers."""
    _state(socket).legs[call.pk] = leg.pk
    timers.cancel(f"lost:{leg.pk}")
    if call.kind == Call.Kind.CONFERENCE:
        await socket.join([channel_group("call", call.pk)])
    if previous:
        moved = json.dumps({"type": "call.moved", "call": call.pk})
        await socket.channel_layer.send(previous, {"type": "call.moved", "text": moved})
    await socket.send_json(
        {
            "type": "call.joined",
            "ref": ref,
            "call": call.pk,
            "leg": leg.pk,
            "epoch": leg.epoch,
            "ice_servers": turn.ice_servers(user_id=socket.user.pk),
            "state": await _payload(call.pk),
        }
    )


async def _answer_state(socket: Socket, call_id: int, ref: Any) -> None:
    await socket.send_json(
        {"type": "call.state", "ref": ref, "call": call_id, "state": await _payload(call_id)}
    )


# --- client → server -----------------------------------------------------------------------
async def on_start(socket: Socket, frame: dict, ref: Any) -> None:
    """{"type": "call.start", "to": <staff id>}: ring them; this page is the caller's."""
    staff_id = int_field(frame, "to")
    staff = await database_sync_to_async(Staff.objects.filter(pk=staff_id).first)()
    if staff is None:
        raise FrameError("not_found", str(ERR_NO_PERSON))
    call = await call_service(
        services.call_start, caller=socket.user, callee=staff, channel=await socket.direct_channel()
    )
    if call.state == Call.State.ENDED:  # busy
        await _answer_state(socket, call.pk, ref)
        return
    leg = await database_sync_to_async(call.participants.get)(user=socket.user)
    _ring_timer(call.pk, settings.HONBU_CALL_RING_SECONDS)
    await _took(socket, call, leg, "", ref)


async def on_join(socket: Socket, frame: dict, ref: Any) -> None:
    """{"type": "call.join", "call", "fresh"}: take this person's leg on this page."""
    call = await _call_for(socket.user, frame)
    fresh = frame.get("fresh", True)
    if not isinstance(fresh, bool):
        raise bad_field("fresh")
    bound = await call_service(
        services.participant_join,
        call=call,
        user=socket.user,
        channel=await socket.direct_channel(),  # subscribed before it is stored for others
        fresh=fresh,
    )
    if call.kind == Call.Kind.DIRECT and bound.leg.role == Participant.Role.CALLER:
        left = await _ring_left(call.pk)
        if left is not None:  # a call started by a form: this page times it
            _ring_timer(call.pk, left)
    await _took(socket, call, bound.leg, bound.previous_channel, ref)


async def on_answer(socket: Socket, frame: dict, ref: Any) -> None:
    call = await _call_for(socket.user, frame)
    bound = await call_service(
        services.call_answer, call=call, user=socket.user, channel=await socket.direct_channel()
    )
    timers.cancel(f"ring:{call.pk}")
    await _took(socket, call, bound.leg, bound.previous_channel, ref)


async def on_watch(socket: Socket, frame: dict, ref: Any) -> None:
    """The call as it is now (a page that opens or comes back); a conference's page also
    follows who comes and goes before joining."""
    call = await _call_for(socket.user, frame)
    if call.kind == Call.Kind.CONFERENCE:
        await socket.join([channel_group("call", call.pk)])
    await _answer_state(socket, call.pk, ref)


async def on_decline(socket: Socket, frame: dict, ref: Any) -> None:
    call = await _call_for(socket.user, frame)
    await call_service(services.call_decline, call=call, user=socket.user)
    timers.cancel(f"ring:{call.pk}")
    await _answer_state(socket, call.pk, ref)


async def on_hangup(socket: Socket, frame: dict, ref: Any) -> None:
    call = await _call_for(socket.user, frame)
    await call_service(services.call_hangup, call=call, user=socket.user)
    _state(socket).legs.pop(call.pk, None)
    await _answer_state(socket, call.pk, ref)


async def on_end(socket: Socket, frame: dict, ref: Any) -> None:
    """A commander ends the conference for everyone."""
    call = await _call_for(socket.user, frame)
    await call_service(services.conference_end, call=call, user=socket.user)
    _state(socket).legs.pop(call.pk, None)
    await _answer_state(socket, call.pk, ref)


async def on_fail(socket: Socket, frame: dict, ref: Any) -> None:
    """The page could not restore the media connection: say so for everyone."""
    call = await _call_for(socket.user, frame)
    reason = str_field(frame, "reason")
    if reason not in services.FAIL_REASONS:
        raise bad_field("reason")
    await call_service(
        services.call_fail,
        call=call,
        user=socket.user,
        channel=socket.channel_name,
        reason=reason,
    )
    _state(socket).legs.pop(call.pk, None)
    await _answer_state(socket, call.pk, ref)


async def on_media(socket: Socket, frame: dict, ref: Any) -> None:
    """{"type": "call.media", "call", "muted": bool}: this page's microphone."""
    call = await _call_for(socket.user, frame)
    muted = frame.get("muted")
    if not isinstance(muted, bool):
        raise bad_field("muted")
    await call_service(
        services.participant_media,
        call=call,
        user=socket.user,
        channel=socket.channel_name,
        muted=muted,
    )


async def on_mute(socket: Socket, frame: dict, ref: Any) -> None:
    """{"type": "call.mute", "call", "leg"}: a commander mutes someone; their page obeys."""
    call = await _call_for(socket.user, frame)
    leg = await call_service(
        services.participant_mute, call=call, actor=socket.user, leg_id=int_field(frame, "leg")
    )
    if leg.channel:
        request = {
            "type": "call.mute_request",
            "call": call.pk,
            "leg": leg.pk,
            "by": socket.user.display_name(),
        }
        text = json.dumps(request, ensure_ascii=False)
        await socket.channel_layer.send(leg.channel, {"type": "call.mute_request", "text": text})


async def on_signal(socket: Socket, frame: dict, ref: Any) -> None:
    """{"type": "call.signal", "call", "to": <leg>, "session", "description" | "candidate" |
    "restart"}: relayed to that leg's page as {"type": "call.signal", "call", "from", "epoch",
    "session", …}."""
    call_id, to = int_field(frame, "call"), int_field(frame, "to")
    session = sdp.session_clean(frame.get("session"))
    if "description" in frame:
        payload: dict[str, Any] = {"description": sdp.description_clean(frame["description"])}
    elif "candidate" in frame:
        payload = {"candidate": sdp.candidate_clean(frame["candidate"])}
    elif frame.get("restart") is True:
        payload = {"restart": True}  # "please restart ICE" (the offering side does it)
    else:
        raise bad_field("description")
    route = await database_sync_to_async(selectors.signal_route)(
        call_id=call_id, channel=socket.channel_name, to_leg=to
    )
    if route is None:
        raise FrameError("not_found", str(ERR_NO_CALL))
    leg, epoch, target = route
    text = json.dumps(
        {
            "type": "call.signal",
            "call": call_id,
            "from": leg,
            "epoch": epoch,
            "session": session,
            **payload,
        }
    )
    await socket.channel_layer.send(target, {"type": "call.signal", "text": text})


FRAMES = {
    "call.start": on_start,
    "call.join": on_join,
    "call.answer": on_answer,
    "call.watch": on_watch,
    "call.decline": on_decline,
    "call.hangup": on_hangup,
    "call.end": on_end,
    "call.fail": on_fail,
    "call.media": on_media,
    "call.mute": on_mute,
    "call.signal": on_signal,
}
