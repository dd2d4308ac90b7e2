"""Safety tells the apps above it that a real disaster was declared (drills stop or pause),
without naming them: they register a listener in their AppConfig.ready()."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .models import Incident

_listeners: list[Callable[[Incident], None]] = []


def incident_listener(fn: Callable[[Incident], None]) -> Callable[[Incident], None]:
    if fn not in _listeners:
        _listeners.append(fn)
    return fn


def incident_declared(incident: Incident) -> None:
    """Called inside the declaration's transaction, for real (not exercise) incidents."""
    for fn in list(_listeners):
        fn(incident)
