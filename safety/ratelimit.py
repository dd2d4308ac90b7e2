"""A small fixed-window rate limit in the shared cache (Redis): answer links are public, so
each link and each client address may post only so often."""

from __future__ import annotations

from django.core.cache import cache


def rate_allow(*, key: str, limit: int, seconds: int) -> bool:
    """Count one event under ``key``; False once more than ``limit`` happened in the window."""
    bucket = f"rl:{key}"
    if cache.add(bucket, 1, timeout=seconds):
        return True
    try:
        return cache.incr(bucket) <= limit
    except ValueError:  # expired between add and incr
        cache.add(bucket, 1, timeout=seconds)
        return True
