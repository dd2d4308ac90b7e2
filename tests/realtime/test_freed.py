"""An ended socket's consumer is freed at once, by reference counting (issue 13, bench/soak.py).

The consumer and its send queue referred to each other (the queue held the consumer's callbacks),
so every ended socket's consumer, its state and its scope waited for a full garbage collection,
which the server's raised collector thresholds (config/asgi.py) make rare: a reconnect storm
added the memory of all its sockets. A real uvicorn server in this process (so its objects can be
counted) serves the real websocket stack; with the collector off, the dropped sockets' consumers
must be gone as soon as their sockets have ended."""

from __future__ import annotations

import asyncio
import gc
import socket
import weakref

import pytest
import uvicorn
from asgiref.sync import sync_to_async

from config.asgi import websocket_application
from realtime.consumers import RealtimeConsumer
from tests.realtime.wsclients import Member, make_group, session_cookies, wait_until

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

PEOPLE = 10
SOCKETS_EACH = 4  # 40 sockets a round


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def consumers_of(port: int) -> list[weakref.ref]:
    return [
        weakref.ref(o)
        for o in gc.get_objects()
        # type(), not isinstance(): a weakref.proxy of a consumer passes isinstance
        if issubclass(type(o), RealtimeConsumer) and o.scope.get("server") == ("127.0.0.1", port)
    ]


def alive(refs: list[weakref.ref]) -> int:
    return sum(r() is not None for r in refs)


async def test_the_consumers_of_dropped_sockets_are_freed_without_a_collection():
    drill = await sync_to_async(make_group)(PEOPLE)
    cookies = await sync_to_async(session_cookies)(drill.members)
    n = PEOPLE * SOCKETS_EACH
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            websocket_application(),
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
        Member(url, c, drill.group.pk, backoff_base=0.2, backoff_cap=1.0)
        for c in cookies
        for _ in range(SOCKETS_EACH)
    ]
    gc.collect()
    gc.disable()
    try:
        assert await wait_until(lambda: server.started, 30)
        for m in members:
            m.start()
        assert await wait_until(lambda: all(m.connects >= 1 for m in members), 60)
        first = consumers_of(port)
        assert len(first) == n
        for m in members:
            m.drop()
        assert await wait_until(lambda: all(m.connects >= 2 for m in members), 60)
        assert await wait_until(lambda: alive(first) == 0, 30), alive(first)
        assert len(consumers_of(port)) == n  # the new ones
    finally:
        gc.enable()
        await asyncio.gather(*(m.stop() for m in members), return_exceptions=True)
        server.should_exit = True
        await asyncio.wait_for(serving, 30)
