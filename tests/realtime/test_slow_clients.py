"""Fault drill: clients that stop reading (issue 13). A phone in a lift, a laptop put to sleep, a
hostile client: its socket stops taking frames. Those sockets must not hold up delivery to the
others nor grow the server without bound; each is closed once its backlog passes the limit
(realtime/sendqueue.py) and catches up from the database when it comes back.

Against the real server (uvicorn, config/server.py) with a small queue limit so the drill is
short; the stuck clients are raw sockets with a 4 KB receive buffer that never read after the
handshake."""

from __future__ import annotations

import asyncio
import re
import resource
import time
import uuid

import psutil
import pytest

from messaging.models import Message
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


# The numbers: 50 sockets that stop reading among 2,000 on one server process.
BIG_READERS = 1950
BIG_STUCK = 50
BIG_PAD = 1000  # characters: each message.new frame is a few KB
BIG_QUEUE_BYTES = 64 * 1024
SERVER_BUFFER = 64 * 1024  # uvicorn's write buffer high-water mark (asyncio's default)
CONNECT_AT_ONCE = 50


def _raise_open_files(want: int) -> None:
    """Two thousand sockets on each end (the server inherits the limit): raise the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))


@pytest.mark.timeout(600)
def test_fifty_stuck_sockets_among_two_thousand(django_db_blocker, capsys):
    """Issue 13's numbers on a real server: 1,950 members reading and 50 sockets that stop
    reading, on one group; the commander sends instructions until the server has let go of all
    50. Every reader gets every instruction stored in the database, live, on its first
    connection, once; each stuck socket was closed for being too slow (4408, after its queue
    passed its limit: the server logs each) and the connection is gone; the server's memory
    after they were dropped is within a bound set by the queue limits, not by the traffic.
    Delivery times, with and without the stuck sockets, are bench/slow_clients.py's."""
    _raise_open_files(2 * (BIG_READERS + BIG_STUCK) + 512)
    drill = make_group(BIG_READERS + BIG_STUCK)
    gid = drill.group.pk
    commander_cookie = session_cookie(drill.commander)
    cookies = session_cookies(drill.members)
    stuck_users = {u.pk for u in drill.members[BIG_READERS:]}
    env = {
        "HONBU_WS_SEND_QUEUE_FRAMES": "20",
        "HONBU_WS_SEND_QUEUE_BYTES": str(BIG_QUEUE_BYTES),
        "HONBU_WS_CLOSE_GRACE_SECONDS": "1",
        "HONBU_WS_SEND_BUFFER_BYTES": "4096",
    }
    with serve_test_database(django_db_blocker, **env) as base:
        port = int(base.rsplit(":", 1)[1])
        server = psutil.Process(base.pid)
        stuck: list[StuckSocket] = []

        async def drill_run() -> dict:
            url = ws_url(base)
            commander = Member(url, commander_cookie, gid)
            readers = [Member(url, c, gid) for c in cookies[:BIG_READERS]]
            gate = asyncio.Semaphore(CONNECT_AT_ONCE)

            async def open_one(member: Member) -> None:
                async with gate:
                    member.start()
                    await asyncio.wait_for(member.connected.wait(), 120)

            figures: dict = {"readers": readers}
            try:
                commander.start()
                await asyncio.wait_for(commander.connected.wait(), 60)
                started = time.monotonic()
                await asyncio.gather(*(open_one(r) for r in readers))
                figures["connect_s"] = time.monotonic() - started
                # The stuck sockets last (blocking handshakes, off the loop), then a first
                # instruction everyone reads (its allocations are not the stuck sockets' cost).
                for cookie in cookies[BIG_READERS:]:
                    stuck.append(await asyncio.to_thread(StuckSocket, base, cookie))
                stuck_ports = {s.sock.getsockname()[1] for s in stuck}
                sent = 1
                await commander.ws.send(instruction_frame(gid, sent, str(uuid.uuid4()), BIG_PAD))
                assert await wait_until(lambda: all(r.last_seq >= 1 for r in readers), 120)
                await asyncio.sleep(1)
                figures["rss_before"] = server.memory_info().rss
                figures["held_before"] = _established(base.pid, port, stuck_ports)
                started = time.monotonic()
                while sent < MAX_MESSAGES and _established(base.pid, port, stuck_ports):
                    for _ in range(5):
                        sent += 1
                        frame = instruction_frame(gid, sent, str(uuid.uuid4()), pad=BIG_PAD)
                        await commander.ws.send(frame)
                    if not await wait_until(lambda s=sent: commander.last_seq >= s, 60):
                        break
                figures["stuck_dropped_s"] = time.monotonic() - started
                figures["held"] = _established(base.pid, port, stuck_ports)
                figures["everyone"] = await wait_until(
                    lambda: all(r.last_seq >= sent for r in readers), 180
                )
                figures["all_read_s"] = time.monotonic() - started
                await asyncio.sleep(1)
                figures["rss_after"] = server.memory_info().rss
                figures["sent"] = sent
                return figures
            finally:
                await asyncio.gather(
                    *(c.stop() for c in [commander, *readers]), return_exceptions=True
                )

        try:
            result = asyncio.run(drill_run())
            closed = [s.closed_by_server(timeout=5) for s in stuck]
        finally:
            for s in stuck:
                s.close()
        log = base.log.read_text(errors="replace")

    too_slow = {int(m) for m in re.findall(r"websocket of user (\d+) closed: it did not read", log)}
    stored = set(Message.objects.filter(group_id=gid).values_list("seq", flat=True))
    readers = result["readers"]
    growth = result["rss_after"] - result["rss_before"]
    # What one stuck socket may hold: its queue (bytes limit) and the server's write buffer.
    per_stuck = BIG_QUEUE_BYTES + SERVER_BUFFER
    bound = 4 * BIG_STUCK * per_stuck + 48 * 2**20  # ×4 for the allocator; 48 MB of churn
    with capsys.disabled():
        print(
            f"\n{BIG_READERS} readers connected in {result['connect_s']:.1f}s; {BIG_STUCK} "
            f"stuck, all let go after {result['sent']} instructions "
            f"({result['stuck_dropped_s']:.1f}s; every reader had all of them after "
            f"{result['all_read_s']:.1f}s); server RSS {result['rss_before'] >> 20} MB before, "
            f"{result['rss_after'] >> 20} MB after ({growth / 2**20:+.1f} MB, bound "
            f"{bound >> 20} MB); closed as too slow: {len(too_slow)}"
        )

    assert result["held_before"] == BIG_STUCK  # all 50 were connected and stuck
    assert result["held"] == 0 and all(closed)  # the server let go of every one of them
    assert result["sent"] < MAX_MESSAGES
    assert too_slow == stuck_users  # each closed for its queue (4408), and no reader
    # Every reader: every instruction in the database, live, on its first connection, once.
    assert stored == set(range(1, result["sent"] + 1))
    assert result["everyone"]
    bad = [
        (i, r.connects, r.live_dupes, sorted(stored - r.seqs)[:5], len(stored - r.arrived.keys()))
        for i, r in enumerate(readers)
        if r.connects != 1 or r.live_dupes or stored - r.seqs or stored - r.arrived.keys()
    ]
    assert bad == []
    # Memory: after the stuck sockets are gone, the server holds no more than their queue
    # limits allow (a structural bound, not a timing).
    assert growth <= bound, (result["rss_before"] >> 20, result["rss_after"] >> 20)


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
