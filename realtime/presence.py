"""Who has a live Honbu page open right now (at least one websocket), across server processes.

Each server process counts its sockets per person and mirrors the set of people present in a
Redis set of its own that expires unless the process refreshes it; a sorted set indexes the
live process sets by heartbeat. A process that dies stops refreshing and its people drop out
within ``TTL`` seconds. Redis holds nothing that cannot be lost: at worst a push goes to someone
who had a page open, or does not go to someone who closed theirs a moment ago (the reminder
chase still reaches them). Used to send a push at once only to people the page cannot alert.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
import weakref
from collections import Counter
from collections.abc import Iterable

import redis
import redis.asyncio as aredis
from django.conf import settings

log = logging.getLogger(__name__)

TTL = 60  # seconds a process's set lives without a heartbeat
HEARTBEAT = 20


def _url() -> str:
    return settings.CACHES["default"]["LOCATION"]


def _index() -> str:
    return f"{settings.CACHES['default'].get('KEY_PREFIX', 'honbu')}:presence"


class Presence:
    """One per event loop (one per server process; one per test).

    Writes are grouped: the people who arrived or left while one write was on its way go in the
    next, one pipeline for all of them, and each ``arrive``/``leave`` returns once its own
    change is in Redis. A reconnect storm of 2,000 sockets is a handful of writes, not 2,000
    (which also ran out of the client's 100 connections: "Too many connections")."""

    def __init__(self) -> None:
        self.counts: Counter[int] = Counter()
        self.key = f"{_index()}:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.redis = aredis.from_url(_url())
        self.heartbeat: asyncio.Task | None = None
        self.changed: set[int] = set()  # people whose presence the next write sets
        self.next_write: asyncio.Future | None = None
        self.writing = False
        self.writer: asyncio.Task | None = None

    async def arrive(self, user_id: int) -> None:
        self.counts[user_id] += 1
        if self.heartbeat is None or self.heartbeat.done():
            self.heartbeat = asyncio.ensure_future(self._beat())
        if self.counts[user_id] == 1:
            await self._changed(user_id)

    async def leave(self, user_id: int) -> None:
        self.counts[user_id] -= 1
        if self.counts[user_id] <= 0:
            del self.counts[user_id]
            await self._changed(user_id)

    async def _changed(self, user_id: int) -> None:
        self.changed.add(user_id)
        if self.next_write is None:
            self.next_write = asyncio.get_running_loop().create_future()
            if not self.writing:
                self.writer = asyncio.ensure_future(self._write_changes())
        await asyncio.shield(self.next_write)

    async def _write_changes(self) -> None:
        self.writing = True
        try:
            while self.next_write is not None:
                done, self.next_write = self.next_write, None
                changed, self.changed = self.changed, set()
                add = [u for u in changed if self.counts.get(u, 0) > 0]
                remove = [u for u in changed if self.counts.get(u, 0) <= 0]
                try:
                    await self._write(add=add, remove=remove)
                finally:
                    done.set_result(None)
        finally:
            self.writing = False

    async def _write(self, *, add: Iterable[int] = (), remove: Iterable[int] = ()) -> None:
        try:
            pipe = self.redis.pipeline(transaction=False)
            if add:
                pipe.sadd(self.key, *add)
            if remove:
                pipe.srem(self.key, *remove)
            pipe.expire(self.key, TTL)
            pipe.zadd(_index(), {self.key: time.time()})
            await pipe.execute()
        except (redis.RedisError, OSError) as exc:  # presence is a hint; a socket must not fail
            log.warning("presence not written: %s", exc)

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT)
            if self.counts:
                await self._write(add=list(self.counts))


_presences: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def local_presence() -> Presence:
    loop = asyncio.get_running_loop()
    found = _presences.get(loop)
    if found is None:
        found = _presences[loop] = Presence()
    return found


def online(user_ids: Iterable[int]) -> set[int]:
    """Which of these people have a live page open on any server process (sync: tasks)."""
    wanted = {int(u) for u in user_ids}
    if not wanted:
        return set()
    try:
        client = redis.from_url(_url())
        now = time.time()
        keys = client.zrangebyscore(_index(), now - TTL, "+inf")
        if not keys:
            return set()
        present = {int(v) for v in client.sunion(keys)}
        client.zremrangebyscore(_index(), 0, now - TTL)  # forget dead processes' entries
    except (redis.RedisError, OSError) as exc:
        log.warning("presence not read: %s", exc)
        return set()
    return wanted & present
