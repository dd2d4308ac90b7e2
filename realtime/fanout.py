"""Per-process relay for the big broadcast groups (relayed channel kinds, e.g. messaging's
``honbu.grp.<id>``: every member's socket).

With a plain channel-layer group, each socket of a server process has its own channel, so a
message to a 2,000-member group is queued 1,000 times per process and each socket's consumer
task wakes, dispatches and forwards it on its own. Here a process joins each group once (one
relay channel per group) and writes a broadcast's pre-serialised text to its sockets in one
loop: the same frames, a fraction of the work (bench/fanout.py). Events without text (e.g.
``membership.changed``, which reads the database) are dispatched to each consumer as before,
as separate tasks so one socket's query never holds up the others."""

from __future__ import annotations

import asyncio
import logging
import weakref
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)


@dataclass(eq=False)
class _Relay:
    name: str
    channel: str = ""
    task: asyncio.Task | None = None
    sockets: set = field(default_factory=set)


class LocalFanout:
    def __init__(self, layer) -> None:
        self.layer = layer
        self.relays: dict[str, _Relay] = {}
        self.lock = asyncio.Lock()
        self.tasks: set[asyncio.Task] = set()

    async def join(self, name: str, consumer) -> None:
        async with self.lock:
            relay = self.relays.get(name)
            if relay is None:
                relay = _Relay(name, channel=await self.layer.new_channel("relay."))
                await self.layer.group_add(name, relay.channel)
                relay.task = asyncio.ensure_future(self._run(relay))
                self.relays[name] = relay
            relay.sockets.add(consumer)

    async def leave(self, name: str, consumer) -> None:
        async with self.lock:
            relay = self.relays.get(name)
            if relay is None:
                return
            relay.sockets.discard(consumer)
            if not relay.sockets:  # the last local member left: stop relaying this group
                del self.relays[name]
                relay.task.cancel()
                await self.layer.group_discard(name, relay.channel)

    async def _run(self, relay: _Relay) -> None:
        while True:
            message = await self.layer.receive(relay.channel)
            text = message.get("text")
            for consumer in list(relay.sockets):
                if text is None:
                    self._spawn(consumer.dispatch(message))
                    continue
                try:
                    await consumer.send(text_data=text)
                except Exception:  # a broken socket gets nothing more from this relay
                    log.warning("relay %s: a send failed", relay.name, exc_info=True)
                    relay.sockets.discard(consumer)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("relayed event failed", exc_info=task.exception())


_fanouts: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def local_fanout(layer) -> LocalFanout:
    """One relay set per event loop (one per server process; one per test)."""
    loop = asyncio.get_running_loop()
    fanout = _fanouts.get(loop)
    if fanout is None or fanout.layer is not layer:
        fanout = _fanouts[loop] = LocalFanout(layer)
    return fanout
