"""Fault drill: clients that stop reading (issue 13). A phone in a lift, a laptop put to sleep, a
hostile client: its socket stops taking frames. Those sockets must not hold up delivery to the
others nor grow the server without bound; each is closed once its backlog passes the limit
(realtime/sendqueue.py) and catches up from the database when it comes back.

Against the real server (uvicorn, config/server.py) with a small queue limit so the drill is
short; the stuck clients are raw sockets with a 4 KB receive buffer that never read after the
handshake."""

from __future__ import annotations

import asyncio
import uuid

import psutil
import pytest

from realtime.sendqueue import CLOSE_TOO_SLOW
from tests.conftest import serve_test_database
from tests.realtime.wsclients import (
    Member,
    StuckSocket,
    instruction_frame,
    make_group,
    session_cookie,
    session_cookies,
    wait_until,
    ws_url,
)

pytestmark = pytest.mark.django_db(transaction=True)

READERS = 10
STUCK = 20
MAX_MESSAGES = 150
PAD = 3900  # characters: each message.new frame is about 12 KB


def _established(pid: int, port: int, peers: set[int]) -> int:
    """How many of ``peers`` (client ports) the server process still holds open."""
    return sum(
        1
        for c in psutil.Process(pid).net_connections(kind="tcp")
        if c.status == psutil.CONN_ESTABLISHED
        and c.laddr.port == port
        and c.raddr
        and c.raddr.port in peers
    )


def test_clients_that_stop_reading_are_closed_and_hold_up_no_one(django_db_blocker):
    drill = make_group(READERS + STUCK)
    gid = drill.group.pk
    commander_cookie = session_cookie(drill.commander)
    cookies = session_cookies(drill.members)
    env = {
        "HONBU_WS_SEND_QUEUE_FRAMES": "20",
        "HONBU_WS_SEND_QUEUE_BYTES": str(96 * 1024),
        "HONBU_WS_CLOSE_GRACE_SECONDS": "1",
        "HONBU_WS_SEND_BUFFER_BYTES": str(32 * 1024),
    }
    with serve_test_database(django_db_blocker, **env) as base:
        port = int(base.rsplit(":", 1)[1])
        server = psutil.Process(base.pid)
        stuck = [StuckSocket(base, cookie) for cookie in cookies[READERS:]]
        stuck_ports = {s.sock.getsockname()[1] for s in stuck}

        async def drill_run() -> dict:
            url = ws_url(base)
            commander = Member(url, commander_cookie, gid)
            readers = [Member(url, c, gid) for c in cookies[:READERS]]
            for client in [commander, *readers]:
                client.start()
            try:
                for client in [commander, *readers]:
                    await asyncio.wait_for(client.connected.wait(), 30)
                rss_start = server.memory_info().rss
                sent = 0
                # Instructions until the server has let go of every stuck socket.
                while sent < MAX_MESSAGES and _established(base.pid, port, stuck_ports):
                    for _ in range(10):
                        sent += 1
                        frame = instruction_frame(gid, sent, str(uuid.uuid4()), pad=PAD)
                        await commander.ws.send(frame)
                    if not await wait_until(lambda s=sent: commander.last_seq >= s, 30):
                        break  # held up (before the send queues: by the first stuck socket)
                everyone = await wait_until(lambda: all(r.last_seq >= sent for r in readers), 30)
                return {
                    "sent": sent,
                    "everyone": everyone,
                    "readers": readers,
                    "rss_start": rss_start,
                    "rss_end": server.memory_info().rss,
                    "held": _established(base.pid, port, stuck_ports),
                }
            finally:
                for client in [commander, *readers]:
                    await client.stop()

        try:
            result = asyncio.run(drill_run())
            closed = [s.closed_by_server(timeout=5) for s in stuck]
        finally:
            for s in stuck:
                s.close()

        # The stuck sockets were all let go, well before the last message.
        assert result["held"] == 0
        assert result["sent"] < MAX_MESSAGES
        assert all(closed)
        # Every reader saw every instruction, live, once: none was closed or held up.
        assert result["everyone"], [r.last_seq for r in result["readers"]]
        for reader in result["readers"]:
            assert reader.missing(result["sent"]) == []
            assert reader.connects == 1 and reader.live_dupes == 0
        # 20 sockets × a bounded backlog: the server grew by a few megabytes at most.
        growth = result["rss_end"] - result["rss_start"]
        assert growth < 40 * 1024 * 1024, (result["rss_start"] >> 20, result["rss_end"] >> 20)

        # A stuck client that comes back (a new socket, as the page does after 4408) catches up
        # from the database by sequence number.
        async def come_back() -> Member:
            member = Member(ws_url(base), cookies[READERS], gid)
            member.start()
            await wait_until(lambda: member.last_seq >= result["sent"], 30)
            await member.stop()
            return member

        returned = asyncio.run(come_back())
        assert returned.missing(result["sent"]) == []


def test_the_page_is_told_why(django_db_blocker):
    """A client that reads slowly rather than never gets the close code (4408) once it reads."""
    drill = make_group(2)
    gid = drill.group.pk
    env = {
        "HONBU_WS_SEND_QUEUE_FRAMES": "5",
        "HONBU_WS_CLOSE_GRACE_SECONDS": "30",
        "HONBU_WS_SEND_BUFFER_BYTES": str(32 * 1024),
    }
    slow_cookie, commander_cookie = (
        session_cookie(drill.members[0]),
        session_cookie(drill.commander),
    )
    with serve_test_database(django_db_blocker, **env) as base:
        slow = StuckSocket(base, slow_cookie)

        async def send_until_closed() -> int:
            commander = Member(ws_url(base), commander_cookie, gid)
            commander.start()
            try:
                await asyncio.wait_for(commander.connected.wait(), 30)
                for n in range(1, 31):
                    await commander.ws.send(instruction_frame(gid, n, str(uuid.uuid4()), PAD))
                await wait_until(lambda: commander.last_seq >= 30, 30)
                return commander.last_seq
            finally:
                await commander.stop()

        # The close frame (opcode 8, 4408, "too slow") comes after what the client did not read.
        close_frame = b"\x88\x0a" + CLOSE_TOO_SLOW.to_bytes(2, "big") + b"too slow"
        try:
            assert asyncio.run(send_until_closed()) == 30
            data = b""
            slow.sock.settimeout(10)
            while close_frame not in data[-(1 << 16) :]:
                chunk = slow.sock.recv(1 << 20)
                assert chunk, "the connection ended without the close frame"
                data += chunk
        finally:
            slow.close()
        assert data.endswith(close_frame)
