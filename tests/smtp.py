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
    # Hold the hold_at-th recipient (counted over all sessions) until ``release`` is set: the
    # sender is then mid-batch with that message not yet handed over (a test kills it there).
    # A held message is refused when released (451): it was never received.
    hold_at: int = 0
    recipients: int = 0
    holding: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # noqa: N802
        with self.lock:
            self.sessions += 1
        session.host_name = hostname
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        import asyncio

        with self.lock:
            self.recipients += 1
            held = self.recipients == self.hold_at
        if held:
            self.holding.set()
            try:  # cancelled when the sender's connection drops
                while not self.release.is_set():
                    await asyncio.sleep(0.02)
            finally:
                self.holding.clear()
            return "451 4.3.0 Try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

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
