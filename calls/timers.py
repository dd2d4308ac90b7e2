"""Timers of calls in this server process: the ring deadline of a call started here and the
grace of a page whose socket dropped mid-call. Each runs one idempotent service when due; the
beat sweep (services.calls_sweep) does the same for timers whose process has gone."""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable
from typing import Any

from realtime.db import database_sync_to_async

log = logging.getLogger(__name__)

_timers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # event loop -> {key: task}


def _table() -> dict[str, asyncio.Task]:
    loop = asyncio.get_running_loop()
    table = _timers.get(loop)
    if table is None:
        table = _timers[loop] = {}
    return table


def later(key: str, delay: float, fn: Callable[..., Any], **kwargs: Any) -> None:
    """Run ``fn(**kwargs)`` on the thread pool in ``delay`` seconds (replacing a timer of the
    same key)."""
    cancel(key)
    table = _table()
    table[key] = asyncio.ensure_future(_run(table, key, max(0.0, delay), fn, kwargs))


def cancel(key: str) -> None:
    task = _table().pop(key, None)
    if task is not None:
        task.cancel()


def pending() -> list[str]:
    return sorted(_table())


async def _run(table: dict, key: str, delay: float, fn: Callable[..., Any], kwargs: dict) -> None:
    try:
        await asyncio.sleep(delay)
        await database_sync_to_async(fn)(**kwargs)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("call timer %s failed", key)
    finally:
        if table.get(key) is asyncio.current_task():
            del table[key]
