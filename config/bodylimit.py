"""Request bodies are bounded where the bytes arrive (issue 13, item 1).

Django reads a whole request body before any view or middleware can refuse it (the CSRF check
included), so a 50 MB POST cost hundreds of megabytes before its 403. This ASGI middleware sits
in front of Django: a declared ``Content-Length`` over the limit is refused with 413 before a
byte of the body is read, and a body without one (chunked) is counted as it streams in and
refused once it passes the limit. The ASGI server must stream bodies for this to save memory
(uvicorn does, with flow control; Daphne buffers the whole body first — docs/servers.md).

Limits: without a session cookie (sign-in, answer links, reports) a small one; signed in,
the largest attachment plus the form around it; the admin's roster import its own.
"""

from __future__ import annotations

from django.conf import settings

FORM_OVERHEAD = 1024 * 1024  # multipart boundaries, the other fields
ANONYMOUS_MAX_BYTES = 256 * 1024


class BodyTooLarge(Exception):
    pass


def _header(scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value
    return None


def limit_for(scope) -> int:
    cookie = _header(scope, b"cookie") or b""
    if settings.SESSION_COOKIE_NAME.encode() + b"=" not in cookie:
        return ANONYMOUS_MAX_BYTES
    if scope.get("path", "").startswith("/admin/"):
        largest = max(settings.HONBU_IMPORT_MAX_BYTES, settings.HONBU_ATTACHMENT_MAX_BYTES)
        return largest + FORM_OVERHEAD
    return settings.HONBU_ATTACHMENT_MAX_BYTES + FORM_OVERHEAD


async def _refuse(send) -> None:
    body = b"Request body too large.\n"
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodySizeLimitMiddleware:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = limit_for(scope)
        declared = _header(scope, b"content-length")
        if declared is not None:
            try:
                too_large = int(declared) > limit
            except ValueError:
                too_large = True  # a mangled length is refused, not guessed at
            if too_large:
                return await _refuse(send)

        received = 0
        started = False

        async def counted_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge
            return message

        async def watched_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except BodyTooLarge:
            if not started:
                await _refuse(send)
