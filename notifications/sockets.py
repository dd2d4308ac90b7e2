"""Notifications on the one websocket: in-app notifications reach a page live (the ``reminder``
event, services.py), and a page that was away — its socket dropped, its server restarted, Redis
restarted and the event was lost — asks for what it missed when it reconnects:

    {"type": "notifications.sync", "after": <the last notification id it knows, or null>}
    → {"type": "notifications", "last": <id>, "items": [{"notification", "kind", "message"}]}

With ``after`` null (the page's first connect) only ``last`` comes back: the page starts from
there. Thin: the selector reads only the person's own in-app notifications."""

from __future__ import annotations

from typing import Any

from realtime.consumers import RealtimeConsumer as Socket
from realtime.db import database_sync_to_async
from realtime.frames import int_field

from . import selectors


async def on_sync(socket: Socket, frame: dict, ref: Any) -> None:
    after = int_field(frame, "after", required=False)
    missed = await database_sync_to_async(selectors.inapp_missed)(user=socket.user, after=after)
    await socket.send_json({"type": "notifications", "ref": ref, **missed})


FRAMES = {"notifications.sync": on_sync}
