"""The in-app channel's live event: the banner on whatever page the person has open."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from realtime.events import Event


@dataclass
class Reminder(Event):
    """A notification for you (a reminder, a hand-over to you as a deputy, a report …).
    ``message`` is the id of what it is about (0: nothing); the banner opens it through
    ``/notifications/<id>/open/``."""

    type: ClassVar[str] = "reminder"
    notification: int
    kind: str
    message: int
