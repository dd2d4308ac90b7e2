"""Downloading the feed and its reports: a conditional GET for the feed, a hard cap on size
(counted while reading, whatever Content-Length says) and on time (the whole download, checked
between reads that each wait at most the same time: a server sending a byte now and then is cut
off after about twice the limit), no redirects, no compression (nothing to inflate)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests

USER_AGENT = "Honbu (disaster headquarters intranet) JMA feed poller"
CHUNK = 64 * 1024


class FetchError(Exception):
    """The network, the server or a limit failed us: try again on the next tick."""


class TooLarge(FetchError):
    """Over the size cap: the document is refused, not retried."""


@dataclass(frozen=True)
class Fetched:
    status: int  # 200 or 304
    body: bytes = b""
    etag: str = ""
    last_modified: str = ""


def same_origin(url: str, other: str) -> bool:
    a, b = urlsplit(url), urlsplit(other)
    return (a.scheme, a.netloc) == (b.scheme, b.netloc)


def fetch(
    url: str,
    *,
    max_bytes: int,
    timeout: float,
    etag: str = "",
    last_modified: str = "",
    session: requests.Session | None = None,
) -> Fetched:
    if urlsplit(url).scheme not in ("http", "https"):
        raise FetchError(f"not an http(s) address: {url[:80]}")
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    deadline = time.monotonic() + timeout
    getter = session or requests
    try:
        with getter.get(
            url, headers=headers, timeout=timeout, stream=True, allow_redirects=False
        ) as response:
            if response.status_code == 304:
                return Fetched(304, etag=etag, last_modified=last_modified)
            if response.status_code != 200:
                raise FetchError(f"HTTP {response.status_code}")
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise TooLarge(f"too large: {declared} bytes declared, the limit is {max_bytes}")
            chunks, size = [], 0
            while chunk := response.raw.read1(CHUNK, decode_content=True):
                size += len(chunk)
                if size > max_bytes:
                    raise TooLarge(f"too large: over {max_bytes} bytes")
                if time.monotonic() > deadline:
                    raise FetchError(f"took longer than {timeout:g} s")
                chunks.append(chunk)
            return Fetched(
                200,
                b"".join(chunks),
                etag=response.headers.get("ETag", "")[:200],
                last_modified=response.headers.get("Last-Modified", "")[:100],
            )
    except requests.RequestException as exc:
        raise FetchError(f"{type(exc).__name__}: {str(exc)[:200]}") from None
