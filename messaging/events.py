"""Messaging's live events (the base, the group-name builder and the after-commit sender are in
realtime/events.py). Each has a fixed dotted ``type``; events with ``to_client`` travel
pre-serialised and reach the browser unchanged, the others have a handler in sockets.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from realtime.events import Event


@dataclass
class MessageNew(Event):
    type: ClassVar[str] = "message.new"
    group: int
    message: dict[str, Any]


@dataclass
class MessageUpdate(Event):
    type: ClassVar[str] = "message.update"
    group: int
    message: dict[str, Any]


@dataclass
class ReceiptChanged(Event):
    """Receipts of these messages changed; watching consumers coalesce and re-count."""

    type: ClassVar[str] = "receipt.changed"
    to_client: ClassVar[bool] = False
    group: int
    messages: list[int] = field(default_factory=list)


@dataclass
class UnreadChanged(Event):
    """The person's unread count in a group, sent to their own sockets: the group list sets its
    badge from it instead of every phone re-fetching the page."""

    type: ClassVar[str] = "unread.changed"
    group: int
    unread: int = 0


@dataclass
class MembershipChanged(Event):
    type: ClassVar[str] = "membership.changed"
    to_client: ClassVar[bool] = False
    group: int


@dataclass
class ChaseChanged(Event):
    """The escalation state of an instruction changed; watchers re-read it."""

    type: ClassVar[str] = "chase.changed"
    group: int
    message: int
