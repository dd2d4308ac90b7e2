"""The VAPID key pair that signs Web Push messages: from HONBU_VAPID_PRIVATE_KEY, or a file in
var/ that ``manage.py vapid_keys`` writes (one server; several servers share the env key)."""

from __future__ import annotations

import base64
from functools import lru_cache
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from django.conf import settings
from py_vapid import Vapid


def vapid_file() -> Path:
    return Path(settings.VAR_DIR) / "vapid_private.pem"


def vapid_generate(*, path: Path | None = None) -> Path:
    path = path or vapid_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    vapid = Vapid()
    vapid.generate_keys()
    path.write_bytes(vapid.private_pem())
    path.chmod(0o600)
    vapid_keys.cache_clear()
    return path


@lru_cache(maxsize=1)
def vapid_keys() -> tuple[Vapid | None, str]:
    """(Vapid instance, public key as the browser's applicationServerKey), or (None, "")."""
    if settings.HONBU_VAPID_PRIVATE_KEY:
        vapid = Vapid.from_string(settings.HONBU_VAPID_PRIVATE_KEY)
    elif vapid_file().exists():
        vapid = Vapid.from_pem(vapid_file().read_bytes())
    else:
        return None, ""
    raw = vapid.public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return vapid, base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
