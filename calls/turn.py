"""ICE servers for a call: STUN from HONBU_ICE_SERVERS and TURN with coturn's REST API
credentials (``use-auth-secret``): ``username = "<expiry>:<user id>"`` and
``credential = base64(HMAC-SHA1(static-auth-secret, username))``. They are made for each call
and travel only in the signalling frames; no page ever holds a TURN password, and a leaked one
stops working when it expires (HONBU_TURN_TTL_SECONDS)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

SCHEMES = ("stun:", "stuns:", "turn:", "turns:")


def _urls(value: Any) -> list[str]:
    urls = [value] if isinstance(value, str) else value
    if not isinstance(urls, list) or not urls or not all(isinstance(u, str) for u in urls):
        raise ImproperlyConfigured("HONBU_ICE_SERVERS: every entry needs 'urls' (a string or list)")
    for url in urls:
        if not url.startswith(SCHEMES):
            raise ImproperlyConfigured(f"HONBU_ICE_SERVERS: not a STUN/TURN address: {url!r}")
    return urls


def static_servers() -> list[dict[str, Any]]:
    """HONBU_ICE_SERVERS, checked: a list of {"urls": ...}. A static TURN password is refused
    (use HONBU_TURN_SECRET): it would reach every browser and never expire."""
    configured = settings.HONBU_ICE_SERVERS or []
    if not isinstance(configured, list):
        raise ImproperlyConfigured("HONBU_ICE_SERVERS must be a JSON list")
    out = []
    for entry in configured:
        if not isinstance(entry, dict):
            raise ImproperlyConfigured("HONBU_ICE_SERVERS: every entry must be an object")
        if "credential" in entry or "username" in entry:
            raise ImproperlyConfigured(
                "HONBU_ICE_SERVERS must not hold TURN passwords; set HONBU_TURN_SECRET and "
                "HONBU_TURN_URLS (coturn's use-auth-secret) instead"
            )
        out.append({"urls": _urls(entry.get("urls"))})
    return out


def turn_credentials(*, user_id: int, now: float | None = None) -> dict[str, Any] | None:
    """Time-limited TURN credentials for one person (None when TURN is not configured)."""
    secret, urls = settings.HONBU_TURN_SECRET, list(settings.HONBU_TURN_URLS)
    if not secret or not urls:
        return None
    expiry = int(now if now is not None else time.time()) + settings.HONBU_TURN_TTL_SECONDS
    username = f"{expiry}:{user_id}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return {
        "urls": _urls(urls),
        "username": username,
        "credential": base64.b64encode(digest).decode("ascii"),
    }


def ice_servers(*, user_id: int) -> list[dict[str, Any]]:
    """What a page passes to ``new RTCPeerConnection({iceServers})`` for this call."""
    servers = static_servers()
    turn = turn_credentials(user_id=user_id)
    if turn is not None:
        servers.append(turn)
    return servers
