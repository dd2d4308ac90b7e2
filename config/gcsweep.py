"""A full garbage collection after many websockets have ended (issue 13, bench/soak.py).

Why: a websocket that ends leaves its objects in reference cycles (for one, the consumer and its
send queue, which holds the consumer's bound method and a closure over it; others in channels,
uvicorn and asyncio): about 80 objects and 22 KB per socket that only the cycle collector frees.
They were created when the socket connected and have long since been promoted to the oldest
generation, so only a *full* collection finds them. config/asgi.py raises the young generation's
threshold to 20,000 (issue 14: the collector's cost in a 了解 burst), which makes a full collection
come after some four million net allocations — in a server that holds its sockets and allocates
little net, rarely and at no predictable time. So a reconnect storm added the memory of all its
sockets to the process until such a collection came, if ever: the soak measured +50 MB per storm of
2,000 sockets (RealtimeConsumer objects alive: 2,001 → 4,001 → 5,147 …; one gc.collect() found
250,000 unreachable objects and brought them back to 2,001), docs/reliability.md "Soak".

What: the websocket stack is wrapped (config/asgi.py) and each socket that ends is counted; after
``SWEEP_AFTER`` of them one full collection runs, at most once per ``MIN_INTERVAL``. In a storm
that is a sweep as it begins and one or two while it goes on, so the dead sockets' memory is
reused by the reconnecting ones (flat RSS over storms, docs/reliability.md). Sweeping only once
a storm was over (one sweep per storm) was tried: the dead and the new sockets were then alive
at once in every storm and RSS still rose by 28 MB and 6 MB in the next two. Garbage held at any
time is bounded by ``SWEEP_AFTER`` sockets' worth (~5 MB) plus what ends within ``MIN_INTERVAL``.

Cost: a full collection scans everything not frozen (gc.freeze() in config/asgi.py): at 2,000
sockets some 0.5 M objects, 0.5–0.8 s of CPU on this shared machine, during which the event loop
waits. Two to four per 2,000-socket storm; none while no socket ends; under constant churn at
most one per ``MIN_INTERVAL``.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from typing import Any

log = logging.getLogger(__name__)

SWEEP_AFTER = 200  # ended sockets (refused handshakes included) before a sweep is due
MIN_INTERVAL = 5.0  # seconds between two sweeps


class GarbageSweep:
    def __init__(self, after: int = SWEEP_AFTER, min_interval: float = MIN_INTERVAL) -> None:
        self.after = after
        self.min_interval = min_interval
        self.pending = 0  # sockets ended since the last sweep
        self.ended = 0  # in all
        self.sweeps = 0
        self.freed = 0  # unreachable objects found, in all
        self._last = float("-inf")
        self._handle: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def socket_ended(self) -> None:
        self.pending += 1
        self.ended += 1
        if self.pending < self.after:
            return
        loop = asyncio.get_running_loop()
        if self._handle is not None and self._loop is loop:
            return  # already due
        # Always through the loop, even when due now: the socket that has just ended is still
        # on the stack.
        wait = max(0.0, self._last + self.min_interval - time.monotonic())
        self._loop, self._handle = loop, loop.call_later(wait, self.sweep)

    def sweep(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._handle = None
        sockets, self.pending = self.pending, 0
        started, cpu = time.monotonic(), time.process_time()
        found = gc.collect()
        self._last = time.monotonic()
        self.sweeps += 1
        self.freed += found
        log.info(
            "gc sweep after %d ended websockets: %d unreachable objects freed in %.0f ms "
            "(CPU %.0f ms)",
            sockets,
            found,
            (self._last - started) * 1000,
            (time.process_time() - cpu) * 1000,
        )


class SweepAfterSockets:
    """ASGI middleware: counts the websockets of ``app`` that end (however they end)."""

    def __init__(self, app: Any, sweep: GarbageSweep) -> None:
        self.app = app
        self.sweep = sweep

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self.sweep.socket_ended()
