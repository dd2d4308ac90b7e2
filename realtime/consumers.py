"""The one websocket per page. The core authenticates, parses, limits and answers errors once
for all; the frames and events themselves belong to the apps that registered them
(registry.py). Frames and errors are documented in docs/event-flow.md."""

from __future__ import annotations

import json
import logging
from typing import Any

from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncWebsocketConsumer
from django.utils import translation

from . import registry
from .events import channel_group
from .fanout import local_fanout
from .frames import (
    ERR_MALFORMED,
    ERR_NESTED,
    ERR_SERVER,
    ERR_TOO_LARGE,
    ERR_UNKNOWN,
    FrameError,
    frame_check,
)
from .presence import local_presence
from .watch import local_watch

log = logging.getLogger(__name__)

MAX_FRAME_BYTES = 16 * 1024


class RealtimeConsumer(AsyncWebsocketConsumer):
    """A signed-in person's socket. What handlers may use: ``user``, ``language``, ``state``
    (one slot per app), ``join``/``leave``/``joined``, ``send_json``, ``server_error``."""

    joined: set[str] = frozenset()  # type: ignore[assignment]
    present = False  # counted in presence.py (a live page for this person)
    state: dict[str, Any] = {}  # noqa: RUF012 - replaced per socket in connect()

    async def dispatch(self, message: dict) -> None:
        """channels' dispatch first runs ``close_old_connections`` on the one sync thread, for
        every message: a broadcast to the 1,000 sockets of a server process became 1,000 serial
        thread hops (bench/fanout.py: seconds of delay at 2,000 members). Database work here
        goes through ``realtime.db.database_sync_to_async``, which closes old connections
        itself. Registered event handlers first, then the consumer's own (websocket.*), then
        plain forwarding of pre-serialised events."""
        handler = registry.event_handler_for(message["type"])
        if handler is not None:
            await handler(self, message)
            return
        own = getattr(self, get_handler_name(message), None)
        if own is not None:
            await own(message)
        elif "text" in message:
            await self.send(text_data=message["text"])  # serialised once, in events.py
        else:
            raise ValueError(f"No handler for message type {message['type']}")

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not user.is_active:
            await self.close(code=4401)
            return
        self.user = user
        self.language = user.language
        self.joined = set()
        self.state = {}
        joins = [await hooks.connect(self) for hooks in registry.sockets() if hooks.connect]
        await self.accept()
        session = self.scope.get("session")
        session_key = getattr(session, "session_key", None)
        names = [channel_group("sess", session_key)] if session_key else []
        names.append(channel_group("usr", user.pk))
        hello: dict[str, Any] = {"type": "hello"}
        for joined in joins:
            names += joined.groups
            hello.update(joined.hello)
        await self.join(names)
        self.present = True
        await local_presence().arrive(user.pk)
        local_watch().add(self)  # closed (1012) when Redis comes back after an outage
        await self.send_json(hello)

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            # Also when the consumer died of an exception (then disconnect() is never called):
            # otherwise this process's relays would keep a dead socket for good.
            await self._leave_all()

    async def disconnect(self, code: int) -> None:
        await self._leave_all()

    async def _leave_all(self) -> None:
        if self.present:
            self.present = False
            local_watch().discard(self)
            await local_presence().leave(self.user.pk)
        for hooks in registry.sockets():
            if hooks.disconnect and hooks.app in self.state:
                try:
                    await hooks.disconnect(self)
                except Exception:
                    log.exception("socket clean-up of %s failed", hooks.app)
        for name in list(self.joined):
            await self.leave(name)

    async def join(self, names: list[str]) -> None:
        for name in names:
            if name not in self.joined:
                if registry.is_relayed(name):
                    await local_fanout(self.channel_layer).join(name, self)
                else:
                    await self.channel_layer.group_add(name, self.channel_name)
                self.joined.add(name)

    async def leave(self, name: str) -> None:
        if registry.is_relayed(name):
            await local_fanout(self.channel_layer).leave(name, self)
        else:
            await self.channel_layer.group_discard(name, self.channel_name)
        self.joined.discard(name)

    # --- client → server ---------------------------------------------------------------------
    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        with translation.override(self.language):
            await self._receive(text_data, bytes_data)

    async def _receive(self, text_data: str | None, bytes_data: bytes | None) -> None:
        ref = None
        try:
            raw = text_data
            if raw is None:
                raw = (bytes_data or b"").decode("utf-8", "replace")
            if len(raw.encode("utf-8")) > MAX_FRAME_BYTES:
                raise FrameError("too_large", str(ERR_TOO_LARGE))
            try:
                frame = json.loads(raw)
            except ValueError:
                raise FrameError("malformed", str(ERR_MALFORMED)) from None
            except RecursionError:  # [[[[…]]]] 16 KB deep
                raise FrameError("too_deep", str(ERR_NESTED)) from None
            if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
                raise FrameError("malformed", str(ERR_MALFORMED))
            frame_check(frame)
            ref = frame.get("ref") if isinstance(frame.get("ref"), (str, int)) else None
            handler = registry.frame_handler(frame["type"])
            if handler is None:
                raise FrameError("unknown_type", str(ERR_UNKNOWN))
            await handler(self, frame, ref)
        except FrameError as exc:
            await self.send_json(
                {"type": "error", "code": exc.code, "message": exc.message, "ref": ref}
            )
        except Exception:  # the connection and the server survive a bug in one frame
            log.exception("websocket frame failed")
            await self.server_error(ref)

    # --- server → client ---------------------------------------------------------------------
    async def server_error(self, ref: Any) -> None:
        # Also called from tasks that outlive receive()'s translation.override.
        with translation.override(self.language):
            message = str(ERR_SERVER)
        await self.send_json(
            {"type": "error", "code": "server_error", "message": message, "ref": ref}
        )

    async def send_json(self, data: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(data, ensure_ascii=False, default=str))
