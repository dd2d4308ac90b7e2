"""The disaster banner on every signed-in page (static/js/disaster.js keeps it live)."""

from __future__ import annotations

import json

from . import selectors


def disaster(request) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    banner = selectors.incident_banner()
    return {"INCIDENT": banner, "INCIDENT_JSON": json.dumps(banner or {}, ensure_ascii=False)}
