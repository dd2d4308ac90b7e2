"""Baseline for bench/ack_burst.py: a bare ``websockets`` server, no Django, no database.

``python bench/_ack_baseline.py PORT``. Every connection gets a ``hello`` frame. A ``send``
frame is answered with ``sent`` and relayed as ``message.new`` to every connection. An ``ack``
frame is recorded once per (connection, message) in memory, with its time, answered with
``ack_ok``, and the count reaches the sender's connection as a ``receipt.counts`` frame,
coalesced to one frame per event-loop turn. Stops on SIGTERM.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time

from websockets.asyncio.server import ServerConnection, broadcast, serve

CONNECTIONS: set[ServerConnection] = set()
SEQ = 0
ACKS: dict[int, dict[int, float]] = {}  # message id -> connection id -> time of the 了解
SENDERS: dict[int, ServerConnection] = {}
DIRTY: set[int] = set()


def _flush() -> None:
    for message in sorted(DIRTY):
        sender = SENDERS.get(message)
        acked = len(ACKS[message])
        frame = {"message": message, "total": len(CONNECTIONS) - 1, "read": acked}
        if sender is not None:
            broadcast(
                [sender],
                json.dumps({"type": "receipt.counts", "counts": [{**frame, "acked": acked}]}),
            )
    DIRTY.clear()


async def handler(ws: ServerConnection) -> None:
    global SEQ
    CONNECTIONS.add(ws)
    try:
        await ws.send(json.dumps({"type": "hello", "groups": [1]}))
        async for raw in ws:
            frame = json.loads(raw)
            kind = frame.get("type")
            if kind == "send":
                SEQ += 1
                ACKS[SEQ], SENDERS[SEQ] = {}, ws
                message = {
                    "id": SEQ,
                    "group": frame.get("group"),
                    "seq": SEQ,
                    "client_id": frame.get("client_id"),
                    "kind": frame.get("kind"),
                    "requires_ack": True,
                    "html": frame.get("body", ""),
                }
                await ws.send(json.dumps({"type": "sent", "client_id": message["client_id"]}))
                broadcast(CONNECTIONS, json.dumps({"type": "message.new", "message": message}))
            elif kind == "ack":
                message = frame.get("message")
                if message in ACKS:
                    ACKS[message].setdefault(id(ws), time.time())
                    if not DIRTY:
                        asyncio.get_running_loop().call_soon(_flush)
                    DIRTY.add(message)
                    await ws.send(
                        json.dumps({"type": "ack_ok", "ref": frame.get("ref"), "message": message})
                    )
    finally:
        CONNECTIONS.discard(ws)


async def main(port: int) -> None:
    stop = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set_result, None)
    async with serve(
        handler,
        "127.0.0.1",
        port,
        compression=None,
        ping_interval=None,
        max_queue=None,
        backlog=4096,
    ):
        print("ready", flush=True)
        await stop


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
