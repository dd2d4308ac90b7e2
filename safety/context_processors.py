"""The disaster banner on every signed-in page (static/js/disaster.js keeps it live)."""

from __future__ import annotations

from django.utils.functional import SimpleLazyObject

from . import selectors


def disaster(request) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    # Lazy: a partial page that does not show the banner costs nothing.
    return {"INCIDENT": SimpleLazyObject(lambda: selectors.incident_banner() or {})}
