"""Request bodies are bounded where the bytes arrive (issue 13, item 1): an oversized POST, with
or without a session, declared or streamed in chunks, is refused with 413 while the server
process stays flat (it grew by ~13× the body before: 50 MB cost 640 MB)."""

from __future__ import annotations

import socket
import threading
import time

import psutil
import pytest
import requests
from django.conf import settings

from config.bodylimit import ANONYMOUS_MAX_BYTES

pytestmark = pytest.mark.django_db(transaction=True)
BODY = 50 * 1024 * 1024
CHUNK = b"a" * 65536


def _post(url: str, path: str, *, cookie: str | None, chunked: bool) -> tuple[int, bytes]:
    """Send up to BODY bytes the way a hostile client would; returns (bytes sent, status line)."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=30)
    head = f"POST {path} HTTP/1.1\r\nHost: localhost\r\n"
    head += "Content-Type: multipart/form-data; boundary=xx\r\n"
    if cookie:
        head += f"Cookie: {settings.SESSION_COOKIE_NAME}={cookie}\r\n"
    head += "Transfer-Encoding: chunked\r\n" if chunked else f"Content-Length: {BODY}\r\n"
    sock.sendall((head + "\r\n").encode())
    sent = 0
    try:
        while sent < BODY:
            sock.sendall(b"%x\r\n%s\r\n" % (len(CHUNK), CHUNK) if chunked else CHUNK)
            sent += len(CHUNK)
    except OSError:
        pass  # the server hung up on us: that is the point
    try:
        status = sock.recv(100).split(b"\r\n")[0]
    except OSError:
        status = b""
    sock.close()
    return sent, status


def _rss(pid: int) -> int:
    return psutil.Process(pid).memory_info().rss


def test_oversized_bodies_are_refused_before_they_are_buffered(asgi_server, client, staff_user):
    client.force_login(staff_user)
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    before = _rss(asgi_server.pid)
    peak = before
    done = threading.Event()

    def watch():
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _rss(asgi_server.pid))
            time.sleep(0.02)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        for cookie in (None, session):
            for chunked in (False, True):
                sent, status = _post(
                    asgi_server, "/messages/g/2/send/", cookie=cookie, chunked=chunked
                )
                assert status.startswith(b"HTTP/1.1 413"), (cookie, chunked, status)
                assert sent < BODY  # the server stopped reading long before the end
    finally:
        done.set()
        watcher.join()
    # Four 50 MB bodies: the server grew by a few megabytes at most (it was ~640 MB per body).
    assert peak - before < 20 * 1024 * 1024, (before >> 20, peak >> 20)


def test_small_bodies_still_arrive(asgi_server, client):
    """The limit refuses only what is too large: a sign-in page POST goes through to Django
    (which answers it, here with CSRF's 403), and the limit without a session is generous for a
    form."""
    response = requests.post(
        asgi_server + "/accounts/login/",
        data={"login": "x", "password": "y" * (ANONYMOUS_MAX_BYTES // 2)},
        timeout=30,
    )
    assert response.status_code == 403  # Django saw it: no CSRF token
    response = requests.post(
        asgi_server + "/accounts/login/",
        data={"login": "x", "password": "y" * (ANONYMOUS_MAX_BYTES + 1)},
        timeout=30,
    )
    assert response.status_code == 413
