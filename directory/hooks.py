"""Access changes: the directory says whose access changed; apps above it decide what it means.

The directory is the bottom of the app order (apps depend one way: upwards) and never
imports an app above it, not even inside a function. Its services call ``access_changed`` when a
post changes hands (``services.post_assign_holder``), accounts are closed
(``services.user_accounts_close``) or a session signs out (``services.session_ended``). An app
above registers a listener in its ``AppConfig.ready()``::

    from directory import hooks

    class ChatConfig(AppConfig):
        def ready(self) -> None:
            hooks.access_listener(memberships_on_access_change)

Listeners run synchronously, in registration order, inside the service's transaction: an
exception in a listener propagates and rolls the service's writes back. A listener that pushes
to clients (websockets, tasks) defers that to ``transaction.on_commit`` itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class AccessChange:
    """A person's access changed; apps above the directory decide what it means for them."""

    reason: str  # one of the REASON_* constants below
    user_ids: tuple[int, ...] = ()
    post_id: int | None = None
    session_key: str | None = None


# post_id's holder changed; user_ids = previous and new holder's user ids (those with accounts)
REASON_POST_HOLDER = "post_holder"
REASON_DEACTIVATED = "deactivated"  # these accounts were closed
REASON_SIGNED_OUT = "signed_out"  # one session (session_key) of user_ids' one signed out


Listener = Callable[[AccessChange], None]

_listeners: list[Listener] = []


def access_listener(fn: Callable[[AccessChange], None]) -> Callable[[AccessChange], None]:
    """Register a listener (call from an AppConfig.ready()); registering the same function
    twice is a no-op. Returns fn."""
    if fn not in _listeners:
        _listeners.append(fn)
    return fn


def access_listener_remove(fn: Callable[[AccessChange], None]) -> None:
    """Unregister a listener; one that is not registered is ignored.

    For tests, which register a listener of their own and must remove it afterwards so it does
    not outlive the test. Apps register once in ``ready()`` and never remove.
    """
    if fn in _listeners:
        _listeners.remove(fn)


def access_changed(change: AccessChange) -> None:
    """Tell every listener, in registration order. Called inside the service's transaction;
    listeners that push to clients must defer to transaction.on_commit themselves."""
    for fn in tuple(_listeners):  # a listener that registers another does not disturb the loop
        fn(change)
