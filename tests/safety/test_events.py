"""Live-totals events are coalesced in each server process: a burst of answers to one round is
published as the first change at once and one trailing change carrying the latest commit time,
from a timer thread that never touches the database (a pooled connection held by that thread
hung the server: tests/safety/test_faults.py found it)."""

from __future__ import annotations

import asyncio
import time

import pytest
from channels.layers import get_channel_layer

from realtime.events import channel_group
from safety import events

pytestmark = pytest.mark.asyncio  # and no database: the publishing thread may not use it


async def test_a_burst_is_published_at_once_and_once_more_with_its_latest_time():
    round_id = 987_654_321
    layer = get_channel_layer()
    channel = await layer.new_channel()
    group = channel_group("sround", round_id)
    await layer.group_add(group, channel)
    try:
        started = time.monotonic()
        for i in range(20):  # twenty answers' after-commit hooks, on request threads
            await asyncio.to_thread(events.round_changed, round_id, at=1000.0 + i)
        span = time.monotonic() - started
        heard = []
        while True:
            try:
                heard.append(await asyncio.wait_for(layer.receive(channel), 1.5))
            except TimeoutError:
                break
    finally:
        await layer.group_discard(group, channel)

    assert heard[0] == {"type": "safety.changed", "round": round_id, "at": 1000.0}
    assert heard[-1]["at"] == 1019.0  # the last change is never left unannounced
    assert [h["at"] for h in heard] == sorted(h["at"] for h in heard)
    # One publish per 0.25 s at most (20 in a row on a quiet machine: 2).
    assert 2 <= len(heard) <= 2 + span / events.COALESCE_SECONDS
