"""Live events: small dataclasses with a fixed dotted ``type``, pushed to channel-layer groups
only after the database transaction commits. The channel layer may drop them; the database is
the truth and clients catch up by sequence number (see docs/event-flow.md).

Each app defines its own events on ``Event`` (messaging/events.py, notifications/events.py);
this module has the base, the core's ``session.end``, the group-name builder and the one
after-commit sender."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import threading
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from asgiref.sync import SyncToAsync, async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from . import registry

log = logging.getLogger(__name__)


def channel_group(kind: str, ident: int | str) -> str:
    """The one place channel-layer group names are built: ``[A-Za-z0-9._-]``, < 100 chars.
    Kinds are registered by the apps (``usr``: a person's sockets; messaging adds ``grp``,
    ``watch``)."""
    if not registry.channel_kind_known(kind):
        raise ValueError(f"unregistered channel kind {kind!r}")
    return f"honbu.{kind}.{int(ident)}"


@dataclass
class Event:
    type: ClassVar[str]
    # Events a consumer forwards unchanged to the browser travel pre-serialised ("text"), so a
    # broadcast to 2,000 sockets is serialised once, not once per socket.
    to_client: ClassVar[bool] = True

    def payload(self) -> dict[str, Any]:
        data = asdict(self)
        data["type"] = self.type
        return data


def session_tag(session_key: str | None) -> str:
    """A session's name in events: a hash of its key, never the key itself."""
    return hashlib.sha256(str(session_key).encode()).hexdigest()[:32] if session_key else ""


@dataclass
class SessionEnd(Event):
    """A session signed out (``session``: its tag; only its sockets close), or the account was
    deactivated (no ``session``: all the person's sockets close). Sent to the person's ``usr``
    group: a group per session cost every connect a Redis SUBSCRIBE and every leave an
    UNSUBSCRIBE of its own, for an event that comes once per sign-out (issue 14)."""

    type: ClassVar[str] = "session.end"
    to_client: ClassVar[bool] = False
    reason: str = ""
    session: str = ""


def send_event_on_commit(event: Event, *, groups: list[str]) -> None:
    send_events_on_commit([(event, groups)])


def send_event_now(event: Event, *, groups: list[str]) -> None:
    """Publish at once, for code that runs after its commit already (an on-commit hook, or a
    timer's thread that coalesces events). Never touches the database: a thread of its own
    would otherwise hold a pooled connection for good."""
    _send_many([(_layer_payload(event), groups)])


def _layer_payload(event: Event) -> dict[str, Any]:
    # Serialise now, so a non-serialisable event fails where it is built.
    text = json.dumps(event.payload(), ensure_ascii=False)
    return {"type": event.type, "text": text} if event.to_client else json.loads(text)


def send_events_on_commit(items: list[tuple[Event, list[str]]], *, wait: bool = True) -> None:
    """Events (one, or a sweep batch's reminders) pushed after commit in one hop, up to 50
    group_sends in flight: one async_to_sync per event would cost a thread hop and a serial
    Redis round trip each.

    ``wait=False``: when the commit happens on a server's worker thread (a socket's batch),
    the pushes are handed to the server's event loop and the thread goes on at once — the
    batch's answers to its sockets do not wait for 2,000 per-person events to be published.
    Elsewhere (tasks, tests, views) it waits as usual."""
    if not items:
        return
    payloads = [(_layer_payload(event), groups) for event, groups in items]
    send = _send_many if wait else _send_many_soon
    transaction.on_commit(lambda: send(payloads), robust=True)


def _server_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop this worker thread was started from by sync_to_async (asgiref keeps it
    in SyncToAsync.threadlocal), if it is still running in this process."""
    local = SyncToAsync.threadlocal
    loop = getattr(local, "main_event_loop", None)
    if loop is None or getattr(local, "main_event_loop_pid", None) != os.getpid():
        return None
    return loop if loop.is_running() and not loop.is_closed() else None


def _send_many_soon(items: list[tuple[dict[str, Any], list[str]]]) -> None:
    loop = _server_loop()
    if loop is None:
        _send_many(items)
        return
    layer = get_channel_layer()
    if layer is None:
        return
    future = asyncio.run_coroutine_threadsafe(_push(layer, items), loop)
    future.add_done_callback(_log_failure)


def _log_failure(future) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("publishing events failed", exc_info=future.exception())


async def _push(layer, items: list[tuple[dict[str, Any], list[str]]]) -> None:
    """Every group of every event, concurrently, up to 50 in flight."""
    limit = asyncio.Semaphore(50)

    async def one(name: str, payload: dict[str, Any]) -> None:
        async with limit:
            await layer.group_send(name, payload)

    await asyncio.gather(*(one(n, p) for p, groups in items for n in groups))


def _send_many(items: list[tuple[dict[str, Any], list[str]]]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return

    async def push() -> None:  # every group of every event in one hop, concurrently
        await _push(layer, items)

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        async_to_sync(push)()
    else:
        # Called on a thread that runs an event loop (e.g. under a sync Playwright driver):
        # async_to_sync refuses that, so push from a short-lived helper thread.
        worker = threading.Thread(target=async_to_sync(push))
        worker.start()
        worker.join(timeout=30)
