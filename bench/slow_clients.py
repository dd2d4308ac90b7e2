"""Slow clients: ``.venv/bin/python bench/slow_clients.py [--readers 1950] [--stuck 50]
[--messages 20] [--interval 0.5] [--rounds 2]``.

One app server (``python -m config.server``, uvicorn) and one command group: ``--readers``
members reading (the chat page's protocol, tests/realtime/wsclients.py) and the commander.
``--rounds`` (default 2) pairs of phases back to back on the same server and reader sockets
(interleaved, so the shared machine's drift shows beside the difference):

1. **without stuck sockets**: ``--messages`` instructions, ``--interval`` seconds apart;
2. **with stuck sockets**: ``--stuck`` more sockets of the group's members complete the
   handshake and never read again (a 4 KB receive buffer); the same number of instructions.
   The server closes each with 4408 once its send queue passes its limit
   (realtime/sendqueue.py); instructions continue (untimed) until all are let go.

Printed per phase: delivery time to the readers — a reader's first live ``message.new`` minus
the commander's time just before sending (one process, one clock) — p50/p99/max over every
(instruction, reader) pair; how many stuck sockets the server still held at the end and when the
last was let go; server RSS at each step; lost/duplicated counts. The queue limits default to
the drill's (tests/realtime/test_slow_clients.py: 20 frames / 64 KB, 4 KB send buffer) so the
stuck sockets overflow within the run; ``--production-limits`` keeps the server's defaults (500
frames / 512 KB, 256 KB) — the stuck sockets then need many more instructions to overflow.

Never touches your data: DATABASE_URL set (PostgreSQL) → a separate database ``--database``
(default ``honbu_slow_bench``) on the same server, created and dropped; else a SQLite file in a
temporary directory. REDIS_URL set → that server, database ``--redis-db`` (default 9); else the
embedded Redis. Not part of CI; figures are in docs/reliability.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import fanout  # noqa: E402 - bench/fanout.py: the throwaway database, seeding

CONNECT_AT_ONCE = 50
PAD = 1000  # characters: a few KB per message.new frame, as in the drill


def mb(n: int) -> str:
    return f"{n / 2**20:.1f} MB"


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def held(pid: int, port: int, peers: set[int]) -> int:
    import psutil

    return sum(
        1
        for c in psutil.Process(pid).net_connections(kind="tcp")
        if c.status == psutil.CONN_ESTABLISHED
        and c.laddr.port == port
        and c.raddr
        and c.raddr.port in peers
    )


async def bench(args: argparse.Namespace, seeded, group_id: int, log_dir: Path) -> dict:
    import psutil

    from config.server import server_command
    from tests.realtime.wsclients import Member, StuckSocket, instruction_frame, wait_until

    env = dict(os.environ)
    if not args.production_limits:
        env.update(
            HONBU_WS_SEND_QUEUE_FRAMES="20",
            HONBU_WS_SEND_QUEUE_BYTES=str(64 * 1024),
            HONBU_WS_CLOSE_GRACE_SECONDS="1",
            HONBU_WS_SEND_BUFFER_BYTES="4096",
        )
    port = fanout.free_port()
    log = open(log_dir / "server.log", "wb")  # noqa: SIM115 (closed with the process)
    proc = subprocess.Popen(
        server_command("127.0.0.1", port), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    log.close()
    fanout.wait_port(port, proc)
    server = psutil.Process(proc.pid)
    url = f"ws://127.0.0.1:{port}/ws/"
    commander = Member(url, seeded.cookies[0], group_id)
    readers = [Member(url, c, group_id) for c in seeded.cookies[1 : args.readers + 1]]
    stuck_cookies = seeded.cookies[args.readers + 1 : args.readers + 1 + args.stuck]
    stuck: list[StuckSocket] = []
    gate = asyncio.Semaphore(CONNECT_AT_ONCE)
    sent_at: dict[int, float] = {}
    figures: dict = {}

    async def open_one(member: Member) -> None:
        async with gate:
            member.start()
            await asyncio.wait_for(member.connected.wait(), 120)

    async def phase(first: int) -> list[float]:
        for n in range(first, first + args.messages):
            sent_at[n] = time.monotonic()
            await commander.ws.send(instruction_frame(group_id, n, str(uuid.uuid4()), PAD))
            await asyncio.sleep(args.interval)
        last = first + args.messages - 1
        await wait_until(lambda: all(r.last_seq >= last for r in readers), 120)
        return [
            r.arrived[n] - sent_at[n]
            for n in range(first, last + 1)
            for r in readers
            if n in r.arrived
        ]

    try:
        commander.start()
        await asyncio.wait_for(commander.connected.wait(), 60)
        started = time.monotonic()
        await asyncio.gather(*(open_one(r) for r in readers))
        print(f"{len(readers)} readers connected in {time.monotonic() - started:.1f}s", flush=True)
        await phase(1)  # warm-up (not counted)
        await asyncio.sleep(1)
        figures["rss_connected"] = server.memory_info().rss
        first = 1 + args.messages
        base = f"http://127.0.0.1:{port}"
        figures.update(without=[], with_=[], rounds=[], dropped=[])
        for round_ in range(1, args.rounds + 1):
            # 1. no stuck socket
            without = await phase(first)
            first += args.messages
            # 2. the stuck sockets connect, then the same again
            for s in stuck:
                s.close()
            stuck.clear()
            for cookie in stuck_cookies:
                stuck.append(await asyncio.to_thread(StuckSocket, base, cookie))
            peers = {s.sock.getsockname()[1] for s in stuck}
            await asyncio.sleep(2)  # their handshakes done before the clock starts
            rss_stuck = server.memory_info().rss
            held_before = held(proc.pid, port, peers)
            t0 = time.monotonic()
            with_ = await phase(first)
            first += args.messages
            held_after = held(proc.pid, port, peers)
            # keep going (untimed) until the server let go of every stuck socket, or 200 more
            extra = 0
            while held(proc.pid, port, peers) and extra < 200:
                await commander.ws.send(instruction_frame(group_id, first, str(uuid.uuid4()), PAD))
                first, extra = first + 1, extra + 1
                await asyncio.sleep(0.05)
            gone = not held(proc.pid, port, peers)
            dropped = time.monotonic() - t0 if gone else None
            await wait_until(lambda n=first - 1: all(r.last_seq >= n for r in readers), 120)
            await asyncio.sleep(1)
            rss_dropped = server.memory_info().rss
            figures["without"] += without
            figures["with_"] += with_
            figures["dropped"].append(dropped)
            print(
                f"round {round_}: without stuck {stats(without)}\n"
                f"         with {len(stuck)} stuck {stats(with_)}\n"
                f"         stuck held {held_before} → {held_after} after the phase; all let go "
                + (f"{dropped:.1f}s after it began" if dropped is not None else "NOT")
                + f" ({extra} more instructions); server RSS {mb(rss_stuck)} with them, "
                f"{mb(rss_dropped)} once dropped; load average {load()}",
                flush=True,
            )
        for s in stuck:
            s.close()
        stuck.clear()
        last = first - 1
        await asyncio.sleep(1)
        figures["rss_end"] = server.memory_info().rss
        figures["last"] = last
        figures["lost"] = sum(len(r.missing(last)) for r in readers)
        figures["live_dupes"] = sum(r.live_dupes for r in readers)
        figures["reconnects"] = sum(r.connects - 1 for r in readers)
        return figures
    finally:
        for s in stuck:
            s.close()
        try:
            await asyncio.gather(*(m.stop() for m in [commander, *readers]), return_exceptions=True)
        finally:
            fanout.stop_servers([proc])


def stats(samples: list[float]) -> str:
    if not samples:
        return "no samples"
    return (
        f"p50 {fanout.pct(samples, 50) * 1000:.0f} ms, p99 {fanout.pct(samples, 99) * 1000:.0f} "
        f"ms, max {max(samples) * 1000:.0f} ms ({len(samples)} deliveries)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", type=int, default=1950)
    parser.add_argument("--stuck", type=int, default=50)
    parser.add_argument("--messages", type=int, default=20, help="instructions per phase")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between them")
    parser.add_argument("--rounds", type=int, default=2, help="phase pairs, interleaved")
    parser.add_argument("--production-limits", action="store_true")
    parser.add_argument("--database", default="honbu_slow_bench")
    parser.add_argument("--redis-db", type=int, default=9)
    parser.add_argument("--log-dir", type=Path, help="keep the server's log here")
    args = parser.parse_args()
    fanout.BENCH_DB = args.database

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 2 * (args.readers + args.stuck) + 512
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, want), hard))

    var_dir = Path(tempfile.mkdtemp(prefix="honbu-slow-"))
    info: dict[str, str] = {}
    try:
        info = fanout.prepare_environment(args, var_dir)
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection

        total = args.readers + args.stuck + 1
        print(
            f"slow clients: {args.readers} readers, {args.stuck} stuck, {args.messages} "
            f"instructions a phase {args.interval:g}s apart; limits: "
            f"{'production' if args.production_limits else 'the drill'}; database: "
            f"{info['database']}; load average {load()}",
            flush=True,
        )
        call_command("migrate", verbosity=0)
        fanout.clear_channel_groups()
        seeded = fanout.seed(total)
        group_id = fanout.make_group(seeded, total)
        connection.close()
        log_dir = args.log_dir or var_dir
        log_dir.mkdir(parents=True, exist_ok=True)
        f = asyncio.run(bench(args, seeded, group_id, log_dir))
        print()
        print(f"all rounds, without stuck sockets: {stats(f['without'])}")
        print(f"all rounds, with {args.stuck} stuck:     {stats(f['with_'])}")
        print(
            f"server RSS: {mb(f['rss_connected'])} readers connected, {mb(f['rss_end'])} at the end"
        )
        print(
            f"lost {f['lost']}, duplicated {f['live_dupes']}, reader reconnects "
            f"{f['reconnects']}; load average at the end: {load()}"
        )
        fanout.clear_channel_groups()
        return 0 if f["lost"] == 0 and f["live_dupes"] == 0 else 1
    finally:
        fanout.release_storage(info, var_dir)


if __name__ == "__main__":
    sys.exit(main())
