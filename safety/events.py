"""Safety's live events."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, ClassVar

from realtime.events import Event, channel_group, send_event_now


@dataclass
class IncidentChanged(Event):
    """Disaster mode was declared, changed level or ended: every page's banner follows."""

    type: ClassVar[str] = "incident.changed"
    incident: dict[str, Any]


@dataclass
class SafetyChanged(Event):
    """Answers or check-ins of a round changed; watching pages coalesce and re-read. ``at``:
    when the change was committed (epoch seconds); totals computed from then on include it."""

    type: ClassVar[str] = "safety.changed"
    to_client: ClassVar[bool] = False
    round: int
    at: float = 0.0


# --- coalesced per process --------------------------------------------------------------------
# At 500 answers a second a publish per answer would be 500 Redis messages a second for every
# server process to relay, and a thread hop per answer; the screens want at most one a second.
COALESCE_SECONDS = 0.25
_lock = threading.Lock()
_last: dict[int, float] = {}  # round -> when this process last published (monotonic)
_due: dict[int, float] = {}  # round -> the latest commit time a scheduled publish will carry


def round_changed(round_id: int, *, at: float) -> None:
    """After commit: tell the round's screens that something committed at ``at`` (epoch
    seconds). Each process publishes at most once per COALESCE_SECONDS per round: the first
    change at once, the ones after it as one trailing publish carrying the latest ``at``, so
    the last answers of a burst are never left unannounced."""
    now = time.monotonic()
    with _lock:
        if round_id in _due:  # a trailing publish is coming: it carries this change too
            _due[round_id] = max(_due[round_id], at)
            return
        wait = _last.get(round_id, -COALESCE_SECONDS) + COALESCE_SECONDS - now
        if wait > 0:
            _due[round_id] = at
            timer = threading.Timer(wait, _trailing, args=(round_id,))
            timer.daemon = True
            timer.start()
            return
        _last[round_id] = now
    _publish(round_id, at)


def _trailing(round_id: int) -> None:
    with _lock:
        at = _due.pop(round_id)
        _last[round_id] = time.monotonic()
    _publish(round_id, at)


def _publish(round_id: int, at: float) -> None:
    send_event_now(SafetyChanged(round=round_id, at=at), groups=[channel_group("sround", round_id)])
