"""Safety on the one websocket: every socket joins the city-wide channel (the disaster banner
follows ``incident.changed`` there), and a headquarters screen watching a round's totals asks
for its changes with ``{"type": "safety.watch", "round": id}`` (so does an assembly place's
coordinator, for their place's list: check-ins send the same event); answers arriving at 500 a
second reach each screen as at most one ``safety.changed`` frame a second (the page then reads
the totals, which are computed once a second for all screens)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext_lazy

from realtime.consumers import RealtimeConsumer as Socket
from realtime.db import database_sync_to_async
from realtime.events import channel_group
from realtime.frames import FrameError, int_field
from realtime.registry import Joined

from . import selectors
from .models import SafetyRound

APP = "safety"
FLUSH_SECONDS = 1.0
ERR_NO_ROUND = gettext_lazy("No such safety round, or you may not see it.")


@dataclass
class SocketState:
    pending: set[int] = field(default_factory=set)
    flush_task: asyncio.Task | None = None


async def on_connect(socket: Socket) -> Joined:
    socket.state[APP] = SocketState()
    return Joined(groups=[channel_group("all", 0)])


async def on_disconnect(socket: Socket) -> None:
    task = socket.state[APP].flush_task
    if task is not None:
        task.cancel()


@database_sync_to_async
def _may_watch(user, round_id: int) -> bool:
    """Headquarters (the totals and the assembly board) and the assembly places' coordinators
    (their place's list): the event names only the round, the pages check what they show."""
    return (
        selectors.user_can_see_assembly(user=user)
        and SafetyRound.objects.filter(pk=round_id).exists()
    )


async def on_watch(socket: Socket, frame: dict, ref: Any) -> None:
    round_id = int_field(frame, "round")
    if not await _may_watch(socket.user, round_id):
        raise FrameError("not_found", str(ERR_NO_ROUND))
    await socket.join([channel_group("sround", round_id)])
    await socket.send_json({"type": "safety.watching", "ref": ref, "round": round_id})


async def on_safety_changed(socket: Socket, event: dict) -> None:
    state: SocketState = socket.state[APP]
    state.pending.add(event["round"])
    if state.flush_task is None or state.flush_task.done():
        state.flush_task = asyncio.ensure_future(_flush(socket, state))


async def _flush(socket: Socket, state: SocketState) -> None:
    while state.pending:
        await asyncio.sleep(FLUSH_SECONDS)
        rounds, state.pending = sorted(state.pending), set()
        for round_id in rounds:
            await socket.send_json({"type": "safety.changed", "round": round_id})
