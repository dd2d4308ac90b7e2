"""Fault drill: a reconnect storm (issue 13). Every socket of a server drops at once (a network
blip between the phones and the server) while instructions keep coming; all of them come back
with the page's jittered backoff (static/js/honbu.js, mirrored by tests/realtime/wsclients.py)
to the same server, which stays up, and each catches up by sequence number: nothing lost,
nothing delivered twice. bench/soak.py does the same with 2,000 sockets."""

from __future__ import annotations

import asyncio
import time
import uuid

import psutil
import pytest

from tests.conftest import serve_test_database
from tests.realtime.wsclients import (
    Member,
    instruction_frame,
    make_group,
    session_cookie,
    session_cookies,
    wait_until,
    ws_url,
)

pytestmark = pytest.mark.django_db(transaction=True)

PEOPLE = 40
SOCKETS_EACH = 10  # phones, tablets, tabs: 400 sockets
BEFORE, DURING = 3, 5  # instructions before the drop, and while the sockets are away


def test_four_hundred_sockets_dropped_at_once_all_come_back_and_catch_up(django_db_blocker):
    drill = make_group(PEOPLE)
    gid = drill.group.pk
    commander_cookie = session_cookie(drill.commander)
    cookies = session_cookies(drill.members)

    with serve_test_database(django_db_blocker) as base:
        server = psutil.Process(base.pid)

        async def storm() -> dict:
            url = ws_url(base)
            commander = Member(url, commander_cookie, gid)
            commander.start()
            members = [Member(url, c, gid) for c in cookies for _ in range(SOCKETS_EACH)]
            connecting = asyncio.Semaphore(50)  # pages opened over a few seconds

            async def open_one(member: Member) -> None:
                async with connecting:
                    member.start()
                    await asyncio.wait_for(member.connected.wait(), 60)

            try:
                await asyncio.wait_for(commander.connected.wait(), 30)
                await asyncio.gather(*(open_one(m) for m in members))

                async def instruct(n: int) -> None:
                    await commander.ws.send(instruction_frame(gid, n, str(uuid.uuid4())))

                for n in range(1, BEFORE + 1):
                    await instruct(n)
                before = await wait_until(lambda: all(m.last_seq >= BEFORE for m in members), 60)
                rss_before = server.memory_info().rss

                # Every member socket drops at once; instructions go on meanwhile.
                dropped_at = time.monotonic()
                for m in members:
                    m.drop()
                for n in range(BEFORE + 1, BEFORE + DURING + 1):
                    await instruct(n)
                last = BEFORE + DURING
                caught_up = await wait_until(
                    lambda: all(m.connects >= 2 and m.last_seq >= last for m in members), 90
                )
                return {
                    "before": before,
                    "caught_up": caught_up,
                    "seconds": time.monotonic() - dropped_at,
                    "members": members,
                    "last": last,
                    "rss_before": rss_before,
                    "rss_after": server.memory_info().rss,
                    "alive": server.is_running() and server.status() != psutil.STATUS_ZOMBIE,
                }
            finally:
                await asyncio.gather(*(m.stop() for m in [commander, *members]))

        result = asyncio.run(storm())

    members = result["members"]
    assert result["before"]
    assert result["alive"]  # the server stayed up through 400 reconnects at once
    lagging = [(m.connects, m.last_seq) for m in members if m.last_seq < result["last"]]
    assert result["caught_up"], (round(result["seconds"], 1), lagging[:10])
    for m in members:
        assert m.missing(result["last"]) == []  # nothing lost
        assert m.live_dupes == 0  # nothing delivered twice on one connection
    assert result["rss_after"] - result["rss_before"] < 50 * 1024 * 1024
