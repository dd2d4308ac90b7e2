"""Soak: ``.venv/bin/python bench/soak.py [--minutes 30] [--sockets 2000] [--interval 60]
[--reconnect-every 60]``.

One app server (``python -m config.server``, uvicorn) holds ``--sockets`` websockets of one
command group's members for ``--minutes``. The commander sends an instruction every
``--interval`` seconds; every ``--reconnect-every`` minutes all member sockets drop at once (a
network blip) and come back with the page's jittered backoff (a reconnect storm), catching up by
sequence number. Clients behave like the chat page (tests/realtime/wsclients.py).

Printed: the server's resident memory with every socket connected, after ``--warmup-storms``
(default 1: the first storm raises it once — old and new sockets at once; the server's gc sweep,
config/gcsweep.py, then frees the old ones for the next storm's to reuse) and at the end, and the
growth since the warm-up (target ≤ 10 %) and since connected, sampled along the way; for every
instruction the time until every socket had it (p50/max); after each storm how long until every
socket was back and caught up; lost (a sequence number some socket never showed) and duplicated (a
message delivered twice on one connection, or two messages in the database for one client id)
counts; the load average at the start and end (the machine is shared: figures are noisy); the
server's gc sweeps.

Never touches your data: DATABASE_URL set (PostgreSQL) → a separate database ``--database``
(default ``honbu_soak_bench``) on the same server, created and dropped by this script; else a
SQLite file in a temporary directory. REDIS_URL set → the same server with database
``--redis-db`` (default 8); else the embedded Redis in the temporary directory. Not part of CI.
Exits non-zero when something was lost or duplicated, or the server died.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
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

TARGET_GROWTH = 10.0  # per cent
CONNECT_CONCURRENCY = 50


def mb(n: int) -> str:
    return f"{n / 2**20:.1f} MB"


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


async def soak(args: argparse.Namespace, seeded, group_id: int, log_dir: Path) -> dict:
    import psutil

    from config.server import server_command
    from tests.realtime.wsclients import Member, instruction_frame, wait_until

    port = fanout.free_port()
    log = open(log_dir / "server.log", "wb")  # noqa: SIM115 (closed with the process)
    proc = subprocess.Popen(
        server_command("127.0.0.1", port), cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
    )
    log.close()
    fanout.wait_port(port, proc)
    server = psutil.Process(proc.pid)
    url = f"ws://127.0.0.1:{port}/ws/"
    commander = Member(url, seeded.cookies[0], group_id)
    members = [Member(url, c, group_id) for c in seeded.cookies[1 : args.sockets + 1]]
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    figures: dict = {
        "deliveries": [],
        "storms": [],
        "warmup_storms": [],
        "rss": [],
        "server_alive": True,
    }

    async def open_one(member: Member) -> None:
        async with gate:
            member.start()
            await asyncio.wait_for(member.connected.wait(), 120)

    sent = 0

    async def instruct() -> float:
        nonlocal sent
        sent += 1
        n = sent
        started = time.monotonic()
        await commander.ws.send(instruction_frame(group_id, n, str(uuid.uuid4())))
        await wait_until(lambda: all(m.last_seq >= n for m in members), 120, step=0.02)
        return time.monotonic() - started

    async def storm() -> tuple[bool, float]:
        dropped = time.monotonic()
        before = [m.connects for m in members]
        for m in members:
            m.drop()

        def all_back() -> bool:
            return all(
                m.connects > c and m.last_seq >= sent for m, c in zip(members, before, strict=True)
            )

        back = await wait_until(all_back, 180, step=0.05)
        return back, time.monotonic() - dropped

    try:
        commander.start()
        await asyncio.wait_for(commander.connected.wait(), 60)
        started = time.monotonic()
        await asyncio.gather(*(open_one(m) for m in members))
        print(f"{len(members)} sockets connected in {time.monotonic() - started:.1f}s", flush=True)
        await instruct()  # warm-up: the first instruction's allocations are not growth
        await asyncio.sleep(2)
        figures["rss_connected"] = server.memory_info().rss
        print(f"server RSS with every socket connected: {mb(figures['rss_connected'])}")
        for n in range(args.warmup_storms):
            # The first storms raise RSS once (old and new sockets at once); later storms reuse
            # what the gc sweep freed (config/gcsweep.py). Growth is measured after them.
            back, seconds = await storm()
            figures["warmup_storms"].append((back, seconds))
            print(
                f"warm-up storm {n + 1}: {len(members)} sockets dropped at once, "
                f"{'all back and caught up' if back else 'NOT all back'} after {seconds:.1f}s; "
                f"server RSS {mb(server.memory_info().rss)}",
                flush=True,
            )
        # After the sweep a storm leaves behind (config/gcsweep.py: once no socket has started
        # or ended for QUIET seconds): the steady state the growth is measured against.
        from config.gcsweep import QUIET

        await asyncio.sleep(QUIET + 3)
        rss_start = server.memory_info().rss
        figures["rss"].append((0.0, rss_start))
        print(f"server RSS after warm-up: {mb(rss_start)}; load average {load()}", flush=True)

        t0 = time.monotonic()
        end = t0 + args.minutes * 60
        next_instruction = t0 + args.interval
        next_storm = t0 + args.reconnect_every * 60
        next_sample = t0 + 10
        while time.monotonic() < end:
            now = time.monotonic()
            if now >= next_storm:
                next_storm += args.reconnect_every * 60
                back, seconds = await storm()
                figures["storms"].append((back, seconds))
                print(
                    f"  {(now - t0) / 60:5.1f} min: {len(members)} sockets dropped at once, "
                    f"{'all back and caught up' if back else 'NOT all back'} after "
                    f"{seconds:.1f}s; load average {load()}",
                    flush=True,
                )
            if now >= next_instruction:
                next_instruction += args.interval
                took = await instruct()
                figures["deliveries"].append(took)
                print(
                    f"  {(now - t0) / 60:5.1f} min: instruction {sent} on every socket in "
                    f"{took * 1000:.0f} ms; server RSS {mb(server.memory_info().rss)}",
                    flush=True,
                )
            if now >= next_sample:
                next_sample += 10
                figures["rss"].append((now - t0, server.memory_info().rss))
            if proc.poll() is not None:
                figures["server_alive"] = False
                break
            await asyncio.sleep(0.2)

        await wait_until(lambda: all(m.last_seq >= sent for m in members), 60)
        await asyncio.sleep(2)
        figures["rss_end"] = server.memory_info().rss
        figures["rss_start"] = rss_start
        figures["sent"] = sent
        figures["lost"] = sum(len(m.missing(sent)) for m in members)
        figures["live_dupes"] = sum(m.live_dupes for m in members)
        figures["closes"] = sum(len(m.closes) for m in members)
        return figures
    finally:
        try:
            await asyncio.gather(*(m.stop() for m in [commander, *members]), return_exceptions=True)
        finally:
            fanout.stop_servers([proc])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--sockets", type=int, default=2000)
    parser.add_argument("--interval", type=float, default=60, help="seconds between instructions")
    parser.add_argument(
        "--reconnect-every", type=float, default=60, help="minutes between reconnect storms"
    )
    parser.add_argument(
        "--warmup-storms",
        type=int,
        default=1,
        help="storms before the starting RSS is taken (the first raises it once)",
    )
    parser.add_argument("--database", default="honbu_soak_bench")
    parser.add_argument("--redis-db", type=int, default=8)
    parser.add_argument("--log-dir", type=Path, help="keep the server's log here")
    args = parser.parse_args()
    fanout.BENCH_DB = args.database

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = args.sockets * 2 + 256
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, want), hard))

    var_dir = Path(tempfile.mkdtemp(prefix="honbu-soak-"))
    info: dict[str, str] = {}
    try:
        info = fanout.prepare_environment(args, var_dir)
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection

        print(
            f"soak: {args.sockets} sockets, {args.minutes:g} min, an instruction every "
            f"{args.interval:g}s, all sockets dropped every {args.reconnect_every:g} min; "
            f"database: {info['database']}; redis: {info['redis']}; load average {load()}",
            flush=True,
        )
        call_command("migrate", verbosity=0)
        fanout.clear_channel_groups()
        seeded = fanout.seed(args.sockets + 1)
        group_id = fanout.make_group(seeded, args.sockets + 1)
        connection.close()
        log_dir = args.log_dir or var_dir
        log_dir.mkdir(parents=True, exist_ok=True)
        figures = asyncio.run(soak(args, seeded, group_id, log_dir))

        from messaging.models import Message

        rows = Message.objects.filter(group_id=group_id)
        db_dupes = rows.count() - rows.values("client_id").distinct().count()
        growth = 100.0 * (figures["rss_end"] - figures["rss_start"]) / figures["rss_start"]
        peak = max(r for _, r in figures["rss"] + [(0, figures["rss_end"])])
        deliveries = figures["deliveries"] or [float("nan")]
        lost, dupes = figures["lost"], figures["live_dupes"] + db_dupes
        print()
        print(
            f"server RSS: start {mb(figures['rss_start'])}, end {mb(figures['rss_end'])}, ", end=""
        )
        print(f"peak {mb(peak)}; growth {growth:+.1f} % (target ≤ {TARGET_GROWTH:g} %): ", end="")
        print("PASS" if growth <= TARGET_GROWTH else "MISS")
        p50, worst = statistics.median(deliveries) * 1000, max(deliveries) * 1000
        print(
            f"instructions: {figures['sent']} (warm-up included); on every socket in "
            f"p50 {p50:.0f} ms, max {worst:.0f} ms"
        )
        for n, (back, seconds) in enumerate(figures["storms"], 1):
            print(
                f"storm {n}: {'all back and caught up' if back else 'NOT back'} in {seconds:.1f}s"
            )
        print(
            f"lost: {lost}, duplicated: {dupes} (live {figures['live_dupes']}, "
            f"database {db_dupes}); socket closes seen by clients: {figures['closes']}; "
            f"server {'up' if figures['server_alive'] else 'DIED'}"
        )
        sweeps = [
            line
            for line in (log_dir / "server.log").read_text(errors="replace").splitlines()
            if "gc sweep after" in line  # config/gcsweep.py: one full collection per storm
        ]
        print(f"server gc sweeps: {len(sweeps)}", *(f"  {line}" for line in sweeps), sep="\n")
        print(f"load average at the end: {load()}")
        fanout.clear_channel_groups()
        return 0 if lost == 0 and dupes == 0 and figures["server_alive"] else 1
    finally:
        fanout.release_storage(info, var_dir)


if __name__ == "__main__":
    sys.exit(main())
