"""Personal answer links: ``/s/<request id>.<tag>/`` with tag = HMAC-SHA256(secret key,
"safety-answer:<request id>:<nonce>") truncated to 128 bits, base32. Unguessable without the
server's key, valid for that one request of one round, revoked by giving the request a new nonce;
nothing secret is stored, so links can be built again for every re-send."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from django.conf import settings

TAG_BYTES = 16


def new_nonce() -> str:
    return secrets.token_hex(16)


def _tag(request_id: int, nonce: str) -> str:
    mac = hmac.new(
        settings.SECRET_KEY.encode(),
        f"safety-answer:{request_id}:{nonce}".encode(),
        hashlib.sha256,
    ).digest()[:TAG_BYTES]
    return base64.b32encode(mac).decode().rstrip("=").lower()


def link_token(*, request_id: int, nonce: str) -> str:
    return f"{request_id}.{_tag(request_id, nonce)}"


def link_parse(token: str) -> tuple[int, str] | None:
    """(request id, tag) from a token, or None if it cannot be one."""
    head, _sep, tag = (token or "").partition(".")
    if not head.isdigit() or len(head) > 18 or not tag or len(tag) > 40:
        return None
    return int(head), tag


def link_matches(*, request_id: int, nonce: str, tag: str) -> bool:
    return hmac.compare_digest(_tag(request_id, nonce), tag)
