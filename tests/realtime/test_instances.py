"""Two Honbu installations on one Redis (staging beside production, or two cities) stay apart
(issue 13, item 9): Redis pub/sub channels are shared across database numbers, so each
installation's channel layer, cache and Celery queue carry a name of its own, derived from its
database unless HONBU_INSTANCE says otherwise."""

import asyncio

import pytest
from channels_redis.pubsub import RedisPubSubChannelLayer
from django.conf import settings

from config.settings import base


def _prefix(monkeypatch, name: str) -> str:
    """The prefix an installation whose database is called `name` would use."""
    monkeypatch.setattr(base, "DATABASES", {"default": {"HOST": "db", "PORT": 5432, "NAME": name}})
    return f"honbu-{base._instance_id()}"


def test_each_installation_gets_its_own_name(monkeypatch):
    osaka, kobe = _prefix(monkeypatch, "osaka"), _prefix(monkeypatch, "kobe")
    assert osaka != kobe and len(osaka) == len(kobe) == len("honbu-") + 8
    assert _prefix(monkeypatch, "osaka") == osaka  # stable across restarts
    assert (
        settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"]
        == settings.CACHES["default"]["KEY_PREFIX"]
        == settings.CELERY_TASK_DEFAULT_QUEUE
    )


def _url(db: int) -> str:
    url = settings.REDIS_URL
    if url.startswith("unix://"):
        return url.split("?")[0] + f"?db={db}"
    return url.rsplit("/", 1)[0] + f"/{db}"


@pytest.mark.asyncio
async def test_two_installations_on_one_redis_do_not_hear_each_other(monkeypatch):
    osaka = RedisPubSubChannelLayer(
        hosts=[{"address": _url(0)}], prefix=_prefix(monkeypatch, "osaka")
    )
    kobe = RedisPubSubChannelLayer(
        hosts=[{"address": _url(5)}], prefix=_prefix(monkeypatch, "kobe")
    )
    try:
        in_osaka, in_kobe = await osaka.new_channel(), await kobe.new_channel()
        await osaka.group_add("honbu.grp.1", in_osaka)
        await kobe.group_add("honbu.grp.1", in_kobe)  # the same group name, the same server

        await osaka.group_send("honbu.grp.1", {"type": "message.new", "text": "大阪"})

        assert await asyncio.wait_for(osaka.receive(in_osaka), 5) == {
            "type": "message.new",
            "text": "大阪",
        }
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(kobe.receive(in_kobe), 1.0)
    finally:
        await osaka.flush()
        await kobe.flush()
