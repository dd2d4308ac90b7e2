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
    return rate_allow_all([(key, limit, seconds)])


def rate_allow_all(limits: list[tuple[str, int, int]]) -> bool:
    """Count one event under each (key, limit, seconds) in ONE round trip to Redis; True if
    none is over its limit. Each window starts with its first event: SET … 0 EX … NX (a
    counter with its time-to-live, only if there is none), then INCR (which keeps the
    time-to-live), in one MULTI/EXEC; any Redis since 2.6.12 (EXPIRE … NX would need 7, and
    the embedded Redis of `make run` and `make test` is older). Every key is counted even when
    another is over (an answer refused for its link still counts against its address). Fails
    open, as ``rate_allow``; another cache backend gets the add/incr of the cache API, key by
    key."""
    try:
        client = _redis_client()
        if client is None:
            return all([_allow_by_cache_api(k, n, s) for k, n, s in limits])
        pipe = client.pipeline(transaction=True)
        for key, _limit, seconds in limits:
            bucket = cache.make_and_validate_key(f"rl:{key}")
            pipe.set(bucket, 0, ex=seconds, nx=True)
            pipe.incr(bucket)
        counts = pipe.execute()[1::2]
        return all(count <= limit for count, (_k, limit, _s) in zip(counts, limits, strict=True))
    except Exception as exc:  # noqa: BLE001 - any cache failure: let the answer through
        log.warning("rate limit unavailable (%s): allowing", exc)
        return True


def _redis_client():
    """The cache's own Redis client (its connection pool, its server), or None when the cache
    is not Django's Redis backend."""
    inner = getattr(cache, "_cache", None)
    get_client = getattr(inner, "get_client", None)
    return get_client(write=True) if get_client else None


def _allow_by_cache_api(key: str, limit: int, seconds: int) -> bool:
    bucket = f"rl:{key}"
    if cache.add(bucket, 1, timeout=seconds):
        return True
    try:
        return cache.incr(bucket) <= limit
    except ValueError:  # expired between add and incr
        cache.add(bucket, 1, timeout=seconds)
        return True
