"""The one websocket per page. The core authenticates, parses, limits and answers errors once
for all; the frames and events themselves belong to the apps that registered them
(registry.py). Frames and errors are documented in docs/event-flow.md."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import uuid
from typing import Any

from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from channels.utils import await_many_dispatch
from django.utils import translation

from . import registry
from .auth import PRELOADED
from .events import channel_group, session_tag
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
from .sendqueue import SendQueue, transport_of
from .watch import local_watch

log = logging.getLogger(__name__)

MAX_FRAME_BYTES = 16 * 1024


class RealtimeConsumer(AsyncWebsocketConsumer):
    """A signed-in person's socket. What handlers may use: ``user``, ``language``, ``state``
    (one slot per app), ``join``/``leave``/``joined``, ``send_json``, ``server_error``."""

    joined: set[str] = frozenset()  # type: ignore[assignment]
    present = False  # counted in presence.py (a live page for this person)
    gone = False  # the client has gone: what is sent to it is dropped (__call__)
    state: dict[str, Any] = {}  # noqa: RUF012 - replaced per socket in connect()
    _preloaded: dict[str, Any] = {}  # noqa: RUF012 - replaced per socket in connect()
    session = ""  # the signed-in session's tag (events.session_tag)
    _direct = False  # the socket's own channel is subscribed in Redis (direct_channel)

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
        self._preloaded = self.scope.get(PRELOADED) or {}
        self.session = session_tag(getattr(self.scope.get("session"), "session_key", None))
        joins = [await hooks.connect(self) for hooks in registry.sockets() if hooks.connect]
        await self.accept()
        names = [channel_group("usr", user.pk)]  # also carries session.end for this session
        hello: dict[str, Any] = {"type": "hello"}
        for joined in joins:
            names += joined.groups
            hello.update(joined.hello)
        await self.join(names)
        self.present = True
        await local_presence().arrive(user.pk)
        local_watch().add(self)  # closed (1012) when Redis comes back after an outage
        await self.send_json(hello)

    def preloaded(self, app: str) -> Any:
        """What the app's ``SocketHooks.load`` returned for this connect (auth.py), once; None
        when it did not run (then the hook loads for itself)."""
        return self._preloaded.pop(app, None)

    async def __call__(self, scope, receive, send) -> None:
        async def send_unless_gone(message: dict) -> None:
            """A frame for a client that has gone is dropped, not an error. ASGI servers raise
            an OSError for a send after the connection closed (uvicorn: ClientDisconnected);
            the websocket.disconnect that follows cleans up. Handlers answering a phone that
            had just lost the network each logged a traceback (issue 14)."""
            if self.gone:
                return
            try:
                await send(message)
            except OSError:
                self.gone = True

        # Every frame goes out through the socket's bounded queue (sendqueue.py): a client that
        # stops reading never holds up the relay or the other sockets, and is closed (4408) once
        # its backlog passes the limit.
        self.outbox = SendQueue(
            send_unless_gone, transport=transport_of(scope), on_overflow=self._too_slow
        )
        try:
            await self._serve(scope, receive, self.outbox.send)
        finally:
            self.outbox.stop()
            # Also when the consumer died of an exception (then disconnect() is never called):
            # otherwise this process's relays would keep a dead socket for good.
            await self._leave_all()

    async def _serve(self, scope, receive, send) -> None:
        """channels' ``AsyncConsumer.__call__`` (4.x), but the socket's own channel is only
        registered in this process, not subscribed in Redis: group messages reach it through
        the process's group subscriptions, and only a call's signalling sends to the channel
        itself (``direct_channel``). A SUBSCRIBE at every connect and an UNSUBSCRIBE at every
        leave, each with its confirmation to read, were a tenth of a reconnect storm's CPU
        (py-spy, bench/connect_storm.py, issue 14)."""
        self.scope = scope
        self.channel_layer = get_channel_layer(self.channel_layer_alias)
        self.channel_name = _local_channel(self.channel_layer)
        if self.channel_name is None:  # another layer: its own way
            self.channel_name = await self.channel_layer.new_channel()
            self._direct = True
        self.channel_receive = functools.partial(self.channel_layer.receive, self.channel_name)
        self.base_send = send
        try:
            await await_many_dispatch([receive, self.channel_receive], self.dispatch)
        except StopConsumer:
            pass

    async def direct_channel(self) -> str:
        """This socket's own channel name, subscribed so that other processes can send to it
        (a call's signalling stores it and sends there)."""
        if not self._direct:
            layer = self.channel_layer._get_layer()
            await layer._get_shard(self.channel_name).subscribe(self.channel_name)
            self._direct = True
        return self.channel_name

    async def websocket_disconnect(self, message: dict) -> None:
        """channels' own also runs ``close_old_connections`` on the one thread-sensitive thread
        when a socket goes: a serial thread hop per leaving socket, 12 % of the event loop in a
        reconnect storm (bench/connect_storm.py). This consumer joins no class-level groups,
        and its database work goes through ``realtime.db``, whose hops close their own."""
        await self.disconnect(message["code"])
        raise StopConsumer

    async def disconnect(self, code: int) -> None:
        await self._leave_all()

    def _too_slow(self) -> None:
        user = getattr(self, "user", None)
        log.warning(
            "websocket of user %s closed: it did not read its frames (%d queued, limit %d/%d B)",
            getattr(user, "pk", None),
            self.outbox.queued_frames,
            self.outbox.max_frames,
            self.outbox.max_bytes,
        )

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


def _local_channel(layer) -> str | None:
    """A channel name for a socket, registered with channels_redis' pub/sub layer of this event
    loop (its queue) without subscribing it in Redis; None for another layer. When the socket
    goes, the layer's ``receive`` drops the queue, and unsubscribes only what was subscribed."""
    loop_layer = getattr(layer, "_get_layer", None)
    if loop_layer is None:
        return None
    loop_layer = loop_layer()
    if not isinstance(getattr(loop_layer, "channels", None), dict):
        return None
    name = f"{loop_layer.prefix}specific.{uuid.uuid4().hex}"
    loop_layer.channels[name] = asyncio.Queue()
    return name
