"""The one thing realtime's send queue (realtime/sendqueue.py) needs from the ASGI server that
ASGI does not offer: whether a websocket can take a frame without waiting, and a hard abort for
a client that reads nothing (its close frame would wait behind everything it did not read, and a
graceful close waits for the buffer to drain — forever).

uvicorn's websockets-sansio protocol (config/server.py) has both: the ASGI ``send`` it gives the
application is its own bound method, with ``writable`` (an ``asyncio.Event`` cleared while the
transport's buffer is over its high-water mark), ``disconnected`` and ``transport``. This
middleware offers them to the application as the ``honbu.transport`` scope extension; under
another server (Daphne in the benchmarks, the test communicator) there is no extension and every
frame goes through the socket's queue, and a stuck socket is dropped only when the server itself
notices (tests/realtime/test_slow_clients.py runs the real server and pins this)."""

from __future__ import annotations

import socket
from typing import Any

from django.conf import settings

from realtime.sendqueue import TRANSPORT_EXTENSION


class _UvicornTransport:
    __slots__ = ("_protocol",)

    def __init__(self, protocol: Any) -> None:
        self._protocol = protocol

    def writable(self) -> bool:
        protocol = self._protocol
        return protocol.writable.is_set() and not protocol.disconnected

    def abort(self) -> None:
        self._protocol.transport.abort()


def _protocol_of(send: Any) -> Any:
    protocol = getattr(send, "__self__", None)
    if all(hasattr(protocol, name) for name in ("writable", "disconnected", "transport")):
        return protocol
    return None


def _cap_send_buffer(protocol: Any) -> None:
    """Linux grows a connection's send buffer up to net.ipv4.tcp_wmem's maximum (4 MB here) while
    the peer reads nothing: 4 MB of kernel memory per stuck socket, and the application learns
    of the back-pressure only after it. A fixed buffer (the kernel doubles the value) bounds it."""
    size = settings.HONBU_WS_SEND_BUFFER_BYTES
    sock = protocol.transport.get_extra_info("socket")
    if size and sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)
        except OSError:  # not a TCP socket (a unix socket behind a proxy): the kernel decides
            pass


class WebsocketTransportMiddleware:
    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        protocol = _protocol_of(send) if scope["type"] == "websocket" else None
        if protocol is not None:
            _cap_send_buffer(protocol)
            extensions = dict(scope.get("extensions") or {})
            extensions[TRANSPORT_EXTENSION] = _UvicornTransport(protocol)
            scope = {**scope, "extensions": extensions}
        await self.app(scope, receive, send)
