"""The memory of websockets that have ended is given back (issue 13, config/gcsweep.py).

What an ended socket leaves in reference cycles (its consumer no longer: test_freed.py; uvicorn's
HTTP protocol object of the upgrade and its parser still) only a full collection frees, and with
the server's raised collector thresholds (config/asgi.py) none comes by itself: bench/soak.py saw
every reconnect storm add memory for good. Here a real uvicorn server (in this process, so its
objects can be counted) serves the real websocket stack with the collector off; its sockets drop
twice, as in two storms, and what both rounds left must be gone after the one sweep."""

from __future__ import annotations

import asyncio
import gc
import socket
import weakref

import pytest
import uvicorn
from asgiref.sync import sync_to_async
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from config.asgi import websocket_application
from config.gcsweep import GarbageSweep
from tests.realtime.wsclients import Member, make_group, session_cookies, wait_until

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

PEOPLE = 10
SOCKETS_EACH = 4  # 40 sockets a round


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def protocols_of(port: int) -> list[weakref.ref]:
    return [
        weakref.ref(o)
        for o in gc.get_objects()
        if type(o) is HttpToolsProtocol and getattr(o, "server", None) == ("127.0.0.1", port)
    ]


def alive(refs: list[weakref.ref]) -> int:
    return sum(r() is not None for r in refs)


async def test_what_dropped_sockets_leave_is_freed_by_one_sweep_after_the_storms():
    drill = await sync_to_async(make_group)(PEOPLE)
    gid = drill.group.pk
    cookies = await sync_to_async(session_cookies)(drill.members)
    n = PEOPLE * SOCKETS_EACH
    # One sweep when both rounds have ended; none after the first.
    sweep = GarbageSweep(after=2 * n, min_interval=0, quiet=0.5)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            websocket_application(sweep),
            host="127.0.0.1",
            port=port,
            ws="websockets-sansio",  # as config/server.py
            ws_per_message_deflate=False,
            lifespan="off",
            log_level="warning",
        )
    )
    serving = asyncio.ensure_future(server.serve())
    url = f"ws://127.0.0.1:{port}/ws/"
    members = [
        Member(url, c, gid, backoff_base=0.2, backoff_cap=1.0)
        for c in cookies
        for _ in range(SOCKETS_EACH)
    ]
    gc.collect()
    gc.disable()  # no collection but the sweep's
    try:
        assert await wait_until(lambda: server.started, 30)
        for m in members:
            m.start()
        assert await wait_until(lambda: all(m.connects >= 1 for m in members), 60)
        first = protocols_of(port)
        assert len(first) >= n

        for m in members:
            m.drop()
        assert await wait_until(lambda: sweep.ended >= n, 60)
        assert await wait_until(lambda: all(m.connects >= 2 for m in members), 60)
        # Every first-round socket has ended on the server, yet reference counting freed none
        # of their HTTP protocol objects: they are cyclic garbage, and no sweep ran yet.
        assert sweep.sweeps == 0
        assert alive(first) == len(first)
        second = [r for r in protocols_of(port) if all(r() is not f() for f in first)]
        assert len(second) >= n

        for m in members:
            m.drop()
        assert await wait_until(lambda: sweep.sweeps >= 1, 60)
        assert sweep.sweeps == 1  # after the storm, not during it
        assert sweep.ended >= 2 * n
        assert sweep.freed > 0
        assert alive(first) == 0
        assert alive(second) == 0
    finally:
        gc.enable()
        await asyncio.gather(*(m.stop() for m in members), return_exceptions=True)
        server.should_exit = True
        await asyncio.wait_for(serving, 30)
