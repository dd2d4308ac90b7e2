"""The answer links' rate limits: both (per link, per address) counted in one round trip to
Redis, each window starting with its first event and ending on its own."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from safety.ratelimit import rate_allow, rate_allow_all


@pytest.fixture(autouse=True)
def _clean():
    cache.clear()
    yield
    cache.clear()


def test_both_limits_count_and_either_refuses():
    limits = [("link:1", 3, 600), ("addr:10.0.0.1", 5, 60)]

    allowed = [rate_allow_all(limits) for _ in range(4)]
    # The link is over after 3; the address (5 a minute) still counts each attempt.
    assert allowed == [True, True, True, False]
    assert rate_allow_all([("link:2", 3, 600), ("addr:10.0.0.1", 5, 60)]) is True  # 5th
    assert rate_allow_all([("link:3", 3, 600), ("addr:10.0.0.1", 5, 60)]) is False  # 6th


def test_each_window_has_its_own_time_to_live():
    rate_allow_all([("link:9", 3, 600), ("addr:10.0.0.9", 5, 60)])
    rate_allow_all([("link:9", 3, 600), ("addr:10.0.0.9", 5, 60)])
    client = cache._cache.get_client(write=True)  # noqa: SLF001 - the Redis behind the cache

    link_ttl = client.ttl(cache.make_and_validate_key("rl:link:9"))
    addr_ttl = client.ttl(cache.make_and_validate_key("rl:addr:10.0.0.9"))
    # Set by the first event, not pushed back by the second; never a key without expiry.
    assert 590 <= link_ttl <= 600 and 50 <= addr_ttl <= 60
    assert cache.get("rl:link:9") == 2  # readable through the cache API as before


def test_a_window_ends_and_counting_starts_again():
    assert [rate_allow(key="link:7", limit=1, seconds=1) for _ in range(2)] == [True, False]
    client = cache._cache.get_client(write=True)  # noqa: SLF001
    client.delete(cache.make_and_validate_key("rl:link:7"))  # what the expiry does

    assert rate_allow(key="link:7", limit=1, seconds=1) is True
