"""Calls' live events (the base and the after-commit sender are in realtime/events.py). All of
them travel pre-serialised and reach the browser unchanged.

- ``call.ring``: to the callee's own sockets (``usr``): every open page shows the ringing screen.
- ``call.state``: the call as it is now (``selectors.call_payload``), with a ``version`` that
  only grows: a one-to-one call's to both people's sockets (so every page and device stops
  ringing), a conference's to the sockets watching it (``honbu.call.<id>``).
- ``call.conference``: a conference started or ended in a group (``grp``: every member's page
  offers to join)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from realtime.events import Event


@dataclass
class CallRing(Event):
    type: ClassVar[str] = "call.ring"
    call: int
    caller: str
    caller_post: str
    url: str
    ring_until: str


@dataclass
class CallState(Event):
    type: ClassVar[str] = "call.state"
    call: int
    state: dict[str, Any]


@dataclass
class ConferenceChanged(Event):
    type: ClassVar[str] = "call.conference"
    group: int
    call: int
    live: bool
    group_name: str
    started_by: str
    url: str
