"""SMTP sink for bench/safety.py: aiosmtpd on 127.0.0.1 in its own process (so it does not share
the GIL with the sender), counting what it accepts without keeping it.

``python bench/_smtp_sink.py``: prints ``PORT <n>`` once it listens; then, for every line read
on standard input, prints ``<messages> <sessions> <bytes> <time of the last message>``. Stops at
end of input.
"""

from __future__ import annotations

import socket
import sys
import threading
import time

from aiosmtpd.controller import Controller


class Counter:
    def __init__(self) -> None:
        self.messages = 0
        self.sessions = 0
        self.bytes = 0
        self.last = 0.0
        self.lock = threading.Lock()

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # noqa: N802
        with self.lock:
            self.sessions += 1
        session.host_name = hostname
        return responses

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        with self.lock:
            self.messages += 1
            self.bytes += len(envelope.content or b"")
            self.last = time.time()
        return "250 OK"


def main() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    counter = Counter()
    controller = Controller(counter, hostname="127.0.0.1", port=port)
    controller.start()
    print(f"PORT {port}", flush=True)
    try:
        for _line in sys.stdin:
            with counter.lock:
                print(
                    f"{counter.messages} {counter.sessions} {counter.bytes} {counter.last:.6f}",
                    flush=True,
                )
    finally:
        controller.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
