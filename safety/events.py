"""Safety's live events."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from realtime.events import Event


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
