"""了解 burst benchmark (issue 14): ``.venv/bin/python bench/ack_burst.py [--members 2000 500]
[--servers 1 2]``.

N members of one command group (plus its commander) sign in through Django session cookies and
connect real websockets (the ``websockets`` library, one asyncio process) to Honbu served by
``config/server.py`` (uvicorn; one process, or several sharing PostgreSQL and Redis, the
members spread over them). The commander sends an urgent instruction asking for 了解 and waits
until every member has it and, as the chat page does once the message is on screen, has
reported reading it (``read``, answered with ``read_ok``; ``--unread`` skips this: then each
了解 also marks the message read and moves the person's unread count, the worst case); then
every member taps 了解 at once (one ``ack`` frame each, all sent together). Measured:

- answer time: per member, the receive time of its ``ack_ok`` minus the time just before its
  ``ack`` frame was sent (same process, same clock); p50 / p99 / max;
- the commander's final count: when the commander's socket first shows all N acknowledged in a
  ``receipt.counts`` frame, after the last tap;
- 了解/s: N over the time from the first tap to the last answer;
- server CPU per 了解: the server processes' CPU time (psutil) over the burst, divided by N;
- then the database: every receipt acknowledged exactly once, every chase covered.

The same clients do the same against a bare ``websockets`` server (bench/_ack_baseline.py: it
records each 了解 in memory, answers, and sends the count to the commander) in the same run;
ratio = Honbu / baseline. ``--server-root`` serves Honbu from another checkout (the "before"
figures: ``--server-root /work/main``); the database is migrated from this one.

Never touches your data: DATABASE_URL set (PostgreSQL) → a separate database
``honbu_ack_bench`` on that server, created and dropped here; else a SQLite file in a temporary
directory. REDIS_URL set → database ``--redis-db`` (default 10) of that server; else the
embedded Redis. Bounded: each burst waits at most ``--burst-timeout`` seconds and the whole run
stops after ``--timeout``. Exits non-zero only on errors; missed targets print MISS.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import fanout  # noqa: E402 - seeding, throwaway database and Redis, server helpers

from config.server import server_command  # noqa: E402

fanout.BENCH_DB = "honbu_ack_bench"
CONNECT_CONCURRENCY = 50
TARGET_ANSWER_P99_S = 1.0
TARGET_FINAL_COUNT_S = 1.5
TARGET_ACKS_PER_S = 2000.0  # on two processes
pct, fmt = fanout.pct, fanout.fmt


@dataclass
class Member:
    idx: int
    ws: Any = None
    got_message: float | None = None
    read_ok: bool = False
    tapped: float | None = None
    answered: float | None = None
    error: dict | None = None


class Burst:
    def __init__(self, members: int):
        self.members = members
        self.clients: list[Member] = []
        self.message_id: int | None = None
        self.seq = 0
        self.client_id = str(uuid.uuid4())
        self.counts: list[tuple[float, int]] = []  # the commander's (time, acked) frames
        self.everyone_has_it = asyncio.Event()
        self.everyone_read = asyncio.Event()
        self.reads = 0
        self.all_answered = asyncio.Event()
        self.final_count = asyncio.Event()
        self.received = self.answered = 0

    async def listen(self, client: Member) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            async for raw in client.ws:
                now = time.perf_counter()
                frame = json.loads(raw)
                kind = frame.get("type")
                if kind == "message.new" and frame["message"].get("client_id") == self.client_id:
                    self.message_id = frame["message"]["id"]
                    self.seq = frame["message"]["seq"]
                    if client.idx and client.got_message is None:
                        client.got_message = now
                        self.received += 1
                        if self.received >= self.members:
                            self.everyone_has_it.set()
                elif kind == "read_ok" and client.idx and not client.read_ok:
                    client.read_ok = True
                    self.reads += 1
                    if self.reads >= self.members:
                        self.everyone_read.set()
                elif kind == "sent" and frame.get("client_id") == self.client_id:
                    self.message_id = frame.get("id", self.message_id)
                elif kind in ("ack_ok", "error") and client.idx and client.answered is None:
                    client.answered = now
                    if kind == "error":
                        client.error = frame
                    self.answered += 1
                    if self.answered >= self.members:
                        self.all_answered.set()
                elif kind == "receipt.counts" and client.idx == 0:
                    for c in frame["counts"]:
                        if c["message"] == self.message_id:
                            self.counts.append((now, c["acked"]))
                            if c["acked"] >= self.members:
                                self.final_count.set()
        except ConnectionClosed:
            pass


async def connect_all(burst: Burst, urls: list[str], cookies: list[str]) -> float:
    from websockets.asyncio.client import connect

    sem = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def one(idx: int) -> Member:
        url = urls[idx % len(urls)]
        async with sem:
            ws = await connect(
                url,
                origin="http://" + urlsplit(url).netloc,
                compression=None,
                ping_interval=None,
                max_size=2**22,
                max_queue=None,
                open_timeout=120,
                additional_headers={"Cookie": f"sessionid={cookies[idx]}"},
            )
            hello = json.loads(await asyncio.wait_for(ws.recv(), 60))
            if hello.get("type") != "hello":
                raise RuntimeError(f"client {idx}: expected hello, got {hello}")
        client = Member(idx, ws)
        asyncio.ensure_future(burst.listen(client))
        return client

    started = time.perf_counter()
    burst.clients = list(await asyncio.gather(*(one(i) for i in range(burst.members + 1))))
    return time.perf_counter() - started


PROFILE_DIR: Path | None = None


def start(kind: str, servers: int, log_dir: Path, tag: str, server_root: Path):
    procs, urls = [], []
    for i in range(servers):
        port = fanout.free_port()
        if kind == "honbu":
            cmd, cwd = server_command("127.0.0.1", port, log_level="warning"), server_root
            if PROFILE_DIR is not None:  # cProfile of the whole server, written when it stops
                out = PROFILE_DIR / f"{tag}-{i}.prof"
                cmd = [cmd[0], "-m", "cProfile", "-o", str(out), *cmd[1:]]
        else:
            cmd, cwd = [sys.executable, str(ROOT / "bench" / "_ack_baseline.py"), str(port)], ROOT
        log = open(log_dir / f"{tag}-{i}.log", "wb")  # noqa: SIM115 (closed with the process)
        procs.append(subprocess.Popen(cmd, cwd=cwd, stdout=log, stderr=subprocess.STDOUT))
        log.close()
        urls.append(f"ws://127.0.0.1:{port}/ws/")
    for proc, url in zip(procs, urls, strict=True):
        fanout.wait_port(urlsplit(url).port, proc)
    print(f"  {kind} server pids: {' '.join(str(p.pid) for p in procs)}", flush=True)
    return procs, urls


def cpu(procs) -> float:
    total = 0.0
    for p in procs:
        t = psutil.Process(p.pid).cpu_times()
        total += t.user + t.system
    return total


def db_check(message_id: int) -> dict[str, int]:
    from django.db import connection

    from messaging.models import Chase, Receipt

    try:
        receipts = Receipt.objects.filter(message_id=message_id, observer=False)
        return {
            "receipts": receipts.count(),
            "acked": receipts.filter(acked_at__isnull=False).count(),
            "chases_covered": Chase.objects.filter(message_id=message_id, state="covered").count(),
            "chases": Chase.objects.filter(message_id=message_id).count(),
        }
    finally:
        connection.close()


async def measure(kind, servers, members, group_id, cookies, args, log_dir) -> dict[str, Any]:
    tag = f"{kind}-{members}-x{servers}"
    fanout.clear_channel_groups()
    procs, urls = start(kind, servers, log_dir, tag, args.server_root)
    burst = Burst(members)
    r: dict[str, Any] = {"kind": kind, "servers": servers, "members": members}
    try:
        r["connect_s"] = await asyncio.wait_for(connect_all(burst, urls, cookies), 300)
        commander = burst.clients[0]
        await commander.ws.send(
            json.dumps(
                {
                    "type": "send",
                    "group": group_id,
                    "client_id": burst.client_id,
                    "kind": "instruction",
                    "priority": "urgent",
                    "requires_ack": True,
                    "body": "【指示】全員、了解を押してください。",
                },
                ensure_ascii=False,
            )
        )
        await asyncio.wait_for(burst.everyone_has_it.wait(), 60)
        if kind == "honbu" and not args.unread:
            read = json.dumps({"type": "read", "group": group_id, "up_to_seq": burst.seq})
            await asyncio.gather(*(c.ws.send(read) for c in burst.clients[1:]))
            await asyncio.wait_for(burst.everyone_read.wait(), 60)
        await asyncio.sleep(1.0)  # the delivery's own work is over before the burst
        frame = json.dumps({"type": "ack", "message": burst.message_id, "ref": "ack"})
        load = os.getloadavg()[0]
        cpu0 = cpu(procs)

        async def tap(c: Member) -> None:
            c.tapped = time.perf_counter()
            await c.ws.send(frame)

        await asyncio.gather(*(tap(c) for c in burst.clients[1:]))
        last_tap = max(c.tapped for c in burst.clients[1:])
        try:
            await asyncio.wait_for(
                asyncio.gather(burst.all_answered.wait(), burst.final_count.wait()),
                args.burst_timeout,
            )
        except TimeoutError:
            print(
                f"  timed out: {burst.answered}/{members} answered, commander shows "
                f"{burst.counts[-1][1] if burst.counts else 0}",
                flush=True,
            )
        cpu1 = cpu(procs)
        first_tap = min(c.tapped for c in burst.clients[1:])
        answers = [c.answered - c.tapped for c in burst.clients[1:] if c.answered and not c.error]
        last_answer = max((c.answered for c in burst.clients[1:] if c.answered), default=None)
        final = next((t for t, n in burst.counts if n >= members), None)
        errors = [c.error for c in burst.clients[1:] if c.error]
        r.update(
            {
                "load": load,
                "answered": len(answers),
                "errors": len(errors),
                "p50": pct(answers, 50),
                "p99": pct(answers, 99),
                "max": max(answers, default=math.nan),
                "final_after_last_tap": final - last_tap if final else math.inf,
                "rate": len(answers) / (last_answer - first_tap) if last_answer else math.nan,
                "cpu_per_ack_ms": (cpu1 - cpu0) / max(1, len(answers)) * 1000,
                "tap_spread_ms": (last_tap - first_tap) * 1000,
            }
        )
        if errors:
            print(f"  {len(errors)} error frames, first: {errors[0]}", flush=True)
        if kind == "honbu":
            r.update(await asyncio.to_thread(db_check, burst.message_id))

        async def close(c: Member) -> None:
            try:
                await asyncio.wait_for(c.ws.close(), 5)
            except (TimeoutError, OSError):
                c.ws.transport.abort()

        await asyncio.gather(*(close(c) for c in burst.clients), return_exceptions=True)
    finally:
        paths = [log_dir / f"{tag}-{i}.log" for i in range(servers)]
        fanout.stop_servers(procs)
    logs = "".join(p.read_text(errors="replace") for p in paths if p.exists())
    r["tracebacks"] = logs.count("Traceback")
    return r


def report(results: list[dict[str, Any]], info: dict[str, str]) -> None:
    print(f"\n了解 burst — {info['database']}, Redis {info['redis']}")
    print(
        "| members | server | load | answered | answer p50 s | p99 s | max s "
        "| commander final count s after last tap | 了解/s | server CPU ms per 了解 "
        "| baseline p99 s | ratio p99 | baseline 了解/s | ratio CPU | tracebacks |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    base = {r["members"]: r for r in results if r["kind"] == "baseline"}
    for r in results:
        b = base.get(r["members"]) if r["kind"] == "honbu" else None
        name = f"Honbu ×{r['servers']}" if r["kind"] == "honbu" else "bare websockets"
        print(
            f"| {r['members']:,} | {name} | {r['load']:.1f} | {r['answered']:,} "
            f"| {fmt(r['p50'], 3)} | {fmt(r['p99'], 3)} | {fmt(r['max'], 3)} "
            f"| {fmt(r['final_after_last_tap'], 3)} | {fmt(r['rate'])} "
            f"| {fmt(r['cpu_per_ack_ms'], 2)} | {fmt(b['p99'], 3) if b else '–'} "
            f"| {fmt(r['p99'] / b['p99'], 1) + '×' if b else '–'} "
            f"| {fmt(b['rate']) if b else '–'} "
            f"| {fmt(r['cpu_per_ack_ms'] / b['cpu_per_ack_ms'], 1) + '×' if b else '–'} "
            f"| {r['tracebacks']} |"
        )
    print("\nDatabase after each Honbu burst (each receipt acknowledged once, chases covered):")
    for r in results:
        if r["kind"] == "honbu":
            ok = r["acked"] == r["receipts"] == r["members"] and r["chases_covered"] == r["chases"]
            print(
                f"  {'OK  ' if ok else 'BAD '} {r['members']:,} ×{r['servers']}: "
                f"{r['acked']:,}/{r['receipts']:,} receipts acknowledged, "
                f"{r['chases_covered']:,}/{r['chases']:,} chases covered"
            )
    print("\nTargets:")
    for r in results:
        if r["kind"] != "honbu":
            continue
        label = f"{r['members']:,} members, Honbu ×{r['servers']}"
        ok = r["p99"] <= TARGET_ANSWER_P99_S and r["answered"] == r["members"]
        print(f"  {'PASS' if ok else 'MISS'}  {label}: answer p99 {fmt(r['p99'], 3)} s ≤ 1 s")
        ok = r["final_after_last_tap"] <= TARGET_FINAL_COUNT_S
        print(
            f"  {'PASS' if ok else 'MISS'}  {label}: commander's final count "
            f"{fmt(r['final_after_last_tap'], 3)} s after the last tap ≤ 1.5 s"
        )
        if r["servers"] >= 2:
            ok = r["rate"] >= TARGET_ACKS_PER_S
            print(f"  {'PASS' if ok else 'MISS'}  {label}: {fmt(r['rate'])} 了解/s ≥ 2,000")


async def run_all(args, seeded, groups, log_dir) -> list[dict[str, Any]]:
    results = []
    for members in args.members:
        for kind, servers in [("honbu", s) for s in args.servers] + [("baseline", 1)]:
            name = f"Honbu ×{servers}" if kind == "honbu" else "bare websockets"
            print(f"{members:,} members, {name} …", flush=True)
            r = await measure(
                kind, servers, members, groups[members], seeded.cookies, args, log_dir
            )
            print(
                f"  connect {r['connect_s']:.1f} s; answer p50 {fmt(r['p50'], 3)} s, "
                f"p99 {fmt(r['p99'], 3)} s; final count {fmt(r['final_after_last_tap'], 3)} s "
                f"after the last tap; {fmt(r['rate'])} 了解/s; "
                f"{fmt(r['cpu_per_ack_ms'], 2)} ms CPU per 了解 (load {r['load']:.1f})",
                flush=True,
            )
            results.append(r)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, nargs="+", default=[2000])
    parser.add_argument("--servers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--redis-db", type=int, default=10)
    parser.add_argument(
        "--unread", action="store_true", help="tap 了解 without having reported reading first"
    )
    parser.add_argument("--burst-timeout", type=float, default=120.0)
    parser.add_argument("--timeout", type=int, default=900, help="the whole run stops after")
    parser.add_argument("--server-root", type=Path, default=ROOT, help="serve Honbu from here")
    parser.add_argument("--log-dir", type=Path, help="keep the servers' logs here")
    parser.add_argument("--profile-dir", type=Path, help="cProfile each Honbu server into here")
    args = parser.parse_args()
    global PROFILE_DIR  # noqa: PLW0603 - one setting for the whole run
    PROFILE_DIR = args.profile_dir
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max(args.members) * 2 + 256
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(want, soft)), hard))
    var_dir = Path(tempfile.mkdtemp(prefix="honbu-ack-"))
    info: dict[str, str] = {}
    try:
        info = fanout.prepare_environment(args, var_dir)
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection

        print(
            f"database: {info['database']}; redis: {info['redis']}; serving {args.server_root}; "
            f"{'unread' if args.unread else 'read'} before the burst; "
            f"load average {os.getloadavg()[0]:.1f}",
            flush=True,
        )
        call_command("migrate", verbosity=0)
        started = time.perf_counter()
        seeded = fanout.seed(max(args.members) + 1)
        # make_group(n): the commander and n - 1 members
        groups = {m: fanout.make_group(seeded, m + 1) for m in args.members}
        print(f"seeded in {time.perf_counter() - started:.1f} s", flush=True)
        connection.close()
        log_dir = args.log_dir or var_dir
        log_dir.mkdir(parents=True, exist_ok=True)
        results = asyncio.run(
            asyncio.wait_for(run_all(args, seeded, groups, log_dir), args.timeout)
        )
        report(results, info)
        print(f"load average after: {os.getloadavg()[0]:.1f}")
        fanout.clear_channel_groups()
        return 1 if sum(r["tracebacks"] for r in results) else 0
    finally:
        fanout.release_storage(info, var_dir)
        shutil.rmtree(var_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
