"""The per-socket send queue's rules (realtime/sendqueue.py), on a server stand-in whose buffer
the test fills and drains; the real server is in test_slow_clients.py."""

from __future__ import annotations

import asyncio

import pytest

from realtime.sendqueue import CLOSE_TOO_SLOW, SendQueue


class Server:
    """An ASGI send that waits while the connection is "full", like uvicorn's."""

    def __init__(self) -> None:
        self.sent: list[dict] = []
        self.room = asyncio.Event()
        self.room.set()
        self.aborted = False

    async def send(self, message: dict) -> None:
        await self.room.wait()
        self.sent.append(message)

    # the honbu.transport extension
    def writable(self) -> bool:
        return self.room.is_set()

    def abort(self) -> None:
        self.aborted = True


def frame(n: int) -> dict:
    return {"type": "websocket.send", "text": f"frame {n} " + "x" * 90}


def texts(server: Server) -> list[str]:
    return [m["text"].split(" x")[0][:8] for m in server.sent if m["type"] == "websocket.send"]


@pytest.mark.asyncio
async def test_frames_go_out_at_once_while_the_client_reads():
    server = Server()
    queue = SendQueue(server.send, transport=server, max_frames=3, max_bytes=10_000, grace=0.1)
    await queue.send({"type": "websocket.accept"})
    for n in range(10):
        await queue.send(frame(n))
    assert len(server.sent) == 11 and queue.queued_frames == 0 and not queue.closing


@pytest.mark.asyncio
async def test_a_stuck_client_never_blocks_the_sender_and_is_closed_past_the_limit():
    server = Server()
    overflowed = []
    queue = SendQueue(
        server.send,
        transport=server,
        on_overflow=lambda: overflowed.append(True),
        max_frames=3,
        max_bytes=10_000,
        grace=0.1,
    )
    await queue.send({"type": "websocket.accept"})
    server.room.clear()  # the client stopped reading

    for n in range(3):
        await asyncio.wait_for(queue.send(frame(n)), 0.5)  # returns: queued, not waited for
    assert queue.queued_frames == 3 and overflowed == []
    await asyncio.wait_for(queue.send(frame(3)), 0.5)  # one too many
    assert overflowed == [True] and queue.closing
    await queue.send(frame(4))  # dropped: the page catches up from the database
    assert queue.queued_frames == 2  # the frame being written, then the close

    await asyncio.sleep(0.2)  # the grace: the client read nothing, the connection is aborted
    assert server.aborted

    server.room.set()  # had it read after all: the frame in hand, then the close, nothing more
    await asyncio.sleep(0.05)
    assert texts(server) == ["frame 0"]
    assert server.sent[-1] == {
        "type": "websocket.close",
        "code": CLOSE_TOO_SLOW,
        "reason": "too slow",
    }


@pytest.mark.asyncio
async def test_the_byte_limit_counts_and_a_slow_reader_gets_everything_in_order():
    server = Server()
    queue = SendQueue(server.send, transport=server, max_frames=100, max_bytes=500, grace=5)
    await queue.send({"type": "websocket.accept"})
    server.room.clear()
    for n in range(4):  # 4 × ~100 bytes: under 500
        await queue.send(frame(n))
    assert not queue.closing and queue.queued_bytes > 0
    server.room.set()  # it reads again
    await asyncio.sleep(0.05)
    assert texts(server) == ["frame 0", "frame 1", "frame 2", "frame 3"]
    assert queue.queued_frames == 0 and queue.queued_bytes == 0

    server.room.clear()
    for n in range(4, 10):  # the sixth would pass 500 bytes
        await queue.send(frame(n))
    assert queue.overflowed and not server.aborted


@pytest.mark.asyncio
async def test_a_close_waits_behind_the_frames_and_a_stuck_one_is_aborted():
    server = Server()
    queue = SendQueue(server.send, transport=server, max_frames=10, max_bytes=10_000, grace=0.1)
    await queue.send({"type": "websocket.accept"})
    server.room.clear()
    await queue.send(frame(0))
    await queue.send({"type": "websocket.close", "code": 4403})
    await queue.send(frame(1))  # after the close: dropped
    await asyncio.sleep(0.2)
    assert server.aborted  # the close could not be written within the grace
    server.room.set()
    await asyncio.sleep(0.05)
    assert texts(server) == ["frame 0"] and server.sent[-1]["code"] == 4403


@pytest.mark.asyncio
async def test_without_the_server_extension_every_frame_is_queued_and_written_in_order():
    server = Server()
    queue = SendQueue(server.send, transport=None, max_frames=10, max_bytes=10_000, grace=0.1)
    await queue.send({"type": "websocket.accept"})
    for n in range(5):
        await queue.send(frame(n))
    await asyncio.sleep(0.05)
    assert texts(server) == [f"frame {n}" for n in range(5)]
