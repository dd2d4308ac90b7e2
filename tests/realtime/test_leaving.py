"""Clients leaving, however they leave, are normal: a real served process (``python -m
config.server``, uvicorn) logs no traceback for them, nor when it stops with sockets open
(issue 14: ~1,100 CancelledError tracebacks per benchmark before)."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import uuid

import psutil
import pytest
from asgiref.sync import sync_to_async
from websockets.asyncio.client import connect

from tests.conftest import serve_test_database
from tests.messaging.test_consumers import session_cookie

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]
SOCKETS_EACH = 12  # per person and way of leaving


async def _open(ws_url: str, origin: str, cookie: str):
    ws = await connect(
        ws_url,
        origin=origin,
        compression=None,
        ping_interval=None,
        open_timeout=30,
        close_timeout=2,
        additional_headers={"Cookie": cookie},
    )
    hello = json.loads(await asyncio.wait_for(ws.recv(), 30))
    assert hello["type"] == "hello"
    return ws


def _half_handshake(port: int) -> None:
    """A phone that loses the network in the middle of the upgrade request."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET /ws/ HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n")


async def test_clients_leaving_in_every_way_and_a_stop_log_no_traceback(hq, django_db_blocker):
    people = [hq.mayor, hq.ward_head, hq.bureau_head, hq.observer, hq.outsider]
    cookies = [(await session_cookie(p)).decode() for p in people]
    with serve_test_database(django_db_blocker) as served:
        ws_url = served.replace("http://", "ws://") + "/ws/"
        port = int(served.rsplit(":", 1)[1])

        async def open_all() -> list:
            return await asyncio.gather(
                *(_open(ws_url, served, c) for c in cookies for _ in range(SOCKETS_EACH))
            )

        # 1. a close frame, as a page that is closed
        polite = await open_all()
        await asyncio.gather(*(ws.close() for ws in polite))
        # 2. gone without a close frame (the network dropped)
        dropped = await open_all()
        for ws in dropped:
            ws.transport.abort()
        # 3. gone right after asking to catch up: the answer meets a closed socket
        hasty = await open_all()
        for ws in hasty:
            await ws.send(json.dumps({"type": "sync", "group": hq.group.pk, "after_seq": 0}))
            await ws.send(json.dumps({"type": "ping", "ref": 1}))
            ws.transport.abort()
        # 4. gone in the middle of the upgrade request
        await asyncio.gather(*(asyncio.to_thread(_half_handshake, port) for _ in range(20)))
        # 5. a broadcast to the group reaching sockets that are leaving at that moment
        from messaging import services

        leaving = await open_all()
        send = sync_to_async(services.message_send)
        for n in range(3):
            await send(group=hq.group, sender=hq.mayor, body=f"退避 {n}", client_id=uuid.uuid4())
        for ws in leaving:
            ws.transport.abort()
        # 6. the server stops with sockets open (a deploy): they are told 1012
        still_open = await open_all()
        await asyncio.sleep(1.0)
        server = psutil.Process(served.pid)
        server.send_signal(signal.SIGTERM)
        await asyncio.to_thread(server.wait, 20)  # graceful: 5 s at most (config/server.py)
        for ws in still_open:
            ws.transport.abort()
        log = served.log.read_text(errors="replace")
    assert "Traceback" not in log, log[log.find("Traceback") - 500 :][:4000]
    assert "ERROR" not in log, log


async def test_a_channel_clean_up_cancelled_by_the_server_is_one_warning_line(caplog):
    """What Daphne does to a socket's application that takes too long to finish (and uvicorn
    after its graceful timeout): the receive is cancelled, and cancelled again while
    channels_redis waits to unsubscribe. One WARNING, no traceback (config/logfilters.py)."""
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    name = await layer.new_channel()
    shard = layer._get_layer()._get_shard(name)  # channels_redis's own, to hold its lock
    await shard._lock.acquire()
    try:
        receiving = asyncio.ensure_future(layer.receive(name))
        await asyncio.sleep(0.05)
        receiving.cancel()  # the socket went: clean-up starts and waits for the lock
        await asyncio.sleep(0.05)
        receiving.cancel()  # the server kills the application meanwhile
        with pytest.raises(asyncio.CancelledError):
            await receiving
    finally:
        shard._lock.release()
    records = [r for r in caplog.records if r.name == "channels_redis.pubsub"]
    assert [(r.levelname, r.getMessage(), r.exc_info) for r in records] == [
        ("WARNING", "a leaving socket's channel clean-up was cancelled by the server", None)
    ]
    assert "Traceback" not in caplog.text
