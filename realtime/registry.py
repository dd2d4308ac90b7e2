"""What each app plugs into the one websocket: frame handlers (client → server), event handlers
(channel layer → socket), socket hooks (what a socket joins and says in ``hello``; its clean-up)
and channel-group kinds. Apps register in their ``AppConfig.ready()``; the core never imports
them, and adding a frame type never means editing another app's module (docs/architecture.md).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .consumers import RealtimeConsumer

FrameHandler = Callable[["RealtimeConsumer", dict, Any], Awaitable[None]]
EventHandler = Callable[["RealtimeConsumer", dict], Awaitable[None]]
_KIND = re.compile(r"^[a-z]{2,12}$")


@dataclass(frozen=True)
class Joined:
    """What an app's socket hook contributes at connect: channel groups and ``hello`` fields."""

    groups: list[str] = field(default_factory=list)
    hello: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SocketHooks:
    """``load(user)`` is synchronous database work for a connect: it runs in the same thread
    hop as the session and user lookup (auth.py), and ``connect`` finds its result in
    ``socket.preloaded(app)``. ``connect`` itself should then need no database at all."""

    app: str
    connect: Callable[[RealtimeConsumer], Awaitable[Joined]] | None = None
    disconnect: Callable[[RealtimeConsumer], Awaitable[None]] | None = None
    load: Callable[[Any], Any] | None = None


_frames: dict[str, FrameHandler] = {}
_events: dict[str, EventHandler] = {}
_sockets: dict[str, SocketHooks] = {}
_kinds: dict[str, bool] = {}  # channel-group kind -> relayed (one relay per process, fanout.py)


def _put(table: dict, key: str, value: Any, what: str) -> None:
    current = table.get(key)
    if current is not None and current != value:
        raise ValueError(f"{what} {key!r} is already registered to {current!r}")
    table[key] = value


def frame(type_: str, handler: FrameHandler) -> None:
    """Client frames of ``type_`` go to ``handler(socket, frame, ref)``."""
    _put(_frames, type_, handler, "frame type")


def event_handler(type_: str, handler: EventHandler) -> None:
    """Channel-layer events of ``type_`` go to ``handler(socket, event)``. Events that carry
    pre-serialised ``text`` and have no handler are forwarded to the browser unchanged."""
    _put(_events, type_, handler, "event type")


def socket_hooks(hooks: SocketHooks) -> None:
    _put(_sockets, hooks.app, hooks, "socket hooks of")


def channel_kind(kind: str, *, relayed: bool = False) -> None:
    """A kind of channel group (``honbu.<kind>.<id>``). Relayed kinds are the big broadcast
    groups: a server process joins each once and writes to its own sockets (fanout.py)."""
    if not _KIND.match(kind):
        raise ValueError(f"bad channel kind {kind!r}")
    _put(_kinds, kind, relayed, "channel kind")


def frame_handler(type_: str) -> FrameHandler | None:
    return _frames.get(type_)


def event_handler_for(type_: str) -> EventHandler | None:
    return _events.get(type_)


def sockets() -> list[SocketHooks]:
    return list(_sockets.values())


def channel_kind_known(kind: str) -> bool:
    return kind in _kinds


def is_relayed(name: str) -> bool:
    parts = name.split(".")
    return len(parts) == 3 and _kinds.get(parts[1], False)


def frame_types() -> list[str]:
    return sorted(_frames)
