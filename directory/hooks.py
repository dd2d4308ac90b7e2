"""Directory tells higher apps that a person's access changed, without naming them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

REASON_POST_HOLDER = "post_holder"
REASON_DEACTIVATED = "deactivated"
REASON_SIGNED_OUT = "signed_out"


@dataclass(frozen=True)
class AccessChange:
    """A person's access changed; apps above the directory decide what it means for them."""

    reason: str
    user_ids: tuple[int, ...] = ()
    post_id: int | None = None
    session_key: str | None = None


_listeners: list[Callable[[AccessChange], None]] = []


def access_listener(fn: Callable[[AccessChange], None]) -> Callable[[AccessChange], None]:
    if fn not in _listeners:
        _listeners.append(fn)
    return fn


def access_changed(change: AccessChange) -> None:
    for fn in list(_listeners):
        fn(change)
