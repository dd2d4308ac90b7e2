"""A Web Push service on 127.0.0.1 standing in for the browser vendor's (it records each
request), a VAPID key for the server, and a browser-like subscription whose messages the test
can decrypt (RFC 8291, aes128gcm). Fixtures ``push_service`` and ``vapid`` are in
tests/conftest.py."""

from __future__ import annotations

import base64
import json
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import http_ece
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from notifications.models import PushSubscription
from notifications.vapid import vapid_keys


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class PushService:
    """A push service on 127.0.0.1 that records each request and answers ``status``.

    ``hold(path)``, when set and true for a request, holds that request without answering until
    ``release`` is set (the fault drills kill the worker sending it meanwhile), then closes the
    connection and keeps nothing of it: the sender never heard 201, so it was not accepted."""

    url: str
    status: int = 201
    received: list[dict] = field(default_factory=list)
    hold: Callable[[str], bool] | None = None
    holding: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    held: list[str] = field(default_factory=list)


def push_service_running(monkeypatch) -> Iterator[PushService]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")  # requests must not go via a proxy
    service = PushService(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 — http.server's naming
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if service.hold is not None and service.hold(self.path):
                service.held.append(self.path)
                service.holding.set()
                service.release.wait(120)
                self.close_connection = True
                return
            service.received.append(
                {
                    "path": self.path,
                    "body": body,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                }
            )
            self.send_response(service.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    service.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield service
    server.shutdown()
    server.server_close()


def vapid_key(settings) -> Iterator[ec.EllipticCurvePrivateKey]:
    """The server's VAPID key, given as HONBU_VAPID_PRIVATE_KEY (raw, base64url)."""
    key = ec.generate_private_key(ec.SECP256R1())
    settings.HONBU_VAPID_PRIVATE_KEY = b64url(
        key.private_numbers().private_value.to_bytes(32, "big")
    )
    vapid_keys.cache_clear()
    yield key
    vapid_keys.cache_clear()


@dataclass
class Device:
    subscription: PushSubscription
    key: ec.EllipticCurvePrivateKey
    auth: bytes


def subscribe(user, push_service: PushService) -> Device:
    """What a browser's PushManager.subscribe() yields: a P-256 key pair and 16 auth bytes."""
    key = ec.generate_private_key(ec.SECP256R1())
    auth = os.urandom(16)
    public = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    sub = PushSubscription.objects.create(
        user=user,
        endpoint=f"{push_service.url}/push/{uuid.uuid4().hex}",
        p256dh=b64url(public),
        auth=b64url(auth),
    )
    return Device(sub, key, auth)


def decrypt(device: Device, request: dict) -> dict:
    assert request["headers"]["content-encoding"] == "aes128gcm"
    plain = http_ece.decrypt(
        request["body"], private_key=device.key, auth_secret=device.auth, version="aes128gcm"
    )
    return json.loads(plain)
