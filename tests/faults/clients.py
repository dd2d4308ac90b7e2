"""Phones for the fault drills: websocket clients that speak Honbu's protocol the way the chat
page does (static/js/chat-live.js, chat-outbox.js) and write down every frame they see.

Like the page, a client
- connects to ``/ws/`` with its session cookie; on every (re)connect asks each of its groups
  for everything after the last sequence number it holds (``sync``), again while ``more`` or
  ``last_seq`` says there is more, and on a ``message.new`` that is not the next number (a gap);
- reconnects after a close with exponential backoff (1 s doubling to 15 s, as the page) and
  jitter (a random 50–150 % of the delay, so a server's worth of phones does not come back in
  the same millisecond);
- reports reads (``read`` up to the highest number it holds, 0.3 s after the last arrival) and
  sends them again after a reconnect until the server has said ``read_ok``;
- asks on every (re)connect for the in-app notifications after the newest it knows
  (``notifications.sync``, static/js/honbu.js) — reminders whose live event was lost;
- sends instructions through an outbox: each keeps its client id until ``sent`` answers, and is
  sent again on every reconnect (the server drops repeats by client id).

Every frame is recorded with the connection it came on (``Seen``) for the checker
(tests/faults/checker.py)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import uuid
from dataclasses import dataclass, field
from typing import Any

import websockets

BACKOFF_FIRST = 1.0  # seconds, as static/js/chat-live.js
BACKOFF_MAX = 15.0
READ_DELAY = 0.3


@dataclass(frozen=True)
class Seen:
    """One message as a client received it: on which connection, how (``message.new`` or a
    ``history`` page), its group, sequence number and id."""

    conn: int
    how: str
    group: int
    seq: int
    id: int


@dataclass
class Phone:
    """One signed-in page with a live socket."""

    url: str  # ws://host:port/ws/
    session_key: str
    user_id: int
    groups: list[int]
    last_seq: dict[int, int] = field(default_factory=dict)  # what the page was rendered with
    seen: list[Seen] = field(default_factory=list)
    reminders: list[tuple[int, int, str]] = field(default_factory=list)  # conn, id, kind
    errors: list[dict] = field(default_factory=list)
    connects: int = 0
    delays: list[float] = field(default_factory=list)  # each reconnect's wait
    outbox: dict[str, dict] = field(default_factory=dict)  # client id → send frame
    sent: dict[str, dict] = field(default_factory=dict)  # client id → the "sent" answer
    read_ok: dict[int, int] = field(default_factory=dict)  # group → highest confirmed
    hello: asyncio.Event = field(default_factory=asyncio.Event)
    ws: Any = None
    stopping: bool = False
    last_note: int | None = None  # the newest in-app notification known (None: first connect)

    def __post_init__(self) -> None:
        for g in self.groups:
            self.last_seq.setdefault(g, 0)
        self._syncing: set[int] = set()
        self._shown: set[int] = set()
        self.suppressed = 0  # notifications that arrived twice (live and caught up), shown once
        self._read_wanted: dict[int, int] = {}
        self._read_timer: asyncio.TimerHandle | None = None

    # --- the connection ----------------------------------------------------------------------
    async def run(self) -> None:
        backoff = BACKOFF_FIRST
        while not self.stopping:
            try:
                async with websockets.connect(
                    self.url,
                    additional_headers={
                        "Cookie": f"sessionid={self.session_key}",
                        "Origin": self.url.replace("ws://", "http://").rsplit("/ws/", 1)[0],
                    },
                    open_timeout=10,
                    ping_interval=None,  # the server pings; a busy test loop must not time out
                    max_size=2**22,
                ) as ws:
                    self.ws = ws
                    self.connects += 1
                    backoff = BACKOFF_FIRST
                    await self._on_open()
                    async for raw in ws:
                        await self._handle(json.loads(raw))
            except (TimeoutError, OSError, websockets.WebSocketException):
                pass
            finally:
                self.ws = None
                self._syncing.clear()
            if self.stopping:
                break
            delay = backoff * random.uniform(0.5, 1.5)  # noqa: S311 - jitter, not a secret
            self.delays.append(delay)
            backoff = min(backoff * 2, BACKOFF_MAX)
            await asyncio.sleep(delay)

    async def stop(self) -> None:
        self.stopping = True
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.close()

    async def _send(self, frame: dict) -> bool:
        if self.ws is None:
            return False
        try:
            await self.ws.send(json.dumps(frame, ensure_ascii=False))
        except websockets.WebSocketException:
            return False
        return True

    async def _on_open(self) -> None:
        # In-app notifications missed while away (static/js/honbu.js: honbuNotes).
        await self._send({"type": "notifications.sync", "after": self.last_note})
        for g in self.groups:
            await self._sync(g)
        for frame in list(self.outbox.values()):  # the outbox, again (client ids dedupe)
            await self._send(frame)
        for g, up_to in self._read_wanted.items():  # reads the server never confirmed
            if up_to > self.read_ok.get(g, 0):
                await self._send({"type": "read", "group": g, "up_to_seq": up_to})

    async def _sync(self, group: int) -> None:
        if group in self._syncing:
            return
        if await self._send(
            {"type": "sync", "group": group, "after_seq": self.last_seq[group], "ref": "sync"}
        ):
            self._syncing.add(group)

    # --- frames in ---------------------------------------------------------------------------
    async def _handle(self, f: dict) -> None:
        kind = f.get("type")
        if kind == "hello":
            self.hello.set()
        elif kind == "history":
            g = f["group"]
            for m in f["messages"]:
                self.seen.append(Seen(self.connects, "history", g, m["seq"], m["id"]))
                self.last_seq[g] = max(self.last_seq[g], m["seq"])
            self._syncing.discard(g)
            if f["more"] or f["last_seq"] > self.last_seq[g]:
                await self._sync(g)
            self._want_read(g)
        elif kind == "message.new":
            m = f["message"]
            g = m["group"]
            if g not in self.last_seq:
                return
            self.seen.append(Seen(self.connects, "new", g, m["seq"], m["id"]))
            if m["seq"] <= self.last_seq[g] + 1:
                self.last_seq[g] = max(self.last_seq[g], m["seq"])
            else:
                await self._sync(g)  # a gap: the database has the rest
            self._want_read(g)
        elif kind == "sent":
            self.outbox.pop(f["client_id"], None)
            self.sent[f["client_id"]] = f
        elif kind == "read_ok":
            g = f["group"]
            self.read_ok[g] = max(self.read_ok.get(g, 0), f["up_to_seq"])
        elif kind == "reminder":
            self._show(f)
            self.last_note = max(self.last_note or 0, f["notification"])
        elif kind == "notifications":
            if self.last_note is not None:
                for item in f["items"]:
                    self._show(item)
            self.last_note = max(self.last_note or 0, f["last"])
        elif kind == "error":
            self.errors.append(f)
            if f.get("ref") == "sync":
                self._syncing.clear()

    def _show(self, f: dict) -> None:
        """The banner, as honbuShowReminder: a notification already shown (its live event and
        the catch-up after a reconnect both carried it) is not shown again."""
        if f["notification"] in self._shown:
            self.suppressed += 1
            return
        self._shown.add(f["notification"])
        self.reminders.append((self.connects, f["notification"], f["kind"]))

    def _want_read(self, group: int) -> None:
        up_to = self.last_seq[group]
        if up_to <= self._read_wanted.get(group, 0):
            return
        self._read_wanted[group] = up_to
        if self._read_timer is not None:
            self._read_timer.cancel()
        loop = asyncio.get_running_loop()
        self._read_timer = loop.call_later(
            READ_DELAY, lambda: asyncio.ensure_future(self._flush_reads())
        )

    async def _flush_reads(self) -> None:
        for g, up_to in self._read_wanted.items():
            if up_to > self.read_ok.get(g, 0):
                await self._send({"type": "read", "group": g, "up_to_seq": up_to})

    # --- frames out --------------------------------------------------------------------------
    async def instruct(self, group: int, body: str, **fields: Any) -> str:
        """Put an instruction in the outbox and send it if the socket is open."""
        client_id = str(uuid.uuid4())
        frame = {
            "type": "send",
            "group": group,
            "client_id": client_id,
            "ref": client_id,
            "body": body,
            "kind": "instruction",
            "priority": "normal",
            **fields,
        }
        self.outbox[client_id] = frame
        await self._send(frame)
        return client_id

    # --- what it holds -----------------------------------------------------------------------
    def caught_up(self, last_seq: dict[int, int]) -> bool:
        return all(self.last_seq.get(g, 0) >= s for g, s in last_seq.items() if g in self.groups)

    def read_confirmed(self, last_seq: dict[int, int]) -> bool:
        return all(self.read_ok.get(g, 0) >= s for g, s in last_seq.items() if g in self.groups)


async def connect_all(phones: list[Phone], *, at_once: int = 100, timeout: float = 60) -> None:
    """Start every phone's loop, ``at_once`` connecting at a time, and wait for their hellos."""
    for start in range(0, len(phones), at_once):
        batch = phones[start : start + at_once]
        for phone in batch:
            phone.task = asyncio.ensure_future(phone.run())  # type: ignore[attr-defined]
        await asyncio.wait_for(asyncio.gather(*(p.hello.wait() for p in batch)), timeout)


async def stop_all(phones: list[Phone]) -> None:
    await asyncio.gather(*(p.stop() for p in phones))
    tasks = [p.task for p in phones if hasattr(p, "task")]
    if tasks:
        await asyncio.wait(tasks, timeout=10)
        for t in tasks:
            t.cancel()


async def wait_until(condition, *, timeout: float, step: float = 0.1) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            return False
        await asyncio.sleep(step)
    return True
