"""Database work from a consumer or a relay."""

from __future__ import annotations

from channels.db import database_sync_to_async as _database_sync_to_async


def database_sync_to_async(fn):
    """On the thread pool, not the single "thread-sensitive" thread: otherwise every socket of a
    server process waits in one queue (2,000 phones reading at once). Like channels' own
    version, it closes stale connections around each call."""
    return _database_sync_to_async(fn, thread_sensitive=False)
