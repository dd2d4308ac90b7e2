"""The core's own frame and event handlers, and its listener for the directory's access hook."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from directory import hooks

from .events import SessionEnd, channel_group, send_event_on_commit, session_tag

if TYPE_CHECKING:
    from .consumers import RealtimeConsumer


async def on_ping(socket: RealtimeConsumer, frame: dict, ref: Any) -> None:
    await socket.send_json({"type": "pong", "ref": ref})


async def on_session_end(socket: RealtimeConsumer, event: dict) -> None:
    if event.get("session") and event["session"] != socket.session:
        return  # another of the person's sessions signed out
    await socket.close(code=4403)


def on_access_changed(change: hooks.AccessChange) -> None:
    """A sign-out closes that session's websockets (the person's other devices stay); a closed
    account closes all of its websockets."""
    if change.reason == hooks.REASON_SIGNED_OUT and change.session_key:
        send_event_on_commit(
            SessionEnd(reason="signed_out", session=session_tag(change.session_key)),
            groups=[channel_group("usr", uid) for uid in change.user_ids],
        )
    elif change.reason == hooks.REASON_DEACTIVATED and change.user_ids:
        send_event_on_commit(
            SessionEnd(reason="deactivated"),
            groups=[channel_group("usr", uid) for uid in change.user_ids],
        )
