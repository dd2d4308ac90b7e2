"""After Redis comes back, this server process's sockets start over.

The channel layer is Redis pub/sub: while Redis is away (restarted, failed over, a network cut)
every event published is lost, and the layer's subscriptions come back by themselves without a
word to anyone. A page that stays connected then misses what was sent meanwhile until some
later message shows it a gap — and if nothing follows, it never learns (the last instruction of
a burst, a reminder). So each server process pings Redis once a second while it holds sockets;
when a ping succeeds after one failed, it closes its sockets with 1012 (service restart). The
pages reconnect as they do after any drop (backoff and jitter) and catch up from the database:
messages by sequence number, receipts counts, chases and in-app notifications
(docs/reliability.md, the Redis drill)."""

from __future__ import annotations

import asyncio
import logging
import weakref

import redis
import redis.asyncio as aredis
from django.conf import settings
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

log = logging.getLogger(__name__)

INTERVAL = 1.0  # seconds between pings
TIMEOUT = 2.0
CLOSE_CODE = 1012  # "service restart": the page reconnects and catches up


class LayerWatch:
    """One per event loop (one per server process)."""

    def __init__(self) -> None:
        self.sockets: weakref.WeakSet = weakref.WeakSet()
        self.task: asyncio.Task | None = None
        # No retries: a ping that fails must say so, or a short outage hidden by the client's
        # own reconnect-and-retry would leave the pages deaf to what it lost.
        self.redis = aredis.from_url(
            settings.REDIS_URL,
            socket_timeout=TIMEOUT,
            socket_connect_timeout=TIMEOUT,
            retry=Retry(NoBackoff(), 0),
        )
        self.restarts = 0

    def add(self, consumer) -> None:
        self.sockets.add(consumer)
        if self.task is None or self.task.done():
            self.task = asyncio.ensure_future(self._run())

    def discard(self, consumer) -> None:
        self.sockets.discard(consumer)

    async def _ok(self) -> bool:
        try:
            return bool(await self.redis.ping())
        except (redis.RedisError, OSError):
            return False

    async def _run(self) -> None:
        lost = False
        while self.sockets:
            ok = await self._ok()
            if not ok and not lost:
                lost = True
                log.warning("Redis is away: live events are being lost")
            elif ok and lost:
                lost = False
                await self.restart_sockets()
            await asyncio.sleep(INTERVAL)

    async def restart_sockets(self) -> None:
        sockets = list(self.sockets)
        self.restarts += 1
        log.warning("Redis is back: closing %d sockets so their pages catch up", len(sockets))
        for consumer in sockets:
            try:
                await consumer.close(code=CLOSE_CODE)
            except Exception:  # noqa: BLE001 - a socket already gone
                log.debug("close failed", exc_info=True)


_watches: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def local_watch() -> LayerWatch:
    loop = asyncio.get_running_loop()
    found = _watches.get(loop)
    if found is None:
        found = _watches[loop] = LayerWatch()
    return found
