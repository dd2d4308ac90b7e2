"""Group commit for writes that arrive in storms from many sockets of one server process.

2,000 phones report "read" within a second of an urgent instruction. Each server process
collects such items for a moment and hands them to one write function together (messaging's
read receipts: one transaction and one count event per group per batch, instead of one of each
per phone). The socket that sent an item still gets its answer after its batch has committed.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable, Sequence
from typing import Any

from .db import database_sync_to_async

BATCH_SECONDS = 0.05
BATCH_MAX = 2000


class Batcher:
    """One write at a time per process: items that arrive while a batch is being written wait
    for the next one, which starts as soon as that write ends. Under load batches grow instead
    of piling up as concurrent writes, which would fill the thread pool that the commanders'
    live counts also need."""

    def __init__(
        self,
        write: Callable[[Sequence[Any]], Any],
        *,
        seconds: float = BATCH_SECONDS,
        max_items: int = BATCH_MAX,
    ) -> None:
        self.write = write  # a sync function of the items, run on the thread pool
        self.seconds, self.max_items = seconds, max_items
        self.pending: list[tuple[Any, asyncio.Future]] = []
        self.timer: asyncio.TimerHandle | None = None
        self.writing = False

    async def add(self, item: Any) -> Any:
        """Queue ``item``; return when its batch has been written (or raise its error). If the
        write function returns a list (one result per item, in order), the item's result."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.pending.append((item, future))
        if not self.writing:
            if len(self.pending) >= self.max_items:
                self._flush()
            elif self.timer is None:
                self.timer = loop.call_later(self.seconds, self._flush)
        return await future

    def _flush(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.writing or not self.pending:
            return
        batch, self.pending = self.pending[: self.max_items], self.pending[self.max_items :]
        self.writing = True
        asyncio.ensure_future(self._write(batch))

    async def _write(self, batch: list[tuple[Any, asyncio.Future]]) -> None:
        try:
            results = await database_sync_to_async(self.write)([item for item, _f in batch])
        except Exception as exc:  # every socket in the batch learns it failed
            for _item, future in batch:
                if not future.done():
                    future.set_exception(exc)
        else:
            if not isinstance(results, list) or len(results) != len(batch):
                results = [None] * len(batch)
            for (_item, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)
        finally:
            self.writing = False
            self._flush()  # what arrived meanwhile goes at once


_batchers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def batcher(name: str, write: Callable[[Sequence[Any]], Any]) -> Batcher:
    """The process's batcher called ``name``: one per event loop (one per server process; one
    per test)."""
    loop = asyncio.get_running_loop()
    by_name = _batchers.setdefault(loop, {})
    found = by_name.get(name)
    if found is None:
        found = by_name[name] = Batcher(write)
    return found
