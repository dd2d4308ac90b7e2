"""Websocket clients for the fault drills (tests/realtime/test_slow_clients.py,
test_reconnect_storm.py, test_hosts.py; bench/soak.py), behaving like the chat page
(static/js/chat-live.js): on every (re)connect ask for everything after the last sequence number
shown, treat a gap as a reason to ask again, reconnect after a close with the same jittered
exponential backoff as static/js/honbu.js (``honbuBackoff``). What each client saw is kept so a
drill can count lost and duplicated messages against the database."""

from __future__ import annotations

import asyncio
import json
import random
import socket
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore

from messaging import services
from messaging.models import CommandGroup, GroupMembership
from tests.factories import PostFactory, StaffFactory, UserFactory

BACKOFF_BASE = 1.0  # seconds, as honbu.js
BACKOFF_CAP = 30.0


def backoff_delay(attempt: int, base: float = BACKOFF_BASE, cap: float = BACKOFF_CAP) -> float:
    """Full jitter (honbu.js ``honbuBackoff``): uniform in [0, min(cap, base·2^attempt)]."""
    return random.uniform(0, min(cap, base * 2 ** min(attempt, 16)))


def session_cookie(user) -> str:
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return session.session_key


def session_cookies(users) -> list[str]:
    """One signed-in session per user, written in one INSERT."""
    from datetime import timedelta

    from django.contrib.sessions.models import Session
    from django.utils import timezone
    from django.utils.crypto import get_random_string

    store = SessionStore()
    rows = [
        Session(
            session_key=get_random_string(32, "abcdefghijklmnopqrstuvwxyz0123456789"),
            session_data=store.encode(
                {
                    SESSION_KEY: str(u.pk),
                    BACKEND_SESSION_KEY: "django.contrib.auth.backends.ModelBackend",
                    HASH_SESSION_KEY: u.get_session_auth_hash(),
                }
            ),
            expire_date=timezone.now() + timedelta(days=1),
        )
        for u in users
    ]
    Session.objects.bulk_create(rows)
    return [r.session_key for r in rows]


@dataclass
class Drill:
    group: CommandGroup
    commander: object
    members: list  # users


def make_group(members: int) -> Drill:
    """A headquarters group: a commander (by post) and ``members`` members (by person), the
    members written in bulk (a drill needs hundreds)."""
    from django.contrib.auth.hashers import make_password

    from directory.models import Staff, User
    from directory.services import staff_search_fields
    from tests.factories import OrgUnitFactory

    commander = UserFactory(role="hq_member")
    StaffFactory(user=commander)
    group = services.group_create(
        name="障害訓練本部", kind=CommandGroup.Kind.HEADQUARTERS, actor=None
    )
    post = PostFactory(name="本部長", holder=commander.staff)
    services.group_add_member(group=group, post=post, role="commander", actor=None)
    unit = OrgUnitFactory()
    password = make_password("drill-password")
    tag = f"{group.pk:04d}"
    users = User.objects.bulk_create(
        [
            User(
                username=f"D{tag}{i:05d}",
                email=f"d{tag}{i:05d}@drill.example.jp",
                password=password,
                role=User.Role.HQ_MEMBER,
            )
            for i in range(members)
        ]
    )
    staff = []
    for i, user in enumerate(users):
        person = Staff(
            employee_number=f"8{tag}{i:05d}",
            family_name="訓練",
            given_name=f"{i}号",
            family_kana="くんれん",
            given_kana=f"{i}ごう",
            unit=unit,
            job_title="主事",
            email=user.email,
            user=user,
        )
        person.search_key, person.kana_sort = staff_search_fields(person)
        staff.append(person)
    Staff.objects.bulk_create(staff)
    GroupMembership.objects.bulk_create(
        [GroupMembership(group=group, staff=s, role=GroupMembership.Role.MEMBER) for s in staff]
    )
    return Drill(group, commander, users)


def ws_url(base: str) -> str:
    return base.replace("http://", "ws://", 1).rstrip("/") + "/ws/"


def instruction_frame(
    group_id: int, n: int, client_id: str, pad: int = 0, kind: str = "instruction"
) -> str:
    body = f"【指示 {n}】各区本部は避難所の開設状況を報告してください。" + "詳" * pad
    return json.dumps(
        {
            "type": "send",
            "group": group_id,
            "client_id": client_id,
            "kind": kind,
            "priority": "important" if kind == "instruction" else "normal",
            "body": body,
        },
        ensure_ascii=False,
    )


@dataclass
class Member:
    """One page's socket: reconnects with backoff and catches up by sequence number."""

    url: str
    cookie: str
    group: int
    backoff_base: float = BACKOFF_BASE
    backoff_cap: float = BACKOFF_CAP
    ping_interval: float | None = None  # seconds; set to notice a dead link (test_hosts.py)
    ping_timeout: float | None = None
    seqs: set[int] = field(default_factory=set)  # every sequence number shown
    last_seq: int = 0  # contiguous from 1
    live_dupes: int = 0  # message.new for a number this connection already had live
    arrived: dict[int, float] = field(default_factory=dict)  # seq → first live arrival (monotonic)
    connects: int = 0
    closes: list[int] = field(default_factory=list)  # close codes seen
    delays: list[float] = field(default_factory=list)  # reconnect delays drawn
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    ws: object = None
    stopping: bool = False
    task: asyncio.Task | None = None

    def start(self) -> None:
        self.task = asyncio.ensure_future(self.run())

    async def stop(self) -> None:
        self.stopping = True
        ws = self.ws
        if ws is not None:
            try:
                await asyncio.wait_for(ws.close(), 3)
            except Exception:
                ws.transport.abort()
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)

    def drop(self) -> None:
        """The network under this client went away: no close handshake."""
        ws = self.ws
        if ws is not None:
            ws.transport.abort()

    async def run(self) -> None:
        from websockets.asyncio.client import connect

        attempt = 0
        netloc = urlsplit(self.url).netloc
        while not self.stopping:
            try:
                async with connect(
                    self.url,
                    origin=f"http://{netloc}",
                    compression=None,
                    ping_interval=self.ping_interval,
                    ping_timeout=self.ping_timeout,
                    max_size=2**22,
                    max_queue=None,
                    # A browser waits long for a busy server's handshake; giving up early
                    # would only make the server do the work again for a new attempt.
                    open_timeout=120,
                    close_timeout=2,
                    additional_headers={"Cookie": f"{settings.SESSION_COOKIE_NAME}={self.cookie}"},
                ) as ws:
                    self.ws = ws
                    self.connects += 1
                    attempt = 0
                    live: set[int] = set()
                    await self._sync(ws)
                    async for raw in ws:
                        frame = json.loads(raw)
                        if frame.get("type") == "hello":
                            self.connected.set()
                        await self._handle(ws, frame, live)
                    self.closes.append(ws.close_code or 1006)
            except asyncio.CancelledError:
                raise
            except Exception:  # refused, reset, timed out: try again later
                self.closes.append(getattr(self.ws, "close_code", None) or 1006)
            self.ws = None
            self.connected.clear()
            if self.stopping:
                break
            delay = backoff_delay(attempt, self.backoff_base, self.backoff_cap)
            self.delays.append(delay)
            attempt += 1
            await asyncio.sleep(delay)

    async def _sync(self, ws) -> None:
        await ws.send(json.dumps({"type": "sync", "group": self.group, "after_seq": self.last_seq}))

    def _show(self, seq: int) -> None:
        self.seqs.add(seq)
        while self.last_seq + 1 in self.seqs:
            self.last_seq += 1

    async def _handle(self, ws, frame: dict, live: set[int]) -> None:
        kind = frame.get("type")
        if kind == "message.new":
            message = frame["message"]
            if message["group"] != self.group:
                return
            seq = message["seq"]
            if seq in live:
                self.live_dupes += 1
            live.add(seq)
            self.arrived.setdefault(seq, time.monotonic())
            gap = seq > self.last_seq + 1
            self._show(seq)
            if gap:
                await self._sync(ws)
        elif kind == "history" and frame.get("group") == self.group:
            for message in frame["messages"]:
                self._show(message["seq"])
            if frame.get("more") or frame.get("last_seq", 0) > self.last_seq:
                await self._sync(ws)

    def missing(self, last: int) -> list[int]:
        return [s for s in range(1, last + 1) if s not in self.seqs]


async def wait_until(predicate, timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(step)
    return predicate()


class StuckSocket:
    """A raw websocket that completes the handshake and then never reads again, with a small
    receive buffer so the server's frames back up quickly."""

    def __init__(self, base: str, cookie: str, rcvbuf: int = 4096) -> None:
        parts = urlsplit(base)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)  # before connect
        self.sock.settimeout(10)
        self.sock.connect((parts.hostname, parts.port))
        self.sock.sendall(
            (
                "GET /ws/ HTTP/1.1\r\n"
                f"Host: {parts.netloc}\r\n"
                f"Origin: http://{parts.netloc}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                f"Cookie: {settings.SESSION_COOKIE_NAME}={cookie}\r\n\r\n"
            ).encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)  # byte by byte: leave every frame unread
            if not chunk:
                raise ConnectionError("closed during the handshake")
            head += chunk
        if not head.startswith(b"HTTP/1.1 101"):
            raise ConnectionError(head.decode(errors="replace"))

    def closed_by_server(self, timeout: float = 10.0) -> bool:
        """Read everything now: True when the server has closed or reset the connection."""
        self.sock.settimeout(timeout)
        try:
            while self.sock.recv(1 << 20):
                pass
        except (ConnectionResetError, BrokenPipeError):
            return True
        except TimeoutError:
            return False
        return True  # end of stream

    def close(self) -> None:
        self.sock.close()
