"""Websocket fan-out benchmark: ``.venv/bin/python bench/fanout.py [--members 200 2000]
[--messages 20] [--daphne 1 2]``.

N real websocket clients (the ``websockets`` library, one asyncio process) sign in as members
of one command group through Django session cookies and connect to Daphne serving
``config.asgi:application`` (a subprocess, or two sharing Redis). One of them, the group's
commander, posts instructions. Measured, per N:

1. fan-out: ``--messages`` urgent instructions ``--interval`` seconds apart (after one warm-up
   message); latency = a member's receive time of ``message.new`` minus the sender's time just
   before sending the ``send`` frame (same process, same clock). p50/p99/max over every
   (message, member) pair, the sender's own socket excluded.
2. read receipts: the commander posts a few more instructions, then every member sends one
   ``read`` frame per instruction, all at once, pipelined (about ``--receipts`` receipts in all).
   A thread polls the database every 50 ms for the number of committed reads; the ingestion
   rate is taken between 10 % and 90 % of the total (and over the whole burst). Counter lag:
   for each level of committed reads the poll saw, how long until the commander's socket showed
   that many in its ``receipt.counts`` frames.
3. baseline: the same N clients and messages through a bare ``websockets`` broadcast server
   (bench/_fanout_baseline.py) in the same run; ratio = Honbu / baseline.

Never touches your data: DATABASE_URL set (PostgreSQL) → a separate database
``honbu_fanout_bench`` on the same server, created and dropped by this script; else a SQLite
file in a temporary directory. REDIS_URL set → the same server with database ``--redis-db``
(default 7); else the embedded Redis in the temporary directory. Only 127.0.0.1 is contacted.
Exits non-zero only on errors; missed targets print MISS.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BENCH_DB = "honbu_fanout_bench"
CONNECT_CONCURRENCY = 50
DELIVERY_TIMEOUT = 20.0  # seconds to wait for the last message of a phase to reach everyone
RECEIPT_TIMEOUT = 120.0
SERVER = "daphne"
ASGI_APP = "config.asgi:application"
STALL_TIMEOUT = 10.0  # stop waiting when neither the database nor the counter moved for this long
TARGET_P99_MS = {200: 300.0, 2000: 1000.0}
TARGET_RECEIPTS_PER_S = 1000.0
TARGET_LAG_MS = 1000.0


def server_name() -> str:
    return "uvicorn" if SERVER == "uvicorn" else "Daphne"


def pct(samples: list[float], p: float) -> float:
    if not samples:
        return math.nan
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server on port {port} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f}s")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- throwaway database and Redis -----------------------------------------------------------
def prepare_environment(args: argparse.Namespace, var_dir: Path) -> dict[str, str]:
    """Point this process (and the servers it starts) at throwaway storage."""
    os.environ["HONBU_VAR_DIR"] = str(var_dir)
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.local"
    os.environ["DJANGO_DEBUG"] = "0"  # no query log growing in memory
    os.environ["DJANGO_ALLOWED_HOSTS"] = "127.0.0.1,localhost"
    os.environ["DJANGO_LOG_LEVEL"] = "INFO"
    info = {"database": "SQLite (temporary file)", "redis": "embedded (temporary directory)"}
    url = os.environ.get("DATABASE_URL", "")
    if url:
        import psycopg

        parts = urlsplit(url)
        admin = urlunsplit(parts._replace(path="/postgres"))
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{BENCH_DB}"')
            version = conn.execute("SHOW server_version").fetchone()[0]
        os.environ["DATABASE_URL"] = urlunsplit(parts._replace(path=f"/{BENCH_DB}"))
        info["database"] = f"PostgreSQL {version.split()[0]} (database {BENCH_DB})"
        info["pg_admin"] = admin
    redis_url = os.environ.get("REDIS_URL", "")
    if redis_url:
        parts = urlsplit(redis_url)
        os.environ["REDIS_URL"] = urlunsplit(parts._replace(path=f"/{args.redis_db}"))
        info["redis"] = f"{parts.hostname}:{parts.port or 6379} db {args.redis_db}"
    return info


def drop_database(info: dict[str, str]) -> None:
    if "pg_admin" not in info:
        return
    import psycopg

    with psycopg.connect(info["pg_admin"], autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')


def release_storage(info: dict[str, str], var_dir: Path) -> None:
    """The end of a run: the embedded Redis stopped (if it was started), this process's
    database connections closed, the throwaway PostgreSQL database dropped."""
    from django.conf import settings

    if settings.configured and getattr(settings, "REDIS_EMBEDDED", False):
        from config.embedded import stop

        stop(var_dir)
    try:
        from django.db import connections

        connections.close_all()
    except Exception:  # noqa: BLE001, S110 - cleanup must go on
        pass
    drop_database(info)


def clear_channel_groups() -> None:
    """Forget channel-layer group members left by an earlier, interrupted run."""
    import redis
    from django.conf import settings

    prefix = settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"]
    client = redis.Redis.from_url(settings.REDIS_URL)
    keys = list(client.scan_iter(match=f"{prefix}:group:honbu.*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


# --- seeding --------------------------------------------------------------------------------
@dataclass
class Seeded:
    staff_ids: list[int]  # index 0 is the commander
    cookies: list[str]  # session key per staff, same order
    commander_post_id: int


def seed(count: int) -> Seeded:
    from datetime import timedelta

    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.hashers import make_password
    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.models import Session
    from django.utils import timezone
    from django.utils.crypto import get_random_string

    from directory.models import OrgUnit, Staff, User
    from directory.services import post_create, staff_search_fields, unit_create

    unit = unit_create(
        code="FANOUT",
        name="ファンアウト試験課",
        kana="ふぁんあうとしけんか",
        kind=OrgUnit.Kind.SECTION,
    )
    password = make_password("fan-out-bench-password")  # one hash for everyone: seeding speed
    users = User.objects.bulk_create(
        [
            User(username=f"9{i:05d}", email=f"f{i:05d}@bench.example.jp", password=password)
            for i in range(count)
        ],
        batch_size=1000,
    )
    staff = []
    for i, user in enumerate(users):
        s = Staff(
            employee_number=user.username,
            family_name="試験",
            given_name=f"{i}号",
            family_kana="しけん",
            given_kana=f"{i}ごう",
            unit=unit,
            job_title="主事",
            email=user.email,
            user=user,
        )
        s.search_key, s.kana_sort = staff_search_fields(s)
        staff.append(s)
    staff = Staff.objects.bulk_create(staff, batch_size=1000)
    post = post_create(
        code="FANOUT-HQ", name="本部長", kana="ほんぶちょう", unit=unit, holder=staff[0]
    )
    store = SessionStore()
    expires = timezone.now() + timedelta(days=1)
    backend = "django.contrib.auth.backends.ModelBackend"
    sessions = [
        Session(
            session_key=get_random_string(32, "abcdefghijklmnopqrstuvwxyz0123456789"),
            session_data=store.encode(
                {
                    SESSION_KEY: str(u.pk),
                    BACKEND_SESSION_KEY: backend,
                    HASH_SESSION_KEY: u.get_session_auth_hash(),
                }
            ),
            expire_date=expires,
        )
        for u in users
    ]
    Session.objects.bulk_create(sessions, batch_size=1000)
    return Seeded([s.pk for s in staff], [s.session_key for s in sessions], post.pk)


def make_group(seeded: Seeded, members: int) -> int:
    from directory.models import Post
    from messaging.models import CommandGroup, GroupMembership
    from messaging.services import group_add_member, group_create

    group = group_create(
        name=f"ファンアウト {members}", kind=CommandGroup.Kind.HEADQUARTERS, actor=None
    )
    group_add_member(
        group=group,
        actor=None,
        post=Post.objects.get(pk=seeded.commander_post_id),
        role=GroupMembership.Role.COMMANDER,
    )
    GroupMembership.objects.bulk_create(
        [
            GroupMembership(group=group, staff_id=sid, role=GroupMembership.Role.MEMBER)
            for sid in seeded.staff_ids[1:members]
        ],
        batch_size=1000,
    )
    return group.pk


def mark_group_read(group_id: int) -> int:
    """Harness shortcut between phases: everything so far counts as read, so each ``read`` frame
    of the receipt phase commits exactly one receipt."""
    from django.utils import timezone

    from messaging.models import Receipt

    return Receipt.objects.filter(group_id=group_id, read_at__isnull=True).update(
        read_at=timezone.now()
    )


# --- clients --------------------------------------------------------------------------------
@dataclass
class Client:
    idx: int
    ws: Any = None
    recv: dict[str, float] = field(default_factory=dict)  # client_id → receive time
    read_ok: int = 0


class Run:
    """Everything the clients observe during one server run."""

    def __init__(self, members: int):
        self.members = members
        self.clients: list[Client] = []
        self.t_send: dict[str, float] = {}
        self.sent: dict[str, tuple[float, int, int]] = {}  # client_id → (time, id, seq)
        self.delivered: dict[str, int] = {}
        self.all_delivered: dict[str, asyncio.Event] = {}
        self.errors: list[dict] = []
        self.closed = 0
        self.view: dict[int, int] = {}  # commander's latest read count per message
        self.watched: list[int] = []
        self.view_log: list[tuple[float, int]] = []

    def expect(self, client_id: str) -> None:
        self.delivered[client_id] = 0
        self.all_delivered[client_id] = asyncio.Event()

    async def listen(self, client: Client) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            async for raw in client.ws:
                now = time.perf_counter()
                frame = json.loads(raw)
                kind = frame.get("type")
                if kind == "message.new":
                    cid = frame["message"]["client_id"]
                    client.recv[cid] = now
                    if cid in self.delivered:
                        self.delivered[cid] += 1
                        if self.delivered[cid] >= self.members:
                            self.all_delivered[cid].set()
                elif kind == "sent":
                    self.sent[frame["client_id"]] = (now, frame["id"], frame["seq"])
                elif kind == "read_ok":
                    client.read_ok += 1
                elif kind == "receipt.counts":
                    for c in frame["counts"]:
                        self.view[c["message"]] = c["read"]
                    self.view_log.append((now, sum(self.view.get(m, 0) for m in self.watched)))
                elif kind == "error":
                    self.errors.append(frame)
        except ConnectionClosed:
            self.closed += 1


async def connect_all(run: Run, urls: list[str], cookies: list[str]) -> float:
    from websockets.asyncio.client import connect

    sem = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def one(idx: int) -> Client:
        url = urls[idx % len(urls)] if idx else urls[0]
        origin = "http://" + urlsplit(url).netloc
        async with sem:
            ws = await connect(
                url,
                origin=origin,
                compression=None,
                ping_interval=None,
                max_size=2**22,
                max_queue=None,
                open_timeout=60,
                additional_headers={"Cookie": f"sessionid={cookies[idx]}"},
            )
            hello = json.loads(await asyncio.wait_for(ws.recv(), 30))
            if hello.get("type") != "hello":
                raise RuntimeError(f"client {idx}: expected hello, got {hello}")
        client = Client(idx, ws)
        asyncio.ensure_future(run.listen(client))
        return client

    started = time.perf_counter()
    run.clients = list(
        await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(run.members))), timeout=300)
    )
    return time.perf_counter() - started


async def close_all(run: Run) -> None:
    async def close(c: Client) -> None:
        try:
            await asyncio.wait_for(c.ws.close(), 5)
        except (TimeoutError, OSError):
            c.ws.transport.abort()

    await asyncio.gather(*(close(c) for c in run.clients), return_exceptions=True)


def send_frame(group_id: int, client_id: str, n: int) -> str:
    return json.dumps(
        {
            "type": "send",
            "group": group_id,
            "client_id": client_id,
            "kind": "instruction",
            "priority": "urgent",
            "requires_ack": True,
            "body": f"【指示 {n}】各区本部は避難所の開設状況を 15 分以内に報告してください。"
            "https://example.jp/bousai/hinanjo を参照。",
        },
        ensure_ascii=False,
    )


async def post_messages(run: Run, group_id: int, count: int, interval: float) -> list[str]:
    sender = run.clients[0]
    ids = []
    for n in range(count):
        cid = str(uuid.uuid4())
        run.expect(cid)
        frame = send_frame(group_id, cid, n)
        run.t_send[cid] = time.perf_counter()
        await sender.ws.send(frame)
        ids.append(cid)
        if n + 1 < count:
            await asyncio.sleep(interval)
    waits = [asyncio.wait_for(run.all_delivered[c].wait(), DELIVERY_TIMEOUT) for c in ids]
    try:
        await asyncio.gather(*waits)
    except TimeoutError:
        pass  # reported as undelivered
    return ids


def latency(run: Run, ids: list[str]) -> dict[str, float]:
    samples, missing = [], 0
    for cid in ids:
        for c in run.clients[1:]:
            if cid in c.recv:
                samples.append((c.recv[cid] - run.t_send[cid]) * 1000)
            else:
                missing += 1
    acks = [(run.sent[c][0] - run.t_send[c]) * 1000 for c in ids if c in run.sent]
    return {
        "p50": pct(samples, 50),
        "p99": pct(samples, 99),
        "max": max(samples, default=math.nan),
        "samples": len(samples),
        "missing": missing,
        "sent_p50": statistics.median(acks) if acks else math.nan,
    }


class Poller(threading.Thread):
    """Committed reads of the watched messages, every ``interval`` seconds (own DB connection)."""

    def __init__(self, message_ids: list[int], total: int, interval: float = 0.05):
        super().__init__(daemon=True)
        self.ids, self.total, self.interval = message_ids, total, interval
        self.samples: list[tuple[float, int]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        from django.db import connection

        from messaging.models import Receipt

        try:
            while not self.stop.is_set():
                t = time.perf_counter()
                n = Receipt.objects.filter(message_id__in=self.ids, read_at__isnull=False).count()
                self.samples.append((t, n))
                if n >= self.total:
                    return
                time.sleep(self.interval)
        finally:
            connection.close()


async def receipt_phase(run: Run, group_id: int, burst: int) -> dict[str, float]:
    await asyncio.to_thread(mark_group_read, group_id)
    ids = await post_messages(run, group_id, burst, 0.02)
    await asyncio.sleep(0.5)  # let the commander's counts of the new messages settle
    sent = [run.sent[c] for c in ids if c in run.sent]
    message_ids, seqs = [s[1] for s in sent], sorted(s[2] for s in sent)
    run.watched = message_ids
    total = (run.members - 1) * len(message_ids)
    poller = Poller(message_ids, total)
    poller.start()

    async def read_all(c: Client) -> None:
        for seq in seqs:
            await c.ws.send(json.dumps({"type": "read", "group": group_id, "up_to_seq": seq}))

    t0 = time.perf_counter()
    await asyncio.gather(*(read_all(c) for c in run.clients[1:]))
    deadline = time.monotonic() + RECEIPT_TIMEOUT
    state, moved = None, time.monotonic()
    while time.monotonic() < deadline:
        truth = poller.samples[-1][1] if poller.samples else 0
        view = run.view_log[-1][1] if run.view_log else 0
        if truth >= total and view >= total:
            break
        if (truth, view) != state:
            state, moved = (truth, view), time.monotonic()
        elif time.monotonic() - moved > STALL_TIMEOUT:
            print(f"  stalled: {truth}/{total} committed, commander shows {view}", flush=True)
            break
        await asyncio.sleep(0.05)
    poller.stop.set()
    await asyncio.to_thread(poller.join, 5)
    return receipt_figures(run, poller.samples, total, t0)


def receipt_figures(
    run: Run, samples: list[tuple[float, int]], total: int, t0: float
) -> dict[str, float]:
    final = samples[-1][1] if samples else 0

    def first(level: float) -> tuple[float, int] | None:
        return next(((t, n) for t, n in samples if n >= level), None)

    done = first(total)
    overall = total / (done[0] - t0) if done else math.nan
    a, b = first(0.1 * total), first(0.9 * total)
    sustained = (b[1] - a[1]) / (b[0] - a[0]) if a and b and b[0] > a[0] else overall
    # Counter lag: for each level of truth the poll saw, when did the commander see as many?
    lags, previous = [], -1
    for t, n in samples:
        if n <= previous or n == 0:
            continue
        previous = n
        seen = next((tv for tv, v in run.view_log if v >= n), None)
        lags.append(math.inf if seen is None else max(0.0, seen - t) * 1000)
    return {
        "receipts": total,
        "committed": final,
        "rate": sustained,
        "rate_overall": overall,
        "lag_final": lags[-1] if lags else math.nan,
        "lag_p50": pct(lags, 50),
        "lag_max": max(lags, default=math.nan),
        "read_ok": sum(c.read_ok for c in run.clients),
    }


# --- one server run -------------------------------------------------------------------------
def start_servers(
    kind: str, count: int, log_dir: Path, tag: str
) -> tuple[list[subprocess.Popen], list[str]]:
    procs, urls = [], []
    for i in range(count):
        port = free_port()
        if kind == "honbu" and SERVER == "uvicorn":
            cmd = [
                str(Path(sys.executable).parent / "uvicorn"),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--no-access-log",
                "--log-level",
                "warning",
                "--loop",
                "uvloop",
                "--ws",
                "websockets",
                ASGI_APP,
            ]
        elif kind == "honbu":
            cmd = [
                str(Path(sys.executable).parent / "daphne"),
                "-b",
                "127.0.0.1",
                "-p",
                str(port),
                "--access-log",
                os.devnull,
                ASGI_APP,
            ]
        else:
            cmd = [sys.executable, str(ROOT / "bench" / "_fanout_baseline.py"), str(port)]
        log = open(log_dir / f"{tag}-{i}.log", "wb")  # noqa: SIM115 (closed with the process)
        procs.append(subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT))
        log.close()
        urls.append(f"ws://127.0.0.1:{port}/ws/")
    for proc, url in zip(procs, urls, strict=True):
        wait_port(urlsplit(url).port, proc)
    return procs, urls


def stop_servers(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


async def measure(
    kind: str,
    servers: int,
    members: int,
    group_id: int,
    cookies: list[str],
    args: argparse.Namespace,
    log_dir: Path,
) -> dict[str, Any]:
    tag = f"{kind}-{members}-x{servers}"
    clear_channel_groups()  # channels of a server stopped earlier would still get group sends
    procs, urls = start_servers(kind, servers, log_dir, tag)
    run = Run(members)
    result: dict[str, Any] = {"kind": kind, "servers": servers, "members": members}
    try:
        result["connect_s"] = await connect_all(run, urls, cookies)
        await post_messages(run, group_id, 1, 0)  # warm-up
        cpu0, wall0 = sum(cpu_seconds(p.pid) for p in procs), time.perf_counter()
        ids = await post_messages(run, group_id, args.messages, args.interval)
        cpu1, wall1 = sum(cpu_seconds(p.pid) for p in procs), time.perf_counter()
        result.update(latency(run, ids))
        result["server_cpu"] = (cpu1 - cpu0) / (wall1 - wall0)
        if kind == "honbu":
            burst = max(1, math.ceil(args.receipts / max(1, members - 1)))
            cpu0, wall0 = sum(cpu_seconds(p.pid) for p in procs), time.perf_counter()
            result.update(await receipt_phase(run, group_id, burst))
            cpu1, wall1 = sum(cpu_seconds(p.pid) for p in procs), time.perf_counter()
            result["receipt_cpu"] = (cpu1 - cpu0) / (wall1 - wall0)
        result["errors"] = len(run.errors)
        result["closed"] = run.closed
        if run.errors:
            print(f"  {len(run.errors)} error frames, first: {run.errors[0]}")
        await close_all(run)
    finally:
        # What the servers logged while serving; stopping them with a thousand sockets still
        # winding down makes channels_redis log cancelled clean-ups, which are not failures.
        paths = [log_dir / f"{tag}-{i}.log" for i in range(servers)]
        serving = [p.stat().st_size if p.exists() else 0 for p in paths]
        stop_servers(procs)
    logs = "".join(
        p.read_bytes()[:n].decode(errors="replace") for p, n in zip(paths, serving, strict=True)
    )
    result["over_capacity"] = logs.count("over capacity")
    result["tracebacks"] = logs.count("Traceback")
    return result


def fmt(x: float, digits: int = 0) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if isinstance(x, float) and math.isinf(x):
        return "never"
    return f"{x:,.{digits}f}"


def report(results: list[dict[str, Any]], info: dict[str, str]) -> list[str]:
    print(f"\nWebsocket fan-out — {info['database']}, Redis {info['redis']}")
    print(
        "| members | server | connect s | deliveries | missing | p50 ms | p99 ms | max ms "
        "| 'sent' p50 ms | server CPU | baseline p50 | baseline p99 | ratio p50 | ratio p99 "
        "| sockets lost |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    base = {r["members"]: r for r in results if r["kind"] == "baseline"}
    verdicts = []
    for r in results:
        b = base.get(r["members"])
        name = f"{server_name()} ×{r['servers']}" if r["kind"] == "honbu" else "bare websockets"
        ratio50 = r["p50"] / b["p50"] if b and r["kind"] == "honbu" else math.nan
        ratio99 = r["p99"] / b["p99"] if b and r["kind"] == "honbu" else math.nan
        print(
            f"| {r['members']:,} | {name} | {fmt(r['connect_s'], 1)} | {r['samples']:,} "
            f"| {r['missing']:,} | {fmt(r['p50'], 1)} | {fmt(r['p99'], 1)} | {fmt(r['max'], 1)} "
            f"| {fmt(r['sent_p50'], 1)} | {r['server_cpu'] * 100:.0f} % "
            f"| {fmt(b['p50'], 1) if b else '–'} | {fmt(b['p99'], 1) if b else '–'} "
            f"| {fmt(ratio50, 1)}× | {fmt(ratio99, 1)}× | {r.get('closed', 0)} |"
        )
    print(
        "\n| members | server | receipts | committed | read_ok | receipts/s (10–90 %) "
        "| receipts/s (whole burst) | server CPU | counter lag final ms | lag p50 ms "
        "| lag max ms | dropped (over capacity) |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        if r["kind"] != "honbu":
            continue
        print(
            f"| {r['members']:,} | {server_name()} ×{r['servers']} | {r['receipts']:,} "
            f"| {r['committed']:,} | {r['read_ok']:,} | {fmt(r['rate'])} "
            f"| {fmt(r['rate_overall'])} | {r['receipt_cpu'] * 100:.0f} % "
            f"| {fmt(r['lag_final'])} | {fmt(r['lag_p50'])} | {fmt(r['lag_max'])} "
            f"| {r['over_capacity']} |"
        )
    print("\nTargets:")
    for r in results:
        if r["kind"] != "honbu":
            continue
        label = f"{r['members']:,} members, {server_name()} ×{r['servers']}"
        target = TARGET_P99_MS.get(r["members"])
        if target is not None:
            ok = r["p99"] <= target and r["missing"] == 0
            verdicts.append(
                f"{'PASS' if ok else 'MISS'}  {label}: p99 {fmt(r['p99'], 1)} ms "
                f"≤ {target:.0f} ms{'' if not r['missing'] else ', some undelivered'}"
            )
        ok = r["rate"] >= TARGET_RECEIPTS_PER_S and r["committed"] >= r["receipts"]
        verdicts.append(
            f"{'PASS' if ok else 'MISS'}  {label}: {fmt(r['rate'])} receipts/s "
            f"≥ {TARGET_RECEIPTS_PER_S:.0f}"
        )
        ok = r["lag_max"] <= TARGET_LAG_MS
        verdicts.append(
            f"{'PASS' if ok else 'MISS'}  {label}: counter lag max "
            f"{fmt(r['lag_max'])} ms ≤ {TARGET_LAG_MS:.0f} ms"
        )
    for v in verdicts:
        print("  " + v)
    problems = sum(r["errors"] + r["tracebacks"] for r in results)
    if problems:
        print(f"\n{problems} error frames / tracebacks in server logs (see above)")
    return verdicts


async def run_all(
    args: argparse.Namespace, seeded: Seeded, groups: dict[int, int], log_dir: Path
) -> list[dict[str, Any]]:
    results = []
    for members in args.members:
        for servers in args.daphne:
            print(f"{members} members, {server_name()} ×{servers} …", flush=True)
            r = await measure(
                "honbu", servers, members, groups[members], seeded.cookies, args, log_dir
            )
            print(
                f"  connect {r['connect_s']:.1f}s, p50 {fmt(r['p50'], 1)} ms, "
                f"p99 {fmt(r['p99'], 1)} ms, {fmt(r['rate'])} receipts/s, "
                f"lag max {fmt(r['lag_max'])} ms",
                flush=True,
            )
            results.append(r)
        print(f"{members} members, bare websockets baseline …", flush=True)
        r = await measure("baseline", 1, members, groups[members], seeded.cookies, args, log_dir)
        print(f"  p50 {fmt(r['p50'], 1)} ms, p99 {fmt(r['p99'], 1)} ms", flush=True)
        results.append(r)
    return results


def main() -> int:
    global ASGI_APP, SERVER  # noqa: PLW0603 - one setting for the whole run
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, nargs="+", default=[200, 2000])
    parser.add_argument("--messages", type=int, default=20)
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between messages")
    parser.add_argument(
        "--receipts",
        type=int,
        default=4000,
        help="about this many read receipts in the receipt burst",
    )
    parser.add_argument(
        "--daphne",
        type=int,
        nargs="+",
        default=[1],
        help="Daphne process counts to measure, e.g. 1 2",
    )
    parser.add_argument("--redis-db", type=int, default=7)
    parser.add_argument("--timeout", type=int, default=1800, help="the whole run stops after")
    parser.add_argument("--log-dir", type=Path, help="keep the servers' logs here")
    parser.add_argument("--asgi", default=ASGI_APP, help="the application Daphne serves")
    parser.add_argument(
        "--server",
        choices=["daphne", "uvicorn"],
        default="daphne",
        help="the ASGI server to measure (uvicorn needs uvicorn[standard])",
    )
    args = parser.parse_args()
    ASGI_APP = args.asgi
    SERVER = args.server

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max(args.members) * 2 + 256
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(want, soft)), hard))

    var_dir = Path(tempfile.mkdtemp(prefix="honbu-fanout-"))
    info: dict[str, str] = {}
    try:
        info = prepare_environment(args, var_dir)
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection

        print(
            f"database: {info['database']}; redis: {info['redis']}; "
            f"load average {os.getloadavg()[0]:.1f}",
            flush=True,
        )
        call_command("migrate", verbosity=0)
        clear_channel_groups()
        started = time.perf_counter()
        seeded = seed(max(args.members))
        groups = {m: make_group(seeded, m) for m in args.members}
        print(
            f"seeded {max(args.members)} users with sessions and {len(groups)} groups "
            f"in {time.perf_counter() - started:.1f}s",
            flush=True,
        )
        connection.close()  # the servers and the poller thread open their own
        log_dir = args.log_dir or var_dir
        log_dir.mkdir(parents=True, exist_ok=True)
        results = asyncio.run(
            asyncio.wait_for(run_all(args, seeded, groups, log_dir), args.timeout)
        )
        report(results, info)
        print(f"load average after: {os.getloadavg()[0]:.1f}")
        clear_channel_groups()
        return 1 if sum(r["errors"] + r["tracebacks"] for r in results) else 0
    finally:
        release_storage(info, var_dir)
        shutil.rmtree(var_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
