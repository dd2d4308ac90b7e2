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

The biggest cycle, the consumer and its send queue, is broken when a socket ends
(realtime/sendqueue.py: ``stop``), so the consumer, its state and its scope are freed at once;
what is left is smaller (uvicorn's HTTP protocol object of the upgrade and its parser, asyncio's
and channels' leftovers: ~50 objects a socket, tests/realtime/test_freed.py) but still waits
for a full collection.

What: the websocket stack is wrapped (config/asgi.py) and each socket that starts or ends is
seen. After ``SWEEP_AFTER`` have ended, one full collection is due; it runs once the process has
been quiet for ``QUIET`` seconds (no socket started or ended: the storm is over), at most once per
``MIN_INTERVAL``, and under constant churn at the latest ``MAX_DELAY`` after it became due. A
sweep while a storm is on stalls the event loop when the phones most need it (issue 14: 2,000
caught up within 5 s); the first version swept two to four times per storm, before the
consumer's cycle was broken and the dead sockets' consumers had to go before the new ones came.

Cost: a full collection scans everything not frozen (gc.freeze() in config/asgi.py): at 2,000
sockets some 0.5 M objects, 0.3–0.8 s of CPU on this shared machine, during which the event loop
waits. One per storm, after it; none while no socket ends.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import functools
import gc
import logging
import time
from typing import Any

log = logging.getLogger(__name__)

SWEEP_AFTER = 200  # ended sockets (refused handshakes included) before a sweep is due
QUIET = 3.0  # seconds without a socket starting or ending before a due sweep runs
MAX_DELAY = 60.0  # a due sweep runs at the latest this long after it became due
MIN_INTERVAL = 5.0  # seconds between two sweeps


class GarbageSweep:
    def __init__(
        self,
        after: int = SWEEP_AFTER,
        min_interval: float = MIN_INTERVAL,
        quiet: float = QUIET,
        max_delay: float = MAX_DELAY,
    ) -> None:
        self.after = after
        self.min_interval = min_interval
        self.quiet = quiet
        self.max_delay = max_delay
        self._due_since: float | None = None
        self.pending = 0  # sockets ended since the last sweep
        self.ended = 0  # in all
        self.sweeps = 0
        self.freed = 0  # unreachable objects found, in all
        self.trims = 0  # sweeps after which the C heap gave memory back
        self._last = float("-inf")
        self._handle: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def socket_started(self) -> None:
        if self._due_since is not None:
            self._schedule()  # not while a storm is on

    def socket_ended(self) -> None:
        self.pending += 1
        self.ended += 1
        if self.pending < self.after:
            return
        if self._due_since is None:
            self._due_since = time.monotonic()
        self._schedule()

    def _schedule(self) -> None:
        """(Re)arm the sweep for when the process is quiet. Always through the loop, even when
        due now: the socket that has just ended is still on the stack."""
        loop = asyncio.get_running_loop()
        now = time.monotonic()
        at = max(now + self.quiet, self._last + self.min_interval)
        at = min(at, max(self._due_since + self.max_delay, self._last + self.min_interval))
        if self._handle is not None:
            if self._loop is loop and abs(self._handle.when() - (loop.time() + at - now)) < 0.25:
                return  # armed for about then already
            self._handle.cancel()
        self._loop, self._handle = loop, loop.call_at(loop.time() + max(0.0, at - now), self.sweep)

    def sweep(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._handle, self._due_since = None, None
        sockets, self.pending = self.pending, 0
        started, cpu = time.monotonic(), time.process_time()
        found = gc.collect()
        trimmed = malloc_trim()
        self._last = time.monotonic()
        self.sweeps += 1
        self.freed += found
        self.trims += trimmed
        log.info(
            "gc sweep after %d ended websockets: %d unreachable objects freed in %.0f ms "
            "(CPU %.0f ms)%s",
            sockets,
            found,
            (self._last - started) * 1000,
            (time.process_time() - cpu) * 1000,
            ", freed memory given back to the system" if trimmed else "",
        )


@functools.cache
def _libc() -> Any:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


def malloc_trim() -> int:
    """Give the C heap's free memory back to the system (glibc's ``malloc_trim(0)``; 0 and
    nothing done elsewhere). A storm's sockets, freed, leave the heap at its high-water mark;
    the next storm would reuse it, but until then the process's resident memory says it still
    holds them (bench/soak.py measures exactly that). Returns 1 if memory was released."""
    libc = _libc()
    return int(libc.malloc_trim(0)) if libc is not None else 0


class SweepAfterSockets:
    """ASGI middleware: tells the sweep when a websocket of ``app`` starts and ends (however it
    ends)."""

    def __init__(self, app: Any, sweep: GarbageSweep) -> None:
        self.app = app
        self.sweep = sweep

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        self.sweep.socket_started()
        try:
            await self.app(scope, receive, send)
        finally:
            self.sweep.socket_ended()
