"""The lean path: anonymous pages that must take hundreds of requests a second per server
(the safety round's personal answer links, ``/s/…``, issue 10) are served by their own Django
handler instead of the full one.

What the full handler costs these pages, measured (bench/answer_cpu.py, docs/benchmarks.md):
Django's ASGI handler runs a request on a new thread of its own (``ThreadSensitiveContext``)
and hops between that thread and the event loop for the ``request_started`` signal, for every
sync-only middleware between async-capable ones, for the view and for ``response.close()``;
and the chain reads the session, the user, the messages and allauth's state that an anonymous
answer page never uses. Here the whole request — ``request_started``, a short middleware chain,
the view, the response's content, ``request_finished`` (which gives the database connection
back to the pool) — runs in ONE hop on a small, long-lived thread pool, as a WSGI server would
run it; only reading the body and sending the response stay on the event loop.

The chain keeps everything these pages owe a browser: the real client address behind a trusted
proxy (the rate limits), the security headers (HSTS, nosniff, referrer policy, SSL redirect),
the Content-Security-Policy, the language (Japanese by default; a language cookie or the
browser's Accept-Language), ``CommonMiddleware`` (the trailing slash), CSRF (the forms' cookie
and token, checked on POST) and X-Frame-Options. Left out: whitenoise (no static files under
these paths), sessions, authentication (the views are ``login_not_required``; a signed-in
person opening their link gets the page in the browser's language, not their account's),
account security, messages and allauth. Errors still go through the same handlers (404, the
500 page, the database-away 503 page). ``LEAN_PATH_PREFIXES`` says which paths take it.
"""

from __future__ import annotations

import asyncio
import logging
import os
from concurrent.futures import ThreadPoolExecutor

from django.core import signals
from django.core.exceptions import MiddlewareNotUsed, RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.core.handlers.exception import convert_exception_to_response
from django.urls import set_script_prefix
from django.utils.module_loading import import_string

log = logging.getLogger(__name__)

LEAN_PATH_PREFIXES = ("/s/",)
LEAN_MIDDLEWARE = [
    "directory.middleware.TrustedProxyMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
# Request threads per server process: fewer than the database pool's connections (10), so a
# burst queues here, on the event loop, instead of waiting for a connection on a thread.
LEAN_THREADS = int(os.environ.get("HONBU_LEAN_THREADS", "6"))


class LeanHandler(ASGIHandler):
    """Django's ASGI handler with its own, synchronous middleware chain, run in one hop."""

    def __init__(self, middleware: list[str] | None = None, threads: int = LEAN_THREADS):
        self._load_sync_middleware(LEAN_MIDDLEWARE if middleware is None else middleware)
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="lean")

    def _load_sync_middleware(self, paths: list[str]) -> None:
        """BaseHandler.load_middleware(is_async=False) for ``paths`` instead of
        settings.MIDDLEWARE: every middleware in its sync mode, no adapters."""
        self._view_middleware = []
        self._template_response_middleware = []
        self._exception_middleware = []
        handler = convert_exception_to_response(self._get_response)
        for path in reversed(paths):
            try:
                instance = import_string(path)(handler)
            except MiddlewareNotUsed:
                continue
            if hasattr(instance, "process_view"):
                self._view_middleware.insert(0, instance.process_view)
            if hasattr(instance, "process_template_response"):
                self._template_response_middleware.append(instance.process_template_response)
            if hasattr(instance, "process_exception"):
                self._exception_middleware.append(instance.process_exception)
            handler = convert_exception_to_response(instance)
        self._middleware_chain = handler

    async def __call__(self, scope, receive, send):
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        loop = asyncio.get_running_loop()
        try:
            status, headers, body = await loop.run_in_executor(
                self._executor, self._respond, scope, body_file
            )
        finally:
            body_file.close()
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _respond(self, scope, body_file) -> tuple[int, list, bytes]:
        """The whole request on this thread: what WSGIHandler.__call__ does."""
        set_script_prefix(get_script_prefix(scope))
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, response = self.create_request(scope, body_file)
        try:
            if request is not None:
                response = self.get_response(request)
            if response.streaming:
                body = b"".join(response.streaming_content)
            else:
                body = response.content
            headers = [
                (str(k).encode("ascii"), str(v).encode("latin1")) for k, v in response.items()
            ]
            headers += [
                (b"Set-Cookie", c.output(header="").encode("ascii").strip())
                for c in response.cookies.values()
            ]
            return response.status_code, headers, body
        finally:
            response.close()  # request_finished: the database connection goes back


class LeanRouter:
    """HTTP requests under LEAN_PATH_PREFIXES to the lean handler, the rest to Django's."""

    def __init__(self, full, lean: LeanHandler | None = None, prefixes=LEAN_PATH_PREFIXES):
        self.full, self.lean, self.prefixes = full, lean or LeanHandler(), tuple(prefixes)

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope.get("path", "").startswith(self.prefixes):
            return await self.lean(scope, receive, send)
        return await self.full(scope, receive, send)
