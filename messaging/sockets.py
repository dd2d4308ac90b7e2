"""Messaging on the one websocket: the frames it owns (sync, send, read, ack, edit, delete,
counts), the events it handles (membership and receipt changes), and what a socket joins at
connect. Registered in apps.py; thin: validate, check permission through a selector, call one
service, answer. Frames and errors are documented in docs/event-flow.md."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone, translation
from django.utils.translation import gettext_lazy

from realtime.batching import batcher
from realtime.consumers import RealtimeConsumer as Socket
from realtime.db import database_sync_to_async
from realtime.events import channel_group
from realtime.frames import (
    ERR_FORBIDDEN,
    FrameError,
    call_service,
    dict_field,
    int_field,
    str_field,
    uuid_field,
)
from realtime.registry import Joined

from . import selectors, services
from .models import CommandGroup, GroupMembership, Message
from .rendering import message_dict

log = logging.getLogger(__name__)

HISTORY_PAGE = 200
COUNT_FLUSH_SECONDS = 0.25  # receipt counts reach a watching page at most ~4 times a second
READS_IN_FLIGHT = 16
ACKS_IN_FLIGHT = 16
APP = "messaging"

ERR_NO_GROUP = gettext_lazy("No such group, or you are not a member.")
ERR_NO_MESSAGE = gettext_lazy("No such message.")


@dataclass
class SocketState:
    """Messaging's slot on one socket."""

    group_ids: set[int] = field(default_factory=set)
    reads: set[asyncio.Task] = field(default_factory=set)  # read frames waiting for their batch
    acks: set[asyncio.Task] = field(default_factory=set)  # 了解 frames waiting for their batch
    pending_counts: set[int] = field(default_factory=set)
    flush_task: asyncio.Task | None = None


def _state(socket: Socket) -> SocketState:
    return socket.state[APP]


# --- connect / disconnect ------------------------------------------------------------------
def load_membership(user) -> tuple[list[int], list[int]]:
    """The groups a socket joins and those it watches as a commander: one query. At connect it
    runs in the same database hop as the session and the user (realtime/auth.py)."""
    roles = selectors.user_group_roles(user=user)
    commander = GroupMembership.Role.COMMANDER
    return list(roles), [g for g, role in roles.items() if role == commander]


_membership = database_sync_to_async(load_membership)


def _group_channels(group_ids: list[int], watch_ids: list[int]) -> list[str]:
    return [channel_group("grp", g) for g in group_ids] + [
        channel_group("watch", g) for g in watch_ids
    ]


async def on_connect(socket: Socket) -> Joined:
    loaded = socket.preloaded(APP)
    group_ids, watch_ids = loaded if loaded is not None else await _membership(socket.user)
    socket.state[APP] = SocketState(group_ids=set(group_ids))
    return Joined(groups=_group_channels(group_ids, watch_ids), hello={"groups": group_ids})


async def on_disconnect(socket: Socket) -> None:
    state = _state(socket)
    if state.flush_task is not None:
        state.flush_task.cancel()
    for task in [*state.reads, *state.acks]:  # their batches still commit; only the answer
        task.cancel()  # is dropped


# --- lookups (the same selectors as the views) ---------------------------------------------
@database_sync_to_async
def _group_for(user, frame: dict) -> CommandGroup:
    group, _role = selectors.group_and_role(user=user, group_id=int_field(frame, "group"))
    if group is None:
        raise FrameError("not_found", str(ERR_NO_GROUP))
    return group


@database_sync_to_async
def _message_for(user, frame: dict) -> Message:
    message = selectors.message_for_member(user=user, message_id=int_field(frame, "message"))
    if message is None:
        raise FrameError("not_found", str(ERR_NO_MESSAGE))
    return message


# --- client → server -----------------------------------------------------------------------
async def on_sync(socket: Socket, frame: dict, ref: Any) -> None:
    """Everything after the client's last sequence number (reconnect / gap catch-up).

    Membership from the set loaded at connect, moments before on a reconnect, and kept fresh
    by membership.changed (like ``read``): the same set decides which groups' live messages
    this socket receives, so asking it again here would guard nothing more. Every page of a
    reconnect storm sends this right after hello: one hop, no membership query."""
    gid = int_field(frame, "group")
    after = int_field(frame, "after_seq")
    if gid not in _state(socket).group_ids:
        raise FrameError("not_found", str(ERR_NO_GROUP))
    body = await _history(gid, after)
    # The frame is {"type": "history", "ref": …, **body}, serialised without parsing the body.
    head = json.dumps({"type": "history", "ref": ref}, ensure_ascii=False, default=str)
    await socket.send(text_data=f"{head[:-1]}, {body[1:]}")


class _Histories:
    """The last catch-up answers of this process, serialised, by group, number and the state
    they were read in (``selectors.history_state``: the group's creation, last number, and
    latest edit and deletion in the page). After a network blip every page of the group asks
    for the same few messages at once; the first reads and renders them, the others get the
    same text after one small query (bench/connect_storm.py, issue 14). A new message, an edit
    or a deletion changes the state, so nothing stale is served; the group's creation keeps
    two groups apart that got the same id (a rolled-back test's on SQLite)."""

    SIZE = 256

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.texts: OrderedDict[tuple, str] = OrderedDict()

    def get(self, key: tuple) -> str | None:
        with self.lock:
            text = self.texts.get(key)
            if text is not None:
                self.texts.move_to_end(key)
            return text

    def put(self, key: tuple, text: str) -> None:
        with self.lock:
            self.texts[key] = text
            while len(self.texts) > self.SIZE:
                self.texts.popitem(last=False)


_histories = _Histories()


@database_sync_to_async
def _history(group_id: int, after: int) -> str:
    state = selectors.history_state(group_id=group_id, after_seq=after, limit=HISTORY_PAGE)
    if state is None:
        raise FrameError("not_found", str(ERR_NO_GROUP))
    group, version = state
    key = (group_id, after, *version)
    text = _histories.get(key)
    if text is None:
        found = selectors.history_rows(group=group, after_seq=after, limit=HISTORY_PAGE)
        rows, last_seq = found.messages, group.last_seq
        data = {
            "group": group_id,
            "messages": [message_dict(m, found.attachments.get(m.pk, [])) for m in rows],
            "last_seq": last_seq,
            "more": bool(rows) and rows[-1].seq < last_seq,
        }
        text = json.dumps(data, ensure_ascii=False, default=str)
        _histories.put(key, text)
    return text


async def on_send(socket: Socket, frame: dict, ref: Any) -> None:
    group = await _group_for(socket.user, frame)
    client_id = str_field(frame, "client_id")
    fields = {
        "body": str_field(frame, "body", default=""),
        "kind": str_field(frame, "kind", default="message"),
        "priority": str_field(frame, "priority", default="normal"),
        "requires_ack": bool(frame.get("requires_ack", False)),
        "reply_to_id": int_field(frame, "reply_to", required=False),
        # An instruction's own escalation policy (validated by the service), or the group's.
        "escalation": dict_field(frame, "escalation"),
    }
    result = await call_service(
        services.message_send,
        group=group,
        sender=socket.user,
        client_id=uuid_field(frame, "client_id"),
        **fields,
    )
    await socket.send_json(
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


async def on_read(socket: Socket, frame: dict, ref: Any) -> None:
    # Membership from the set loaded at connect (kept fresh by membership.changed): a read
    # only ever touches the reader's own receipts, so no query is needed per frame.
    state = _state(socket)
    gid = int_field(frame, "group")
    if gid not in state.group_ids:
        raise FrameError("not_found", str(ERR_NO_GROUP))
    up_to = int_field(frame, "up_to_seq")
    # Answered when its batch commits, without holding up this socket's next frames: a
    # phone catching up sends several reads in a row, and each would otherwise wait a whole
    # batch cycle before the next is even looked at. At most READS_IN_FLIGHT per socket.
    while len(state.reads) >= READS_IN_FLIGHT:
        await asyncio.wait(state.reads, return_when=asyncio.FIRST_COMPLETED)
    task = asyncio.ensure_future(_read(socket, gid, up_to, ref))
    state.reads.add(task)
    task.add_done_callback(state.reads.discard)


def _write_reads(items) -> None:
    services.receipts_mark_read_bulk(items=items)


async def _read(socket: Socket, gid: int, up_to: int, ref: Any) -> None:
    try:
        await batcher("messaging.reads", _write_reads).add((socket.user.pk, gid, up_to))
    except Exception:
        log.exception("read batch failed")
        await socket.server_error(ref)
        return
    await socket.send_json({"type": "read_ok", "ref": ref, "group": gid, "up_to_seq": up_to})


async def on_ack(socket: Socket, frame: dict, ref: Any) -> None:
    """了解, written in batches like reads: 2,000 members tapping at once are one transaction
    per batch per server process, not 2,000. The tap's time is taken here, as it arrives;
    membership comes from the socket's group list (as for reads), and whether the person was
    addressed, is not an observer, and the message asks for 了解 is checked per item in the
    batch. The answer (``ack_ok`` or an error frame) follows once the batch has committed; a
    socket that goes before that gets none, and its page sends the 了解 again."""
    state = _state(socket)
    message_id = int_field(frame, "message")
    item = services.AckItem(
        user_id=socket.user.pk, message_id=message_id, at=timezone.now(), group_ids=state.group_ids
    )
    while len(state.acks) >= ACKS_IN_FLIGHT:
        await asyncio.wait(state.acks, return_when=asyncio.FIRST_COMPLETED)
    task = asyncio.ensure_future(_ack(socket, item, ref))
    state.acks.add(task)
    task.add_done_callback(state.acks.discard)


def _write_acks(items) -> list[str | None]:
    return services.receipts_acknowledge_bulk(items=items)


_ACK_ERRORS = {
    services.AckRefused.NOT_FOUND: ("not_found", ERR_NO_MESSAGE),
    services.AckRefused.NOT_RECIPIENT: ("forbidden", services.ERR_NOT_RECIPIENT),
    services.AckRefused.OBSERVER: ("forbidden", services.ERR_OBSERVER_ACK),
    services.AckRefused.NOT_REQUESTED: ("invalid", services.ERR_NO_ACK_REQUESTED),
    services.AckRefused.DELETED: ("invalid", services.ERR_DELETED),
}


async def _ack(socket: Socket, item: services.AckItem, ref: Any) -> None:
    try:
        refused = await batcher("messaging.acks", _write_acks).add(item)
    except Exception:
        log.exception("ack batch failed")
        await socket.server_error(ref)
        return
    if refused is None:
        await socket.send_json({"type": "ack_ok", "ref": ref, "message": item.message_id})
        return
    code, message = _ACK_ERRORS[refused]
    with translation.override(socket.language):  # answered outside receive()'s override
        text = str(message)
    await socket.send_json({"type": "error", "code": code, "message": text, "ref": ref})


async def on_edit(socket: Socket, frame: dict, ref: Any) -> None:
    message = await _message_for(socket.user, frame)
    await call_service(
        services.message_edit, message=message, editor=socket.user, body=str_field(frame, "body")
    )
    await socket.send_json({"type": "edit_ok", "ref": ref, "message": message.pk})


async def on_delete(socket: Socket, frame: dict, ref: Any) -> None:
    message = await _message_for(socket.user, frame)
    await call_service(services.message_delete, message=message, actor=socket.user)
    await socket.send_json({"type": "delete_ok", "ref": ref, "message": message.pk})


async def on_counts(socket: Socket, frame: dict, ref: Any) -> None:
    message = await _message_for(socket.user, frame)
    allowed = await database_sync_to_async(selectors.user_can_see_receipts)(
        user=socket.user, message=message
    )
    if not allowed:
        raise FrameError("forbidden", str(ERR_FORBIDDEN))
    await _send_counts(socket, [message.pk], ref=ref)


FRAMES = {
    "sync": on_sync,
    "send": on_send,
    "read": on_read,
    "ack": on_ack,
    "edit": on_edit,
    "delete": on_delete,
    "counts": on_counts,
}


# --- channel layer → socket ----------------------------------------------------------------
async def on_membership_changed(socket: Socket, event: dict) -> None:
    """Re-read memberships: join new groups and LEAVE groups this person is no longer in
    (removed, or their post passed to someone else), so they receive nothing more."""
    group_ids, watch_ids = await _membership(socket.user)
    _state(socket).group_ids = set(group_ids)
    wanted = set(_group_channels(group_ids, watch_ids))
    for name in [n for n in socket.joined if n.startswith(("honbu.grp.", "honbu.watch."))]:
        if name not in wanted:
            await socket.leave(name)
    await socket.join(sorted(wanted))
    await socket.send_json({"type": "groups", "groups": group_ids})


async def on_receipt_changed(socket: Socket, event: dict) -> None:
    # Coalesce: remember which messages changed and re-count a moment later, so a
    # 2,000-member group reading at once gives this page a few updates a second, not 2,000.
    state = _state(socket)
    state.pending_counts.update(event["messages"])
    if state.flush_task is None or state.flush_task.done():
        state.flush_task = asyncio.ensure_future(_flush_counts(socket))


async def _flush_counts(socket: Socket) -> None:
    # Loop until nothing is pending: changes that arrive while a count is being read must
    # not wait for some later event (at the end of a burst there is none).
    state = _state(socket)
    while state.pending_counts:
        await asyncio.sleep(COUNT_FLUSH_SECONDS)
        ids, state.pending_counts = sorted(state.pending_counts), set()
        await _send_counts(socket, ids)


async def _send_counts(socket: Socket, ids: list[int], ref: Any = None) -> None:
    counts = await database_sync_to_async(selectors.receipt_counts)(message_ids=ids)
    await socket.send_json(
        {
            "type": "receipt.counts",
            "ref": ref,
            "counts": [
                {"message": c.message_id, "total": c.total, "read": c.read, "acked": c.acked}
                for c in counts
            ],
        }
    )


EVENTS = {"membership.changed": on_membership_changed, "receipt.changed": on_receipt_changed}
