"""The time escalation runs on. In tests (HONBU_CLOCK_CONTROLLABLE) an offset kept in Redis moves
"now" forward for the test process and the real Celery worker alike, so a five-minute policy
can be tested without waiting five minutes. In production it is plain timezone.now()."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

OFFSET_KEY = "honbu:clock:offset-seconds"


def now() -> datetime:
    if getattr(settings, "HONBU_CLOCK_CONTROLLABLE", False):
        try:
            offset = float(cache.get(OFFSET_KEY) or 0)
        except Exception:  # noqa: BLE001 - a test with Redis away runs on real time
            offset = 0.0
        return timezone.now() + timedelta(seconds=offset)
    return timezone.now()


def advance(seconds: float) -> None:
    if not getattr(settings, "HONBU_CLOCK_CONTROLLABLE", False):
        raise RuntimeError("the clock is only controllable in tests")
    cache.set(OFFSET_KEY, float(cache.get(OFFSET_KEY) or 0) + seconds, timeout=None)


def reset() -> None:
    cache.delete(OFFSET_KEY)
