"""Read receipts arrive in storms: 2,000 phones report "read" within a second of an urgent
instruction. Each server process collects them for a moment and writes them together
(services.receipts_mark_read_bulk): one transaction and one count event per group per batch,
instead of one of each per phone. The socket that sent a read still gets its answer after its
batch has committed."""

from __future__ import annotations

import asyncio
import weakref

from channels.db import database_sync_to_async

BATCH_SECONDS = 0.05
BATCH_MAX = 2000


class ReadBatcher:
    """One write at a time per process ("group commit"): reads that arrive while a batch is
    being written wait for the next one, which starts as soon as that write ends. Under load
    batches grow instead of piling up as concurrent writes, which would fill the thread pool
    that the commanders' live counts also need."""

    def __init__(self) -> None:
        self.pending: list[tuple[int, int, int, asyncio.Future]] = []
        self.timer: asyncio.TimerHandle | None = None
        self.writing = False

    async def mark_read(self, *, user_id: int, group_id: int, up_to_seq: int) -> None:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.pending.append((user_id, group_id, up_to_seq, future))
        if not self.writing:
            if len(self.pending) >= BATCH_MAX:
                self._flush()
            elif self.timer is None:
                self.timer = loop.call_later(BATCH_SECONDS, self._flush)
        await future

    def _flush(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.writing or not self.pending:
            return
        batch, self.pending = self.pending[:BATCH_MAX], self.pending[BATCH_MAX:]
        self.writing = True
        asyncio.ensure_future(self._write(batch))

    async def _write(self, batch: list[tuple[int, int, int, asyncio.Future]]) -> None:
        from .services import receipts_mark_read_bulk

        try:
            await database_sync_to_async(receipts_mark_read_bulk, thread_sensitive=False)(
                items=[(u, g, s) for u, g, s, _f in batch]
            )
        except Exception as exc:  # every socket in the batch learns it failed
            for *_rest, future in batch:
                if not future.done():
                    future.set_exception(exc)
        else:
            for *_rest, future in batch:
                if not future.done():
                    future.set_result(None)
        finally:
            self.writing = False
            self._flush()  # what arrived meanwhile goes at once


_batchers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def read_batcher() -> ReadBatcher:
    """One batcher per event loop (one per server process; one per test)."""
    loop = asyncio.get_running_loop()
    batcher = _batchers.get(loop)
    if batcher is None:
        batcher = _batchers[loop] = ReadBatcher()
    return batcher
