"""A real SMTP server on 127.0.0.1 (aiosmtpd) that keeps what it receives, parsed; the
fixture ``smtp_server`` (tests/conftest.py) points Django's SMTP backend at it."""

from __future__ import annotations

import email
import socket
import threading
from dataclasses import dataclass, field
from email.header import decode_header, make_header
from email.message import Message

from aiosmtpd.controller import Controller


@dataclass
class Sink:
    messages: list[Message] = field(default_factory=list)
    sessions: int = 0
    delay: float = 0.0  # seconds per message (a slow server)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # noqa: N802
        with self.lock:
            self.sessions += 1
        session.host_name = hostname
        return responses

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        import asyncio

        if self.delay:
            await asyncio.sleep(self.delay)
        parsed = email.message_from_bytes(envelope.content)
        parsed["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
        with self.lock:
            self.messages.append(parsed)
        return "250 OK"

    def to(self, address: str) -> list[Message]:
        with self.lock:
            return [m for m in self.messages if address in m["X-Envelope-To"]]


def subject(message: Message) -> str:
    return str(make_header(decode_header(message["Subject"])))


def body_text(message: Message) -> str:
    part = message.get_payload(decode=True) if not message.is_multipart() else None
    if part is None:
        part = message.get_payload(0).get_payload(decode=True)
    return part.decode(message.get_content_charset() or "utf-8")


def start() -> tuple[Controller, Sink, int]:
    with socket.socket() as probe:  # a free port (the controller checks it can connect)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    return controller, sink, port
