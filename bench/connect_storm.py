"""Websocket connect storm and idle memory: ``.venv/bin/python bench/connect_storm.py
[--sockets 2000] [--servers 1 2] [--idle 10000] [--minutes 2] [--server uvicorn]``.

1. Connect storm, per server count (``--servers``): ``--sockets`` real websocket clients (the
   ``websockets`` library, one asyncio process) with real Django sessions open their socket all at
   once, spread over the server processes. Each waits for ``hello``, then catches up like the
   chat page does (``sync`` after the last sequence number it had, ``--missed`` messages behind)
   and counts as caught up when its ``history`` arrives. Then the network "blips": every client
   drops its connection without a close frame, and all reconnect and catch up again at once
   (the reconnect storm). Then the same blip once more, the clients waiting only for ``hello``
   (the connect itself: session, user, groups and roles; the ≤ 3 ms target is judged on it).
   Per storm: server CPU per connect (CPU seconds of the server processes, psutil, over the
   storm, divided by the sockets), time until all are caught up (or have hello), p50.
   ``--py-spy``: Honbu's servers run under ``py-spy record --gil`` (collapsed stacks into
   ``--log-dir``; its own CPU is then counted too).
2. Idle memory: ``--idle`` sockets held open on two server processes; resident memory of the
   servers before and with them connected (total and per socket), then sampled for
   ``--minutes`` to watch for growth (the target is flat over 30 minutes: ``--minutes 30``).
3. Baseline in the same run: a bare ``websockets`` server (bench/_connect_baseline.py: ``hello``,
   and a ``history`` frame of the same size for ``sync``) with the same clients, the same server
   counts; ratio = Honbu / bare.

Every server's output is kept and searched for "Traceback" (the target is none: a client
leaving is normal). ``--server`` measures Honbu under Daphne or granian instead of uvicorn
(docs/servers.md).

Never touches your data: DATABASE_URL set (PostgreSQL) → a separate database ``--db-name`` on
the same server, created and dropped by this script; else a SQLite file in a temporary directory
(the targets are for PostgreSQL). REDIS_URL set → the same server with database ``--redis-db``;
else the embedded Redis. Only 127.0.0.1 is contacted. Raises its own open-file limit
(``ulimit -n``) as far as the hard limit allows. Exits non-zero only on errors; missed targets
print MISS.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.fanout import free_port, pct, seed, wait_port  # noqa: E402

TARGET_CPU_MS = 3.0  # server CPU per connect
TARGET_CAUGHT_UP_S = 5.0  # 2,000 reconnecting, two processes
TARGET_IDLE_MB = 1024.0  # 10,000 idle sockets, two processes, total RSS
WARD_GROUPS = 20  # besides the big group, each person is in one of these (hello has two groups)
OPEN_TIMEOUT = 120.0


# --- storage ----------------------------------------------------------------------------------
def prepare_environment(args: argparse.Namespace, var_dir: Path) -> dict[str, str]:
    os.environ["HONBU_VAR_DIR"] = str(var_dir)
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.local"
    os.environ["DJANGO_DEBUG"] = "0"
    os.environ["DJANGO_ALLOWED_HOSTS"] = "127.0.0.1,localhost"
    os.environ["DJANGO_LOG_LEVEL"] = "WARNING"
    info = {"database": "SQLite (temporary file)", "redis": "embedded (temporary directory)"}
    url = os.environ.get("DATABASE_URL", "")
    if url:
        import psycopg

        parts = urlsplit(url)
        admin = urlunsplit(parts._replace(path="/postgres"))
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{args.db_name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{args.db_name}"')
            version = conn.execute("SHOW server_version").fetchone()[0]
        os.environ["DATABASE_URL"] = urlunsplit(parts._replace(path=f"/{args.db_name}"))
        info["database"] = f"PostgreSQL {version.split()[0]} (database {args.db_name})"
        info["pg_admin"] = admin
    redis_url = os.environ.get("REDIS_URL", "")
    if redis_url:
        parts = urlsplit(redis_url)
        os.environ["REDIS_URL"] = urlunsplit(parts._replace(path=f"/{args.redis_db}"))
        info["redis"] = f"{parts.hostname}:{parts.port or 6379} db {args.redis_db}"
    return info


def drop_database(info: dict[str, str], name: str) -> None:
    if "pg_admin" not in info:
        return
    import psycopg

    with psycopg.connect(info["pg_admin"], autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def make_groups(staff_ids: list[int], commander_post_id: int, messages: int) -> int:
    """The big group (everyone; ``messages`` instructions in it already) and the ward groups."""
    import uuid

    from directory.models import Post, User
    from messaging.models import CommandGroup, GroupMembership
    from messaging.services import group_add_member, group_create, message_send

    big = group_create(name="接続試験本部", kind=CommandGroup.Kind.HEADQUARTERS, actor=None)
    post = Post.objects.get(pk=commander_post_id)
    group_add_member(group=big, actor=None, post=post, role=GroupMembership.Role.COMMANDER)
    mayor = User.objects.get(staff__pk=staff_ids[0])
    for n in range(messages):  # sent before the members are added: no receipts to write
        message_send(
            group=big,
            sender=mayor,
            client_id=uuid.uuid4(),
            kind="instruction",
            priority="urgent",
            requires_ack=True,
            body=f"【指示 {n}】各区本部は避難所の開設状況を 15 分以内に報告してください。",
        )
    wards = [
        group_create(name=f"区本部 {w}", kind=CommandGroup.Kind.HEADQUARTERS, actor=None)
        for w in range(WARD_GROUPS)
    ]
    member = GroupMembership.Role.MEMBER
    rows = [GroupMembership(group=big, staff_id=sid, role=member) for sid in staff_ids[1:]]
    rows += [
        GroupMembership(group=wards[i % WARD_GROUPS], staff_id=sid, role=member)
        for i, sid in enumerate(staff_ids)
    ]
    GroupMembership.objects.bulk_create(rows, batch_size=2000)
    return big.pk


# --- servers ----------------------------------------------------------------------------------
def server_cmd(kind: str, server: str, port: int, messages: int) -> list[str]:
    if kind == "baseline":
        return [
            sys.executable,
            str(ROOT / "bench" / "_connect_baseline.py"),
            str(port),
            str(messages),
        ]
    if server == "daphne":
        return [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
                "--access-log", os.devnull, "config.asgi:application"]  # fmt: skip
    if server == "granian":
        return [sys.executable, "-m", "granian", "--interface", "asgi", "--host", "127.0.0.1",
                "--port", str(port), "--loop", "uvloop", "--log-level", "warning",
                "--backlog", "2048", "config.asgi:application"]  # fmt: skip
    from config.server import server_command

    return server_command("127.0.0.1", port, log_level="warning")


@dataclass
class Servers:
    procs: list[subprocess.Popen]
    urls: list[str]
    logs: list[Path]

    def cpu(self) -> float:
        import psutil

        total = 0.0
        for p in self.procs:
            proc = psutil.Process(p.pid)
            for one in [proc, *proc.children(recursive=True)]:
                t = one.cpu_times()
                total += t.user + t.system
        return total

    def rss(self) -> float:
        import psutil

        total = 0
        for p in self.procs:
            proc = psutil.Process(p.pid)
            total += sum(one.memory_info().rss for one in [proc, *proc.children(recursive=True)])
        return total / 2**20

    def tracebacks(self) -> int:
        return sum(p.read_text(errors="replace").count("Traceback") for p in self.logs)

    def first_traceback(self) -> str:
        for p in self.logs:
            text = p.read_text(errors="replace")
            at = text.find("Traceback")
            if at >= 0:
                return text[max(0, at - 300) : at + 2500]
        return ""


def start_servers(kind: str, count: int, args: argparse.Namespace, log_dir: Path) -> Servers:
    procs, urls, logs = [], [], []
    for i in range(count):
        port = free_port()
        path = log_dir / f"{kind}-{args.server}-x{count}-{i}-{port}.log"
        with open(path, "wb") as log:
            cmd = server_cmd(kind, args.server, port, args.messages)
            if args.py_spy and kind == "honbu":  # collapsed stacks, one file per process
                out = log_dir / f"py-spy-x{count}-{i}.txt"
                spy = str(Path(sys.executable).parent / "py-spy")
                cmd = [spy, "record", "--gil", "--format", "raw", "-r", "200", "-o", str(out),
                       "--", *cmd]  # fmt: skip
            procs.append(subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT))
        urls.append(f"ws://127.0.0.1:{port}/ws/")
        logs.append(path)
    for proc, url in zip(procs, urls, strict=True):
        wait_port(urlsplit(url).port, proc)
    return Servers(procs, urls, logs)


def stop_servers(servers: Servers) -> None:
    for proc in servers.procs:
        if proc.poll() is None:
            if str(proc.args[0]).endswith("py-spy"):
                proc.send_signal(signal.SIGINT)  # py-spy writes its profile on SIGINT
            else:
                proc.terminate()
    for proc in servers.procs:
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


# --- clients ----------------------------------------------------------------------------------
@dataclass
class Storm:
    seconds_all: float = math.nan
    p50: float = math.nan
    cpu_ms: float = math.nan
    client_cpu_ms: float = math.nan
    failed: int = 0
    first_error: str = ""
    sockets: list[Any] = field(default_factory=list)


async def open_socket(url: str, cookie: str, group: int, after: int | None) -> Any:
    """Connect, wait for hello, and (``after`` given) catch up: sync → history."""
    from websockets.asyncio.client import connect

    origin = "http://" + urlsplit(url).netloc
    ws = await connect(
        url,
        origin=origin,
        compression=None,
        ping_interval=None,
        max_size=2**22,
        max_queue=None,
        open_timeout=OPEN_TIMEOUT,
        close_timeout=2,
        additional_headers={"Cookie": f"sessionid={cookie}"},
    )
    hello = json.loads(await asyncio.wait_for(ws.recv(), OPEN_TIMEOUT))
    if hello.get("type") != "hello":
        raise RuntimeError(f"expected hello, got {hello}")
    if after is None:
        return ws
    await ws.send(json.dumps({"type": "sync", "group": group, "after_seq": after, "ref": "s"}))
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), OPEN_TIMEOUT))
        if frame.get("type") == "history":
            return ws
        if frame.get("type") == "error":
            raise RuntimeError(f"sync refused: {frame}")


async def storm(servers: Servers, cookies: list[str], group: int, after: int) -> Storm:
    """All at once: every client connects and catches up; nothing limits the concurrency."""
    out = Storm()
    done: list[float] = []

    async def one(i: int) -> Any:
        ws = await open_socket(servers.urls[i % len(servers.urls)], cookies[i], group, after)
        done.append(time.perf_counter())
        return ws

    cpu0, client0, t0 = servers.cpu(), time.process_time(), time.perf_counter()
    results = await asyncio.gather(*(one(i) for i in range(len(cookies))), return_exceptions=True)
    await asyncio.sleep(0.5)  # work the servers still do for the last ones (none expected)
    cpu1, client1 = servers.cpu(), time.process_time()
    out.sockets = [r for r in results if not isinstance(r, BaseException)]
    errors = [r for r in results if isinstance(r, BaseException)]
    out.failed = len(errors)
    out.first_error = repr(errors[0]) if errors else ""
    if done:
        out.seconds_all = max(done) - t0
        out.p50 = pct([d - t0 for d in done], 50)
    out.cpu_ms = (cpu1 - cpu0 - 0.5 * idle_cpu_per_s(servers)) / max(1, len(out.sockets)) * 1000
    out.client_cpu_ms = (client1 - client0) / max(1, len(cookies)) * 1000
    return out


_idle_cpu: dict[int, float] = {}


def idle_cpu_per_s(servers: Servers) -> float:
    return _idle_cpu.get(id(servers), 0.0)


async def measure_idle_cpu(servers: Servers, seconds: float = 1.0) -> None:
    cpu0 = servers.cpu()
    await asyncio.sleep(seconds)
    _idle_cpu[id(servers)] = max(0.0, (servers.cpu() - cpu0) / seconds)


async def drop_all(sockets: list[Any]) -> None:
    """A network blip: connections vanish without a close frame."""
    for ws in sockets:
        ws.transport.abort()
    await asyncio.sleep(0)


async def close_all(sockets: list[Any]) -> None:
    async def close(ws: Any) -> None:
        try:
            await asyncio.wait_for(ws.close(), 5)
        except (TimeoutError, OSError):
            ws.transport.abort()

    await asyncio.gather(*(close(ws) for ws in sockets), return_exceptions=True)


async def connect_many(urls: list[str], cookies: list[str], concurrency: int) -> list[Any]:
    sem = asyncio.Semaphore(concurrency)

    async def one(i: int) -> Any:
        async with sem:
            return await open_socket(urls[i % len(urls)], cookies[i], 0, None)

    results = await asyncio.gather(*(one(i) for i in range(len(cookies))), return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors:
        print(f"  {len(errors)} idle sockets failed to connect, first: {errors[0]!r}", flush=True)
    return [r for r in results if not isinstance(r, BaseException)]


# --- phases -----------------------------------------------------------------------------------
async def storm_phase(
    kind: str, count: int, args: argparse.Namespace, seeded: Any, group: int, log_dir: Path
) -> dict[str, Any]:
    servers = start_servers(kind, count, args, log_dir)
    result: dict[str, Any] = {"kind": kind, "servers": count, "load": os.getloadavg()[0]}
    try:
        cookies = seeded.cookies[: args.sockets]
        after = max(0, args.messages - args.missed)
        warm = await connect_many(servers.urls, cookies[: 10 * count], 10 * count)  # imports, pools
        await close_all(warm)
        await asyncio.sleep(1.0)
        await measure_idle_cpu(servers)
        first = await storm(servers, cookies, group, after)
        await drop_all(first.sockets)
        await asyncio.sleep(args.blip)
        again = await storm(servers, cookies, group, after)
        # The connect itself (session, user, groups and roles, hello), without the catch-up:
        # the same blip, and the pages only wait for hello.
        await drop_all(again.sockets)
        await asyncio.sleep(args.blip)
        hello = await storm(servers, cookies, group, None)
        await close_all(hello.sockets)
        await asyncio.sleep(2.0)  # the servers' clean-up of the leaving sockets, logged or not
        result.update(first=first, again=again, hello=hello)
    finally:
        stop_servers(servers)
        result["tracebacks"] = servers.tracebacks()
        result["traceback_text"] = servers.first_traceback()
    return result


async def idle_phase(
    kind: str, args: argparse.Namespace, seeded: Any, log_dir: Path
) -> dict[str, Any]:
    servers = start_servers(kind, 2, args, log_dir)
    result: dict[str, Any] = {"kind": kind, "servers": 2, "load": os.getloadavg()[0]}
    try:
        warm = await connect_many(servers.urls, seeded.cookies[:20], 20)
        await close_all(warm)
        await asyncio.sleep(2.0)
        before = servers.rss()
        t0 = time.perf_counter()
        sockets = await connect_many(servers.urls, seeded.cookies[: args.idle], 500)
        connected_s = time.perf_counter() - t0
        await asyncio.sleep(3.0)
        held = servers.rss()
        samples = [(0.0, held)]
        started = time.monotonic()
        end = started + args.minutes * 60
        while time.monotonic() < end:
            await asyncio.sleep(min(15.0, max(0.0, end - time.monotonic())))
            samples.append((time.monotonic() - started, servers.rss()))
        alive = sum(1 for ws in sockets if ws.state.name == "OPEN")
        await close_all(sockets)
        await asyncio.sleep(2.0)
        result.update(
            sockets=len(sockets),
            alive=alive,
            connected_s=connected_s,
            before_mb=before,
            held_mb=held,
            end_mb=samples[-1][1],
            per_socket_kb=(held - before) * 1024 / max(1, len(sockets)),
            growth_mb=samples[-1][1] - held,
            minutes=args.minutes,
            samples=samples,
        )
    finally:
        stop_servers(servers)
        result["tracebacks"] = servers.tracebacks()
        result["traceback_text"] = servers.first_traceback()
    return result


LABELS = {"first": "connect", "again": "reconnect", "hello": "reconnect, hello only"}


# --- report -----------------------------------------------------------------------------------
def fmt(x: float, digits: int = 1) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:,.{digits}f}"


def report(storms: list[dict], idles: list[dict], args: argparse.Namespace) -> int:
    name = {"honbu": f"Honbu ({args.server})", "baseline": "bare websockets"}
    print(f"\nConnect storm: {args.sockets:,} sockets at once, then all dropped and reconnected")
    print(
        "| server | processes | storm | caught up, all s | p50 s | server CPU / connect ms "
        "| ratio | client CPU / connect ms | failed | load |"
    )
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    base = {(r["servers"]): r for r in storms if r["kind"] == "baseline"}
    verdicts = []
    for r in storms:
        b = base.get(r["servers"])
        for label in ("first", "again", "hello"):
            s: Storm = r[label]
            ratio = s.cpu_ms / b[label].cpu_ms if b and r["kind"] == "honbu" else math.nan
            print(
                f"| {name[r['kind']]} | {r['servers']} "
                f"| {LABELS[label]} | {fmt(s.seconds_all, 2)} "
                f"| {fmt(s.p50, 2)} | {fmt(s.cpu_ms, 2)} | {fmt(ratio)}× "
                f"| {fmt(s.client_cpu_ms, 2)} | {s.failed} | {r['load']:.1f} |"
            )
            if s.failed:
                print(f"  first failure: {s.first_error}")
    if idles:
        print(f"\nIdle sockets on two processes, held {args.minutes:g} min")
        print(
            "| server | sockets | open at end | RSS before MB | RSS held MB | per socket KB "
            "| ratio | growth MB | load |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        bare = next((r for r in idles if r["kind"] == "baseline"), None)
        for r in idles:
            ratio = (
                r["per_socket_kb"] / bare["per_socket_kb"]
                if bare and r["kind"] == "honbu"
                else math.nan
            )
            print(
                f"| {name[r['kind']]} | {r['sockets']:,} | {r['alive']:,} | {fmt(r['before_mb'])} "
                f"| {fmt(r['held_mb'])} | {fmt(r['per_socket_kb'])} | {fmt(ratio)}× "
                f"| {fmt(r['growth_mb'])} | {r['load']:.1f} |"
            )
        for r in idles:
            trail = ", ".join(f"{t / 60:.1f} min {mb:.0f}" for t, mb in r["samples"])
            print(f"  {name[r['kind']]} RSS MB over time: {trail}")
    print("\nTargets:")
    for r in storms:
        if r["kind"] != "honbu":
            continue
        s = r["hello"]
        ok = s.cpu_ms <= TARGET_CPU_MS and not s.failed
        verdicts.append(
            f"{'PASS' if ok else 'MISS'}  server CPU per connect (to hello), {r['servers']} "
            f"process(es): {fmt(s.cpu_ms, 2)} ms ≤ {TARGET_CPU_MS} ms (with the catch-up: "
            f"{fmt(r['first'].cpu_ms, 2)} / {fmt(r['again'].cpu_ms, 2)} ms)"
        )
        if r["servers"] == 2 and args.sockets >= 2000:
            s = r["again"]
            ok = s.seconds_all <= TARGET_CAUGHT_UP_S and not s.failed
            verdicts.append(
                f"{'PASS' if ok else 'MISS'}  {args.sockets:,} reconnecting, two processes: all "
                f"caught up in {fmt(s.seconds_all, 2)} s ≤ {TARGET_CAUGHT_UP_S:.0f} s"
            )
    for r in idles:
        if r["kind"] != "honbu":
            continue
        ok = r["held_mb"] <= TARGET_IDLE_MB and r["alive"] == r["sockets"] == args.idle
        verdicts.append(
            f"{'PASS' if ok else 'MISS'}  {r['sockets']:,} idle sockets on two processes: "
            f"{fmt(r['held_mb'], 0)} MB ≤ {TARGET_IDLE_MB:.0f} MB"
            f"{'' if args.idle >= 10000 else ' (fewer sockets than the target’s 10,000)'}"
        )
        verdicts.append(
            f"{'PASS' if r['growth_mb'] <= 0.05 * r['held_mb'] else 'MISS'}  no growth over "
            f"{args.minutes:g} min: {fmt(r['growth_mb'])} MB (the target is 30 min)"
        )
    tracebacks = sum(r["tracebacks"] for r in storms + idles)
    verdicts.append(
        f"{'PASS' if tracebacks == 0 else 'MISS'}  tracebacks in the servers' logs: {tracebacks}"
    )
    for v in verdicts:
        print("  " + v)
    for r in storms + idles:
        if r["tracebacks"]:
            print(f"\nfirst traceback ({name[r['kind']]} ×{r['servers']}):\n{r['traceback_text']}")
            break
    return tracebacks


async def run_all(args: argparse.Namespace, seeded: Any, group: int, log_dir: Path):
    storms, idles = [], []
    kinds = ("honbu",) if args.no_baseline else ("honbu", "baseline")
    for count in args.servers:
        for kind in kinds:
            print(f"storm: {kind}, {count} process(es) …", flush=True)
            r = await storm_phase(kind, count, args, seeded, group, log_dir)
            f, a, h = r["first"], r["again"], r["hello"]
            print(
                f"  connect: all caught up {fmt(f.seconds_all, 2)} s, {fmt(f.cpu_ms, 2)} ms CPU"
                f" each; reconnect: {fmt(a.seconds_all, 2)} s, {fmt(a.cpu_ms, 2)} ms; "
                f"reconnect to hello only: {fmt(h.seconds_all, 2)} s, {fmt(h.cpu_ms, 2)} ms; "
                f"failed {f.failed}/{a.failed}/{h.failed}; tracebacks {r['tracebacks']}",
                flush=True,
            )
            storms.append(r)
    if args.idle:
        for kind in kinds:
            print(f"idle: {kind}, {args.idle:,} sockets on two processes …", flush=True)
            r = await idle_phase(kind, args, seeded, log_dir)
            print(
                f"  {r['held_mb']:.0f} MB held ({r['per_socket_kb']:.1f} KB a socket), "
                f"growth {r['growth_mb']:.1f} MB; tracebacks {r['tracebacks']}",
                flush=True,
            )
            idles.append(r)
    return storms, idles


def raise_file_limit(want: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        new = want if hard == resource.RLIM_INFINITY else min(hard, want)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    print(f"open-file limit {soft} (hard {hard}); wanted {want}", flush=True)
    if soft < want:
        print("  too low: fewer sockets will connect (raise the hard limit: ulimit -Hn)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sockets", type=int, default=2000, help="sockets in the storm")
    parser.add_argument("--servers", type=int, nargs="+", default=[1, 2], help="process counts")
    parser.add_argument("--idle", type=int, default=10000, help="idle sockets (0: skip)")
    parser.add_argument("--minutes", type=float, default=2.0, help="how long to hold them idle")
    parser.add_argument("--messages", type=int, default=20, help="messages in the big group")
    parser.add_argument("--missed", type=int, default=5, help="messages each client catches up")
    parser.add_argument("--blip", type=float, default=1.0, help="seconds between drop and storm")
    parser.add_argument("--server", choices=["uvicorn", "daphne", "granian"], default="uvicorn")
    parser.add_argument(
        "--no-baseline", action="store_true", help="Honbu only (comparing servers, docs/servers.md)"
    )
    parser.add_argument("--db-name", default="honbu_conn_storm_bench")
    parser.add_argument("--redis-db", type=int, default=11)
    parser.add_argument("--log-dir", type=Path, help="keep the servers' logs here")
    parser.add_argument(
        "--py-spy", action="store_true", help="profile Honbu's servers (py-spy, into --log-dir)"
    )
    args = parser.parse_args()

    people = max(args.sockets, args.idle)
    raise_file_limit(people + 1024)  # the servers inherit it: half of the idle sockets each
    var_dir = Path(tempfile.mkdtemp(prefix="honbu-storm-"))
    info: dict[str, str] = {}
    try:
        info = prepare_environment(args, var_dir)
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection

        print(
            f"database: {info['database']}; redis: {info['redis']}; server: {args.server}; "
            f"load average {os.getloadavg()[0]:.1f}",
            flush=True,
        )
        call_command("migrate", verbosity=0)
        started = time.perf_counter()
        seeded = seed(people)
        group = make_groups(seeded.staff_ids, seeded.commander_post_id, args.messages)
        print(f"seeded {people:,} people with sessions in {time.perf_counter() - started:.1f}s")
        connection.close()
        log_dir = args.log_dir or var_dir
        log_dir.mkdir(parents=True, exist_ok=True)
        import uvloop

        storms, idles = uvloop.run(run_all(args, seeded, group, log_dir))
        tracebacks = report(storms, idles, args)
        print(f"load average after: {os.getloadavg()[0]:.1f}")
        failed = sum(r["first"].failed + r["again"].failed for r in storms)
        return 1 if failed or tracebacks else 0
    finally:
        from django.conf import settings

        if settings.configured and getattr(settings, "REDIS_EMBEDDED", False):
            from config.embedded import stop

            stop(var_dir)
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # noqa: BLE001, S110 - cleanup must go on
            pass
        drop_database(info, args.db_name)
        shutil.rmtree(var_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
