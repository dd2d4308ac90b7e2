"""Each socket's frames go out through its own bounded queue (issue 13, fault drills: slow
clients).

The ASGI server applies back-pressure per connection: once a client stops reading and the
connection's buffer passes its high-water mark, uvicorn's ``send`` waits until the buffer
drains — for a phone in a lift, or a client that never reads, that is forever. Awaited inline,
the wait stopped whoever was sending: the relay of a big group (fanout.py) writes a broadcast to
its sockets in one loop, so one stuck socket held up every other socket of the server process,
and the broadcasts piled up in the relay's channel queue without bound. Now:

- a frame is written at once when the server says the socket can take it and nothing is
  waiting (the common case: no task switch, the relay's loop stays one loop);
- otherwise it waits in the socket's own queue and the socket's writer task writes it, in order;
- when the queue holds ``HONBU_WS_SEND_QUEUE_FRAMES`` frames, or a frame would take it past
  ``HONBU_WS_SEND_QUEUE_BYTES``, the queue is dropped and the socket is closed with
  ``CLOSE_TOO_SLOW`` (4408): the page reconnects and catches up from the database by sequence
  number (docs/event-flow.md), so a dropped frame is never lost;
- a close that the client does not take within ``HONBU_WS_CLOSE_GRACE_SECONDS`` (or any close
  after an overflow) aborts the connection, when the server offers it (the ``honbu.transport``
  scope extension, config/ws_transport.py); otherwise frames are dropped until the server
  notices the client is gone.

What stays per stuck socket: at most the queue's limit, the server's own buffer (its high-water
mark, 64 KB for uvicorn) and the kernel's; a broadcast's text is one string shared by every
queue that holds it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from django.conf import settings

log = logging.getLogger(__name__)

CLOSE_TOO_SLOW = 4408  # the client did not read its frames: reconnect and catch up
TRANSPORT_EXTENSION = "honbu.transport"


class Transport(Protocol):
    """What the server offers beyond ASGI (config/ws_transport.py)."""

    def writable(self) -> bool: ...  # a send would not wait

    def abort(self) -> None: ...  # drop the connection now, buffered data and all


Send = Callable[[dict[str, Any]], Awaitable[None]]


class SendQueue:
    """Wraps the ASGI ``send`` of one websocket; the consumer sends through ``send``."""

    def __init__(
        self,
        send: Send,
        *,
        transport: Transport | None = None,
        on_overflow: Callable[[], None] | None = None,
        max_frames: int | None = None,
        max_bytes: int | None = None,
        grace: float | None = None,
    ) -> None:
        self._send = send
        self.transport = transport
        self.on_overflow = on_overflow
        self.max_frames = max_frames or settings.HONBU_WS_SEND_QUEUE_FRAMES
        self.max_bytes = max_bytes or settings.HONBU_WS_SEND_QUEUE_BYTES
        self.grace = settings.HONBU_WS_CLOSE_GRACE_SECONDS if grace is None else grace
        self._items: deque[tuple[dict[str, Any], int]] = deque()
        self.queued_bytes = 0  # the queue's frames and the one being written
        self._busy = False  # the writer is handing a frame to the server
        self._busy_size = 0
        self._writer: asyncio.Task | None = None
        self._timer: asyncio.TimerHandle | None = None
        self.accepted = False
        self.closing = False  # a close is queued or sent: later frames are dropped
        self.close_sent = False
        self.overflowed = False

    @property
    def queued_frames(self) -> int:
        return len(self._items) + (1 if self._busy else 0)

    def _idle(self) -> bool:
        return not self._items and not self._busy

    def _writable(self) -> bool:
        return self.transport is not None and self.transport.writable()

    async def send(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "websocket.send":
            if self.closing:
                return  # the socket is going: the page catches up when it reconnects
            if self._idle() and self._writable():
                await self._send(message)  # returns without waiting: the server said so
                return
            size = _size(message)
            frames = self.queued_frames
            if frames >= self.max_frames or (frames and self.queued_bytes + size > self.max_bytes):
                self._overflow()
                return
            self._push(message, size)
        elif kind == "websocket.close" and self.accepted:
            if self.closing:
                return
            self.closing = True
            self._start_timer()
            if self._idle() and self._writable():
                self.close_sent = True
                await self._send(message)
                return
            self._push(message, 0)
        else:  # the handshake (accept, or a refusal before it): nothing is queued yet
            if kind == "websocket.accept":
                self.accepted = True
            await self._send(message)

    def _push(self, message: dict[str, Any], size: int) -> None:
        self._items.append((message, size))
        self.queued_bytes += size
        if self._writer is None:
            self._writer = asyncio.ensure_future(self._drain())

    async def _drain(self) -> None:
        try:
            while self._items:
                message, size = self._items.popleft()
                self._busy, self._busy_size = True, size
                try:
                    if message["type"] == "websocket.close":
                        self.close_sent = True
                    await self._send(message)
                finally:
                    self.queued_bytes -= size
                    self._busy, self._busy_size = False, 0
        except asyncio.CancelledError:
            raise
        except Exception:  # the client is gone (uvicorn: ClientDisconnected): nothing more goes
            self.closing = True
            self._items.clear()
            self.queued_bytes = 0
        finally:
            self._writer = None

    def _overflow(self) -> None:
        if self.on_overflow is not None:
            self.on_overflow()  # sees the backlog as it was
        self.overflowed = self.closing = True
        self._items.clear()
        self.queued_bytes = self._busy_size
        # The close goes after the frame being written, if the client ever reads that far.
        self._push({"type": "websocket.close", "code": CLOSE_TOO_SLOW, "reason": "too slow"}, 0)
        self._start_timer()

    def _start_timer(self) -> None:
        if self._timer is None and self.transport is not None:
            self._timer = asyncio.get_running_loop().call_later(self.grace, self._expire)

    def _expire(self) -> None:
        self._timer = None
        # After an overflow the client is known not to read: its close frame (if it was written
        # at all) sits behind everything it did not read. Otherwise abort only a stuck close.
        if self.transport is not None and (self.overflowed or not self.close_sent):
            self.transport.abort()

    def stop(self) -> None:
        """The socket's application ended: nothing more will be written. The callbacks are let
        go: they belong to the consumer, which holds this queue, and that cycle kept every ended
        socket's objects until a full garbage collection (issue 13, bench/soak.py)."""
        self.closing = True
        self._items.clear()
        self._send, self.on_overflow = _sent_nowhere, None
        if self._writer is not None:
            self._writer.cancel()
        if self._timer is not None and not self.overflowed:
            self._timer.cancel()
            self._timer = None


async def _sent_nowhere(message: dict[str, Any]) -> None:
    return None


def _size(message: dict[str, Any]) -> int:
    text = message.get("text")
    if text is not None:
        return len(text.encode("utf-8"))
    return len(message.get("bytes") or b"")


def transport_of(scope: dict[str, Any]) -> Transport | None:
    return (scope.get("extensions") or {}).get(TRANSPORT_EXTENSION)
