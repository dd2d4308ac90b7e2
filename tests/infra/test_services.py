"""The moving parts are real: Redis (embedded or REDIS_URL), the Channels layer on it, and a
Celery worker process consuming from it."""

import asyncio
import os
import subprocess
import sys
import time
import uuid

import pytest
import redis
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.cache import cache

from directory.tasks import healthcheck_task


def test_the_suite_runs_on_the_services_the_environment_names():
    """DATABASE_URL/REDIS_URL set (as in CI) → PostgreSQL and that Redis; unset → embedded."""
    if os.environ.get("CI"):
        assert os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL"), "CI must set both"
    engine = settings.DATABASES["default"]["ENGINE"]
    if os.environ.get("DATABASE_URL", "").startswith("postgres"):
        assert engine == "django.db.backends.postgresql"
    elif not os.environ.get("DATABASE_URL"):
        assert engine == "django.db.backends.sqlite3"
    assert settings.REDIS_EMBEDDED == (not os.environ.get("REDIS_URL"))
    if os.environ.get("REDIS_URL"):
        assert settings.REDIS_URL == os.environ["REDIS_URL"]


def test_the_cache_is_the_configured_redis():
    """What Django's cache writes is in the Redis of the settings (read with a separate raw
    client on the configured URL and database), in the database after REDIS_URL's, and what
    Django deletes is gone from it."""
    assert settings.CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    raw = redis.Redis.from_url(settings.CACHES["default"]["LOCATION"])
    main_db = redis.Redis.from_url(settings.REDIS_URL)  # queue and channel layer; not the cache
    assert raw.connection_pool.connection_kwargs.get("db", 0) == (
        main_db.connection_pool.connection_kwargs.get("db", 0) + 1
    )
    key = f"infra-{uuid.uuid4().hex}"
    stored = cache.make_key(key)  # with the test KEY_PREFIX and version

    cache.set(key, 1995, timeout=60)
    assert raw.get(stored) == b"1995"  # Django's Redis serializer stores integers as text
    assert 0 < raw.ttl(stored) <= 60
    assert main_db.exists(stored) == 0

    raw.set(cache.make_key(f"{key}-raw"), 117)  # written by the raw client, read by Django
    assert cache.get(f"{key}-raw") == 117

    cache.delete(key)
    assert raw.exists(stored) == 0
    assert cache.get(key) is None
    raw.delete(cache.make_key(f"{key}-raw"))


@pytest.mark.asyncio
async def test_channel_layer_round_trip_on_redis():
    """Pub/sub layer on the real Redis: a direct send and a group broadcast both arrive."""
    layer = get_channel_layer()
    assert type(layer).__name__ == "RedisPubSubChannelLayer"
    channel = await layer.new_channel()
    await layer.send(channel, {"type": "test.message", "text": "本部"})
    assert await asyncio.wait_for(layer.receive(channel), 5) == {
        "type": "test.message",
        "text": "本部",
    }
    await layer.group_add("honbu.test.roundtrip", channel)
    await layer.group_send("honbu.test.roundtrip", {"type": "test.group", "n": 1})
    assert await asyncio.wait_for(layer.receive(channel), 5) == {"type": "test.group", "n": 1}
    await layer.group_discard("honbu.test.roundtrip", channel)


def test_a_real_celery_worker_runs_tasks_from_redis():
    """The task waits in the Redis queue (nothing runs it in this process) until a worker
    process takes it, runs it and writes its answer to the shared cache."""
    token = uuid.uuid4().hex
    broker = redis.Redis.from_url(settings.REDIS_URL)
    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    broker.delete(queue)  # tasks other tests enqueued and never ran are not this test's
    healthcheck_task.delay(token)
    assert cache.get(f"healthcheck:{token}") is None
    assert broker.llen(queue) == 1
    env = dict(
        os.environ, DJANGO_SETTINGS_MODULE="config.settings.test", REDIS_URL=settings.REDIS_URL
    )
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool",
            "solo",
            "--queues",
            settings.CELERY_TASK_DEFAULT_QUEUE,
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel",
            "WARNING",
        ],
        cwd=settings.BASE_DIR,
        env=env,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and cache.get(f"healthcheck:{token}") is None:
            assert worker.poll() is None, "the Celery worker exited"
            time.sleep(0.2)
        assert cache.get(f"healthcheck:{token}") == "ok"
        assert broker.llen(queue) == 0
    finally:
        worker.terminate()
        worker.wait(timeout=30)
