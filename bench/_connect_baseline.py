"""Baseline for bench/connect_storm.py: a bare ``websockets`` server, no Django, no database,
no Redis. ``python bench/_connect_baseline.py PORT MESSAGES``.

Every connection gets a ``hello`` frame like Honbu's; a ``sync`` frame is answered with a
``history`` frame holding the last ``MESSAGES`` messages after the asked sequence number, of
the same shape and about the same size as Honbu's (built once at start); ``ping`` gets ``pong``.
What a page does on (re)connect, at the cost of the websocket protocol alone. Stops on SIGTERM.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from datetime import UTC, datetime

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

GROUP = 1
BODY = (
    "【指示】各区本部は避難所の開設状況を 15 分以内に報告してください。"
    "https://example.jp/bousai/hinanjo を参照。"
)


def _message(seq: int) -> dict:
    return {
        "id": seq,
        "group": GROUP,
        "seq": seq,
        "client_id": f"3f0c1a52-6a0e-4d1b-9a8e-0c6f5b2e{seq:04d}",
        "sender_id": 1,
        "sender_name": "本部 長",
        "sender_post": "本部長",
        "kind": "instruction",
        "priority": "urgent",
        "exercise": False,
        "requires_ack": True,
        "html": BODY,
        "text": BODY,
        "created_at": datetime.now(UTC).isoformat(),
        "edited": False,
        "deleted": False,
        "recipient_count": 1999,
        "reply_to": None,
        "attachments": [],
    }


def main(port: int, messages: int) -> None:
    rows = [_message(seq) for seq in range(1, messages + 1)]

    async def handler(ws: ServerConnection) -> None:
        await ws.send(json.dumps({"type": "hello", "groups": [GROUP, GROUP + 1]}))
        try:
            async for raw in ws:
                await answer(ws, raw)
        except ConnectionClosed:  # a client leaving without a close frame is normal
            pass

    async def answer(ws: ServerConnection, raw: str) -> None:
        frame = json.loads(raw)
        kind = frame.get("type")
        if kind == "sync":
            after = int(frame.get("after_seq", 0))
            history = {
                "type": "history",
                "ref": frame.get("ref"),
                "group": frame.get("group"),
                "messages": [m for m in rows if m["seq"] > after],
                "last_seq": messages,
                "more": False,
            }
            await ws.send(json.dumps(history, ensure_ascii=False))
        elif kind == "ping":
            await ws.send(json.dumps({"type": "pong", "ref": frame.get("ref")}))

    async def serve_forever() -> None:
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
            open_timeout=None,  # like uvicorn: a handshake queued behind 2,000 others is not cut
        ):
            print("ready", flush=True)
            await stop

    import uvloop  # the loop Honbu's server runs on (config/server.py): compare the apps

    uvloop.run(serve_forever())


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
