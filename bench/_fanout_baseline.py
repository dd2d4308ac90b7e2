"""Baseline for bench/fanout.py: a bare ``websockets`` broadcast server, no Django, no Redis.

``python bench/_fanout_baseline.py PORT``. Every connection gets a ``hello`` frame; a ``send``
frame is answered with ``sent`` and relayed as a ``message.new`` frame of the same shape and
about the same size as Honbu's to every connection (encoded once, ``websockets.broadcast``).
Anything else is ignored. Stops on SIGTERM.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from datetime import UTC, datetime

from websockets.asyncio.server import ServerConnection, broadcast, serve

CONNECTIONS: set[ServerConnection] = set()
SEQ = 0


def _message_new(frame: dict) -> str:
    global SEQ
    SEQ += 1
    body = str(frame.get("body", ""))
    return json.dumps(
        {
            "type": "message.new",
            "group": frame.get("group"),
            "message": {
                "id": SEQ,
                "group": frame.get("group"),
                "seq": SEQ,
                "client_id": frame.get("client_id"),
                "sender_id": 1,
                "sender_name": "本部 長",
                "sender_post": "本部長",
                "kind": frame.get("kind", "message"),
                "priority": frame.get("priority", "normal"),
                "requires_ack": bool(frame.get("requires_ack")),
                "html": body,
                "created_at": datetime.now(UTC).isoformat(),
                "edited": False,
                "deleted": False,
                "recipient_count": len(CONNECTIONS) - 1,
                "reply_to": None,
                "attachments": [],
            },
        },
        ensure_ascii=False,
    )


async def handler(ws: ServerConnection) -> None:
    CONNECTIONS.add(ws)
    try:
        await ws.send(json.dumps({"type": "hello", "groups": [1]}))
        async for raw in ws:
            frame = json.loads(raw)
            if frame.get("type") == "send":
                out = _message_new(frame)
                await ws.send(
                    json.dumps(
                        {"type": "sent", "client_id": frame.get("client_id"), "id": SEQ, "seq": SEQ}
                    )
                )
                broadcast(CONNECTIONS, out)
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
        backlog=1024,
    ):
        print("ready", flush=True)
        await stop


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
