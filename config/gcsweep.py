"""A full garbage collection after many websockets have ended (issue 13, bench/soak.py).

Why: a websocket that ends leaves its objects in reference cycles (the consumer and its send
queue, which holds the consumer's bound methods; uvicorn's protocol and its transport; tasks and
their futures): about 80 objects and 22 KB per socket that only the cycle collector frees. They
were created when the socket connected and have long since been promoted to the oldest
generation, so only a *full* collection finds them. config/asgi.py raises the young
generation's threshold to 20,000 (issue 14: the collector's cost in a 了解 burst), which makes a
full collection come after some four million net allocations — in a server that holds its
sockets and allocates little net, in practice never. So every reconnect storm added the memory
of all its sockets to the process for good: the soak measured +50 MB per storm of 2,000 sockets
(RealtimeConsumer objects alive: 2,001 → 4,001 → 5,147 …; one gc.collect() found 250,000
unreachable objects and brought them back to 2,001), docs/reliability.md "Soak".

What: the websocket stack is wrapped (config/asgi.py) and each socket that ends is counted. Once
``SWEEP_AFTER`` have ended, one full collection runs when sockets have stopped ending for
``QUIET`` seconds (a reconnect storm is over: one sweep for the whole storm), at the latest
``MAX_WAIT`` seconds after (constant churn), and never within ``MIN_INTERVAL`` of the last one.
A full collection scans everything not frozen (gc.freeze() in config/asgi.py): at 2,000 sockets
some 0.5 M objects, a few hundred milliseconds of CPU during which the event loop waits — hence
once per storm, not per few hundred sockets. What a storm's dead sockets held is then free for
the next storm's new ones: the high-water stays at about two storms' worth of sockets (old and
new at once), the level the first storm reaches, instead of growing by one storm's worth each
time. Garbage held at any time is bounded by ``SWEEP_AFTER`` sockets' worth (~5 MB) or what ends
within ``MAX_WAIT``.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from typing import Any

log = logging.getLogger(__name__)

SWEEP_AFTER = 200  # ended sockets (refused handshakes included) before a sweep is due
QUIET = 2.0  # seconds without a socket ending: the storm is over
MAX_WAIT = 60.0  # seconds from due to the sweep at the latest
MIN_INTERVAL = 30.0  # seconds between two sweeps


class GarbageSweep:
    def __init__(
        self,
        after: int = SWEEP_AFTER,
        quiet: float = QUIET,
        max_wait: float = MAX_WAIT,
        min_interval: float = MIN_INTERVAL,
    ) -> None:
        self.after = after
        self.quiet = quiet
        self.max_wait = max_wait
        self.min_interval = min_interval
        self.pending = 0  # sockets ended since the last sweep
        self.ended = 0  # in all
        self.sweeps = 0
        self.freed = 0  # unreachable objects found, in all
        self._last_end = 0.0
        self._due = 0.0  # when pending reached ``after``
        self._last_sweep = float("-inf")
        self._handle: asyncio.Handle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def socket_ended(self) -> None:
        self.pending += 1
        self.ended += 1
        self._last_end = time.monotonic()
        if self.pending < self.after:
            return
        loop = asyncio.get_running_loop()
        if self._handle is not None and self._loop is loop:
            return  # already waiting for quiet
        self._due = self._last_end
        # Never from here: the socket that has just ended is still on the stack.
        self._loop, self._handle = loop, loop.call_soon(self._check)

    def _check(self) -> None:
        now = time.monotonic()
        at = max(
            min(self._last_end + self.quiet, self._due + self.max_wait),
            self._last_sweep + self.min_interval,
        )
        if now < at:
            self._handle = self._loop.call_later(at - now, self._check)
        else:
            self.sweep()

    def sweep(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._handle = None
        sockets, self.pending = self.pending, 0
        started, cpu = time.monotonic(), time.process_time()
        found = gc.collect()
        self._last_sweep = time.monotonic()
        self.sweeps += 1
        self.freed += found
        log.info(
            "gc sweep after %d ended websockets: %d unreachable objects freed in %.0f ms "
            "(CPU %.0f ms)",
            sockets,
            found,
            (self._last_sweep - started) * 1000,
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
