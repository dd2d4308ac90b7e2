"""A JMA feed on 127.0.0.1 for the tests: http.server in a thread serving the fixtures.

``/feed.xml`` is the fixture feed (eqvol.xml) cut to the entries a test publishes, with an ETag
and Last-Modified that change when it does (a matching If-None-Match or If-Modified-Since gets
304); ``/data/<file>`` are the reports. Every request is recorded. Nothing leaves the machine."""

from __future__ import annotations

import re
import threading
import time
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

FIXTURES = Path(__file__).parent / "jma_fixtures"
HUGE = "VXSE53_huge.xml"
HUGE_BYTES = 6 * 1024 * 1024

_ENTRY = re.compile(r"<entry>.*?</entry>\n", re.S)


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def huge_report() -> bytes:
    """A well-formed VXSE53 padded past 6 MB with intensity stations."""
    text = fixture("VXSE53_5plus_osaka.xml").decode()
    head, tail = text.split("</City>", 1)
    station = (
        "<IntensityStation>\n<Name>大阪北区茶屋町＊</Name>\n<Code>2712731</Code>\n"
        "<Int>5+</Int>\n</IntensityStation>\n"
    )
    count = HUGE_BYTES // len(station.encode()) + 1
    return (head + station * count + "</City>" + tail).encode()


class JmaServer:
    def __init__(self) -> None:
        self.entries: list[str] = []
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.delays: dict[str, float] = {}  # path → seconds before answering
        self.etag = ""
        self.last_modified = ""
        self._version = 0
        self._lock = threading.Lock()
        self._feed = fixture("eqvol.xml").decode()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                server._answer(self)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def feed_url(self) -> str:
        return f"{self.base_url}/feed.xml"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # --- what the feed lists ------------------------------------------------------------
    def publish(self, *names: str, raw_entries: tuple[str, ...] = ()) -> None:
        """The feed now lists these fixtures (in eqvol.xml's order, newest first) and any raw
        ``<entry>`` elements; its validators change."""
        blocks = [b for b in _ENTRY.findall(self._feed) if any(f'"data/{n}"' in b for n in names)]
        missing = [n for n in names if not any(f'"data/{n}"' in b for b in blocks)]
        assert not missing, f"not in eqvol.xml: {missing}"
        with self._lock:
            self.entries = list(raw_entries) + blocks
            self._version += 1
            self.etag = f'"feed-v{self._version}"'
            self.last_modified = formatdate(1717200000 + 60 * self._version, usegmt=True)

    def feed_body(self) -> bytes:
        start = self._feed.index("<entry>")
        end = self._feed.rindex("</entry>\n") + len("</entry>\n")
        return (self._feed[:start] + "".join(self.entries) + self._feed[end:]).encode()

    # --- what was asked -----------------------------------------------------------------
    def hits(self, path: str) -> int:
        return sum(1 for p, _h in self.requests if p == path)

    def documents_requested(self) -> list[str]:
        return [p.removeprefix("/data/") for p, _h in self.requests if p.startswith("/data/")]

    # --- answering ----------------------------------------------------------------------
    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        path = handler.path
        with self._lock:
            self.requests.append((path, dict(handler.headers.items())))
        if path in self.delays:
            time.sleep(self.delays[path])
        if path == "/feed.xml":
            self._answer_feed(handler)
        elif path == f"/data/{HUGE}":
            handler.send_response(200)
            handler.send_header("Content-Type", "application/xml")
            handler.end_headers()  # no Content-Length: the size is only known by reading
            body = huge_report()
            for start in range(0, len(body), 256 * 1024):
                try:
                    handler.wfile.write(body[start : start + 256 * 1024])
                except (BrokenPipeError, ConnectionResetError):
                    return  # the poller stopped reading at its cap
        elif path.startswith("/data/") and (FIXTURES / path.removeprefix("/data/")).is_file():
            self._send(handler, 200, fixture(path.removeprefix("/data/")))
        else:
            self._send(handler, 404, b"not found")

    def _answer_feed(self, handler: BaseHTTPRequestHandler) -> None:
        with self._lock:
            etag, modified, body = self.etag, self.last_modified, self.feed_body()
        if_none_match = handler.headers.get("If-None-Match")
        if_modified = handler.headers.get("If-Modified-Since")
        if if_none_match is not None:
            fresh = if_none_match == etag
        elif if_modified is not None:
            fresh = parsedate_to_datetime(if_modified) >= parsedate_to_datetime(modified)
        else:
            fresh = False
        if fresh:
            handler.send_response(304)
            handler.send_header("ETag", etag)
            handler.end_headers()
            return
        self._send(handler, 200, body, {"ETag": etag, "Last-Modified": modified})

    @staticmethod
    def _send(handler, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", "application/xml")
        handler.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            handler.send_header(key, value)
        handler.end_headers()
        handler.wfile.write(body)
