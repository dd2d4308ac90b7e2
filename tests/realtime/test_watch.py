"""After a Redis outage a server process closes its sockets (1012) so the pages catch up from
the database: the layer's subscriptions come back by themselves and say nothing about what was
published meanwhile. The Redis drill (tests/faults/test_redis.py) shows it end to end."""

from __future__ import annotations

import asyncio

import pytest

from realtime import watch

pytestmark = pytest.mark.asyncio


class Page:
    def __init__(self) -> None:
        self.closed: list[int] = []

    async def close(self, code: int) -> None:
        self.closed.append(code)


async def test_sockets_are_closed_once_when_redis_answers_again_after_failing(monkeypatch):
    monkeypatch.setattr(watch, "INTERVAL", 0.01)
    answers = iter([True, True, False, False, True, True, True])
    seen: list[bool] = []

    async def ping(self) -> bool:
        ok = next(answers, True)
        seen.append(ok)
        return ok

    monkeypatch.setattr(watch.LayerWatch, "_ok", ping)
    layer_watch = watch.LayerWatch()
    pages = [Page(), Page()]
    for page in pages:
        layer_watch.add(page)
    while len(seen) < 7:
        await asyncio.sleep(0.01)

    # up, up, down, down, back (close once), up, up
    assert [p.closed for p in pages] == [[1012], [1012]]
    assert layer_watch.restarts == 1
    for page in pages:
        layer_watch.discard(page)
    await asyncio.wait_for(layer_watch.task, 1)  # no sockets left: the watch stops


async def test_no_outage_closes_nothing(monkeypatch):
    monkeypatch.setattr(watch, "INTERVAL", 0.01)
    layer_watch = watch.LayerWatch()  # the test Redis, which answers
    page = Page()
    layer_watch.add(page)
    await asyncio.sleep(0.1)
    assert page.closed == [] and layer_watch.restarts == 0
    layer_watch.discard(page)
    await asyncio.wait_for(layer_watch.task, 1)
