"""A small fixed-window rate limit in the shared cache (Redis): answer links are public, so
each link and each client address may post only so often."""

from __future__ import annotations

import logging

from django.core.cache import cache

log = logging.getLogger(__name__)


def rate_allow(*, key: str, limit: int, seconds: int) -> bool:
    """Count one event under ``key``; False once more than ``limit`` happened in the window.
    Fails open: with Redis away, answers are still taken (the database is the truth, and a
    disaster is when a server restarts)."""
    bucket = f"rl:{key}"
    try:
        if cache.add(bucket, 1, timeout=seconds):
            return True
        try:
            return cache.incr(bucket) <= limit
        except ValueError:  # expired between add and incr
            cache.add(bucket, 1, timeout=seconds)
            return True
    except Exception as exc:  # noqa: BLE001 - any cache failure: let the answer through
        log.warning("rate limit unavailable (%s): allowing", exc)
        return True
