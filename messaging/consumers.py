"""The one websocket per page. Thin: parse and validate a frame, check permission through a
selector, call one service, answer. Frames and errors are documented in docs/event-flow.md."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async as _database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from . import events, selectors, services
from .batching import read_batcher
from .fanout import local_fanout
from .models import CommandGroup, Message
from .rendering import message_dict

log = logging.getLogger(__name__)

MAX_FRAME_BYTES = 16 * 1024
HISTORY_PAGE = 200
COUNT_FLUSH_SECONDS = 0.25  # receipt counts reach a watching page at most ~4 times a second
READS_IN_FLIGHT = 16
RELAYED = "honbu.grp."  # broadcast groups: one relay per process (fanout.py), not one per socket

ERR_MALFORMED = gettext_lazy("The frame is not valid JSON.")
ERR_TOO_LARGE = gettext_lazy("The frame is too large.")
ERR_UNKNOWN = gettext_lazy("Unknown frame type.")
ERR_BAD_FIELD = gettext_lazy("A field is missing or has the wrong type: %(field)s")
ERR_NO_GROUP = gettext_lazy("No such group, or you are not a member.")
ERR_NO_MESSAGE = gettext_lazy("No such message.")
ERR_FORBIDDEN = gettext_lazy("You are not allowed to do that.")


def database_sync_to_async(fn):
    """Database work on the thread pool, not the single "thread-sensitive" thread: otherwise
    every socket of a server process waits in one queue (2,000 phones reading at once)."""
    return _database_sync_to_async(fn, thread_sensitive=False)


class FrameError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def _int(frame: dict, name: str, *, required: bool = True) -> int | None:
    value = frame.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise FrameError("bad_request", str(ERR_BAD_FIELD) % {"field": name})
    return value


def _str(frame: dict, name: str, *, default: str | None = None) -> str:
    value = frame.get(name, default)
    if not isinstance(value, str):
        raise FrameError("bad_request", str(ERR_BAD_FIELD) % {"field": name})
    return value


def _policy(frame: dict) -> dict | None:
    """An instruction's own escalation policy (validated by the service), or None for the
    group's default."""
    value = frame.get("escalation")
    if value is None:
        return None
    if not isinstance(value, dict) or len(value) > 10:
        raise FrameError("bad_request", str(ERR_BAD_FIELD) % {"field": "escalation"})
    return value


class HonbuConsumer(AsyncWebsocketConsumer):
    flush_task: asyncio.Task | None = None
    joined: frozenset[str] = frozenset()
    group_ids: frozenset[int] = frozenset()
    reads: frozenset[asyncio.Task] = frozenset()  # read frames waiting for their batch

    async def dispatch(self, message: dict) -> None:
        """channels' dispatch first runs ``close_old_connections`` on the one sync thread, for
        every message: a broadcast to the 1,000 sockets of a server process became 1,000 serial
        thread hops (bench/fanout.py: seconds of delay at 2,000 members). Every database call
        here goes through ``database_sync_to_async``, which closes old connections itself."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not user.is_active:
            await self.close(code=4401)
            return
        self.user = user
        self.language = user.language
        self.joined = set()
        self.reads = set()
        self.pending_counts: set[int] = set()
        self.flush_task: asyncio.Task | None = None
        group_ids, watch_ids = await self._membership()
        self.group_ids = set(group_ids)
        await self.accept()
        session = self.scope.get("session")
        session_key = getattr(session, "session_key", None)
        await self._join(
            ([events.channel_group("sess", session_key)] if session_key else [])
            + [events.channel_group("usr", user.pk)]
            + [events.channel_group("grp", g) for g in group_ids]
            + [events.channel_group("watch", g) for g in watch_ids]
        )
        await self._send({"type": "hello", "groups": group_ids})

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            # Also when the consumer died of an exception (then disconnect() is never called):
            # otherwise this process's relays would keep a dead socket for good.
            await self._leave_all()

    async def disconnect(self, code: int) -> None:
        await self._leave_all()

    async def _leave_all(self) -> None:
        if self.flush_task is not None:
            self.flush_task.cancel()
        for task in list(self.reads):  # their batches still commit; only the answer is dropped
            task.cancel()
        for name in list(self.joined):
            await self._leave(name)

    async def _join(self, names: list[str]) -> None:
        for name in names:
            if name not in self.joined:
                if name.startswith(RELAYED):
                    await local_fanout(self.channel_layer).join(name, self)
                else:
                    await self.channel_layer.group_add(name, self.channel_name)
                self.joined.add(name)

    async def _leave(self, name: str) -> None:
        if name.startswith(RELAYED):
            await local_fanout(self.channel_layer).leave(name, self)
        else:
            await self.channel_layer.group_discard(name, self.channel_name)
        self.joined.discard(name)

    @database_sync_to_async
    def _membership(self) -> tuple[list[int], list[int]]:
        roles = selectors.user_group_roles(user=self.user)
        return list(roles), [g for g, role in roles.items() if role == "commander"]

    # --- client → server ---------------------------------------------------------------------
    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        with translation.override(self.language):
            await self._receive(text_data, bytes_data)

    async def _receive(self, text_data: str | None, bytes_data: bytes | None) -> None:
        ref = None
        try:
            raw = (
                text_data
                if text_data is not None
                else (bytes_data or b"").decode("utf-8", "replace")
            )
            if len(raw.encode("utf-8")) > MAX_FRAME_BYTES:
                raise FrameError("too_large", str(ERR_TOO_LARGE))
            try:
                frame = json.loads(raw)
            except ValueError:
                raise FrameError("malformed", str(ERR_MALFORMED)) from None
            if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
                raise FrameError("malformed", str(ERR_MALFORMED))
            ref = frame.get("ref") if isinstance(frame.get("ref"), (str, int)) else None
            handler = self.HANDLERS.get(frame["type"])
            if handler is None:
                raise FrameError("unknown_type", str(ERR_UNKNOWN))
            await handler(self, frame, ref)
        except FrameError as exc:
            await self._send(
                {"type": "error", "code": exc.code, "message": exc.message, "ref": ref}
            )
        except Exception:  # the connection and the server survive a bug in one frame
            log.exception("websocket frame failed")
            await self._server_error(ref)

    @database_sync_to_async
    def _group_for(self, frame: dict, *, need: str = "read") -> CommandGroup:
        gid = _int(frame, "group")
        group = CommandGroup.objects.filter(pk=gid, is_active=True).first()
        if group is None or not selectors.user_can_read(user=self.user, group=group):
            raise FrameError("not_found", str(ERR_NO_GROUP))
        return group

    @database_sync_to_async
    def _message_for(self, frame: dict) -> Message:
        mid = _int(frame, "message")
        message = Message.objects.select_related("group").filter(pk=mid).first()
        if message is None or not selectors.user_can_read(user=self.user, group=message.group):
            raise FrameError("not_found", str(ERR_NO_MESSAGE))
        return message

    async def on_sync(self, frame: dict, ref: Any) -> None:
        """Everything after the client's last sequence number (reconnect / gap catch-up)."""
        group = await self._group_for(frame)
        after = _int(frame, "after_seq")
        data = await self._history(group, after)
        await self._send({"type": "history", "ref": ref, **data})

    @database_sync_to_async
    def _history(self, group: CommandGroup, after: int) -> dict[str, Any]:
        rows = selectors.messages_after(group=group, after_seq=after, limit=HISTORY_PAGE)
        return {
            "group": group.pk,
            "messages": [message_dict(m) for m in rows],
            "last_seq": group.last_seq,
            "more": bool(rows) and rows[-1].seq < group.last_seq,
        }

    async def on_send(self, frame: dict, ref: Any) -> None:
        group = await self._group_for(frame)
        client_id = _str(frame, "client_id")
        fields = {
            "body": _str(frame, "body", default=""),
            "kind": _str(frame, "kind", default="message"),
            "priority": _str(frame, "priority", default="normal"),
            "requires_ack": bool(frame.get("requires_ack", False)),
            "reply_to_id": _int(frame, "reply_to", required=False),
            "escalation": _policy(frame),
        }
        result = await self._call(
            services.message_send,
            group=group,
            sender=self.user,
            client_id=self._uuid(client_id),
            **fields,
        )
        await self._send(
            {
                "type": "sent",
                "ref": ref,
                "client_id": client_id,
                "id": result.message.pk,
                "seq": result.message.seq,
                "group": group.pk,
                "duplicate": not result.created,
            }
        )

    async def on_read(self, frame: dict, ref: Any) -> None:
        # Membership from the set loaded at connect (kept fresh by membership.changed): a read
        # only ever touches the reader's own receipts, so no query is needed per frame.
        gid = _int(frame, "group")
        if gid not in self.group_ids:
            raise FrameError("not_found", str(ERR_NO_GROUP))
        up_to = _int(frame, "up_to_seq")
        # Answered when its batch commits, without holding up this socket's next frames: a
        # phone catching up sends several reads in a row, and each would otherwise wait a whole
        # batch cycle before the next is even looked at. At most READS_IN_FLIGHT per socket.
        while len(self.reads) >= READS_IN_FLIGHT:
            await asyncio.wait(self.reads, return_when=asyncio.FIRST_COMPLETED)
        task = asyncio.ensure_future(self._read(gid, up_to, ref))
        self.reads.add(task)
        task.add_done_callback(self.reads.discard)

    async def _read(self, gid: int, up_to: int, ref: Any) -> None:
        try:
            await read_batcher().mark_read(user_id=self.user.pk, group_id=gid, up_to_seq=up_to)
        except Exception:
            log.exception("read batch failed")
            await self._server_error(ref)
            return
        await self._send({"type": "read_ok", "ref": ref, "group": gid, "up_to_seq": up_to})

    async def on_ack(self, frame: dict, ref: Any) -> None:
        message = await self._message_for(frame)
        await self._call(services.receipt_acknowledge, user=self.user, message=message)
        await self._send({"type": "ack_ok", "ref": ref, "message": message.pk})

    async def on_edit(self, frame: dict, ref: Any) -> None:
        message = await self._message_for(frame)
        await self._call(
            services.message_edit, message=message, editor=self.user, body=_str(frame, "body")
        )
        await self._send({"type": "edit_ok", "ref": ref, "message": message.pk})

    async def on_delete(self, frame: dict, ref: Any) -> None:
        message = await self._message_for(frame)
        await self._call(services.message_delete, message=message, actor=self.user)
        await self._send({"type": "delete_ok", "ref": ref, "message": message.pk})

    async def on_counts(self, frame: dict, ref: Any) -> None:
        message = await self._message_for(frame)
        allowed = await database_sync_to_async(selectors.user_can_see_receipts)(
            user=self.user, message=message
        )
        if not allowed:
            raise FrameError("forbidden", str(ERR_FORBIDDEN))
        await self._send_counts([message.pk], ref=ref)

    async def on_ping(self, frame: dict, ref: Any) -> None:
        await self._send({"type": "pong", "ref": ref})

    HANDLERS = {
        "sync": on_sync,
        "send": on_send,
        "read": on_read,
        "ack": on_ack,
        "edit": on_edit,
        "delete": on_delete,
        "counts": on_counts,
        "ping": on_ping,
    }

    @staticmethod
    def _uuid(value: str):
        import uuid

        try:
            return uuid.UUID(value)
        except ValueError:
            raise FrameError("bad_request", str(ERR_BAD_FIELD) % {"field": "client_id"}) from None

    async def _call(self, fn, **kwargs):
        try:
            return await database_sync_to_async(fn)(**kwargs)
        except PermissionDenied as exc:
            raise FrameError("forbidden", str(exc) or str(ERR_FORBIDDEN)) from None
        except ValidationError as exc:
            raise FrameError("invalid", " ".join(str(m) for m in exc.messages)) from None

    # --- server → client (channel-layer events, handler name = event type with "_") ----------
    async def message_new(self, event: dict) -> None:
        await self._forward(event)

    async def message_update(self, event: dict) -> None:
        await self._forward(event)

    async def unread_changed(self, event: dict) -> None:
        await self._forward(event)

    async def membership_changed(self, event: dict) -> None:
        """Re-read memberships: join new groups and LEAVE groups this person is no longer in
        (removed, or their post passed to someone else), so they receive nothing more."""
        group_ids, watch_ids = await self._membership()
        self.group_ids = set(group_ids)
        wanted = {events.channel_group("grp", g) for g in group_ids} | {
            events.channel_group("watch", g) for g in watch_ids
        }
        for name in [n for n in self.joined if n.startswith(("honbu.grp.", "honbu.watch."))]:
            if name not in wanted:
                await self._leave(name)
        await self._join(sorted(wanted))
        await self._send({"type": "groups", "groups": group_ids})

    async def reminder(self, event: dict) -> None:
        await self._forward(event)

    async def chase_changed(self, event: dict) -> None:
        await self._forward(event)

    async def session_end(self, event: dict) -> None:
        await self.close(code=4403)

    async def receipt_changed(self, event: dict) -> None:
        # Coalesce: remember which messages changed and re-count a moment later, so a
        # 2,000-member group reading at once gives this page a few updates a second, not 2,000.
        self.pending_counts.update(event["messages"])
        if self.flush_task is None or self.flush_task.done():
            self.flush_task = asyncio.ensure_future(self._flush_counts())

    async def _flush_counts(self) -> None:
        # Loop until nothing is pending: changes that arrive while a count is being read must
        # not wait for some later event (at the end of a burst there is none).
        while self.pending_counts:
            await asyncio.sleep(COUNT_FLUSH_SECONDS)
            ids, self.pending_counts = sorted(self.pending_counts), set()
            await self._send_counts(ids)

    async def _send_counts(self, ids: list[int], ref: Any = None) -> None:
        counts = await database_sync_to_async(selectors.receipt_counts)(message_ids=ids)
        await self._send(
            {
                "type": "receipt.counts",
                "ref": ref,
                "counts": [
                    {"message": c.message_id, "total": c.total, "read": c.read, "acked": c.acked}
                    for c in counts
                ],
            }
        )

    async def _server_error(self, ref: Any) -> None:
        # Also called from tasks that outlive receive()'s translation.override.
        with translation.override(self.language):
            message = _("Something went wrong. Please try again.")
        await self._send({"type": "error", "code": "server_error", "message": message, "ref": ref})

    async def _forward(self, event: dict) -> None:
        await self.send(text_data=event["text"])  # serialised once in events.py

    async def _send(self, data: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(data, ensure_ascii=False, default=str))
