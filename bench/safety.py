"""Safety confirmation benchmark (issue 10): ``.venv/bin/python bench/safety.py [--staff 30000]
[--units 250] [--rate 500] [--burst 1500] [--daphne 2] [--parts start page email answers]``.

Seeds N staff in a generated unit tree (city → ~24 wards/bureaus → departments → sections,
``--units`` in all) into a throwaway database and measures, each against a baseline in the
same run:

1. start: ``safety.rounds.round_start`` for everyone — every request row with its link nonce
   written and committed (the messages are only enqueued). Baseline: one bulk INSERT of the
   same rows and columns (PostgreSQL: ``INSERT … SELECT`` over the staff table; SQLite:
   ``executemany``). Target ≤ 2 s. On SQLite (always) and on PostgreSQL (DATABASE_URL).
2. page: the live totals page ``/safety/rounds/<id>/`` for a headquarters member (Django test
   client, in-process), with ``--answered`` of the staff answered; totals cache cold (deleted
   before each request) and warm (computed just before). Baseline: the bare per-unit
   aggregation query. Target ≤ 300 ms.
3. email: the real path into an aiosmtpd sink on 127.0.0.1 in its own process
   (bench/_smtp_sink.py), twice: (a) Celery eager, in this process — ``round_start`` →
   ``safety_round_notify_task`` (``round_notify_start``: notifications for 2,000 people a
   batch) → after each batch commits ``notifications_deliver_task`` (500 e-mails per SMTP
   connection), serially: one worker process's worth; (b) a real Celery worker with two
   processes, as ``make run`` starts it, timed from ``round_start`` until the sink has them
   all. Baseline: the same messages, already built, sent by a bare ``smtplib`` loop over one
   connection. Target: all handed over ≤ 120 s. On PostgreSQL when DATABASE_URL is set, else
   SQLite.
4. answers (PostgreSQL only: the production-like layout): ``--daphne`` Daphne processes serving
   ``config.asgi:application`` with Redis; simulated phones (aiohttp, one new connection per
   request, source addresses spread over 127.0.1.x so the per-address limit sees many phones)
   GET their answer link ``/s/<token>/`` and POST the form with the CSRF cookie and token from
   it, clients spread across the ports. Open loop: phone i starts at t0 + i / rate, at most
   ``--concurrency`` in flight; phones still waiting for a slot well after the last was due are
   not sent (counted), so every phase stops by itself. (a) everyone answers at ``--rate``/s
   (30,000 over 60 s): POST p50/p99/max (target p99 ≤ 300 ms) and the live totals lag — a
   websocket signed in as a headquarters member watches the round (``safety.watch``) and, on
   each ``safety.changed``, reads the totals as the page does (``?partial=1&since=``); lag =
   the time the k-th answer was stored (``first_answer_at``, just before its commit) until a
   read showing ≥ k answered returned (target p99 ≤ 2 s); (b) a burst at ``--burst``/s for
   ``--burst-seconds``; (c) ``--steps`` rates for ``--step-seconds`` each, p99 and lag per
   step: the knee. CPU seconds per answer of the server processes, PostgreSQL's backends and
   the phones are read from /proc. Baseline: the same phones against a bare ASGI app
   (bench/_safety_baseline.py) on as many Daphne processes, at the same step rates.

Prints PASS/MISS per target and the load average before and after each figure. Never touches
your data: SQLite in a temporary directory with the embedded Redis; with DATABASE_URL, a
database ``test_<name>_bench_safety_<pid>`` (<name>: DATABASE_URL's database) created and
dropped; with REDIS_URL, Redis database ``--redis-db`` (and the next one, the cache), flushed
before and after. Only 127.0.0.0/8 is
contacted; every phase is bounded in count and time. Exits non-zero only on errors.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import re
import resource
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from config.server import server_command  # noqa: E402

SERVER = "uvicorn"

TARGET_START_S = 2.0
TARGET_EMAIL_S = 120.0
TARGET_ANSWER_P99_MS = 300.0
TARGET_LAG_P99_S = 2.0
TARGET_PAGE_MS = 300.0
RESULT = "RESULT "  # a child's result lines start with this
ANSWER = {"self": "safe", "family": "safe", "home": "ok", "attend": "yes", "place": "own"}
VARIED = [
    {"self": "safe", "family": "safe", "home": "ok", "attend": "yes", "place": "own"},
    {"self": "safe", "family": "unknown", "home": "partial", "attend": "late", "eta": "10:30",
     "place": "own"},
    {"self": "minor", "family": "safe", "home": "ok", "attend": "no"},
    {"self": "safe", "family": "injured", "home": "uninhabitable", "attend": "no",
     "comment": "家族の付き添いのため"},
]  # fmt: skip


def pct(samples: list[float], p: float) -> float:
    if not samples:
        return math.nan
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def load() -> float:
    return os.getloadavg()[0]


def fmt(x: Any, digits: int = 0) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if isinstance(x, float) and math.isinf(x):
        return "never"
    return f"{x:,.{digits}f}"


def emit(result: dict[str, Any]) -> None:
    print(RESULT + json.dumps(result, default=str), flush=True)


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


# === the child: one store, one throwaway database ==============================================
class World:
    def __init__(self, staff: int, units: int, hq_user_id: int, seconds: float):
        self.staff, self.units, self.hq_user_id, self.seconds = staff, units, hq_user_id, seconds


def seed(staff_count: int, unit_count: int) -> World:
    """A unit tree (city → wards/bureaus → departments → sections), staff with work e-mail and
    no accounts in the departments and sections, one headquarters member to watch."""
    from directory.models import OrgUnit, Staff, User
    from directory.services import staff_search_fields, unit_create

    started = time.perf_counter()
    rng = random.Random(10)
    city = unit_create(code="B0", name="本市", kind=OrgUnit.Kind.CITY)
    n2 = min(24, max(1, unit_count - 1))
    tops = [
        unit_create(
            code=f"B{i:02d}",
            name=f"第{i}区役所" if i <= n2 // 2 else f"第{i}局",
            kind=OrgUnit.Kind.WARD if i <= n2 // 2 else OrgUnit.Kind.BUREAU,
            parent=city,
            sort_order=i,
        )
        for i in range(1, n2 + 1)
    ]
    rest = max(0, unit_count - 1 - n2)
    n_dept = min(rest, 3 * n2)
    depts = [
        unit_create(
            code=f"B{i % n2 + 1:02d}-{i // n2 + 1}",
            name=f"{tops[i % n2].name}第{i // n2 + 1}部",
            kind=OrgUnit.Kind.DEPARTMENT,
            parent=tops[i % n2],
            sort_order=i,
        )
        for i in range(n_dept)
    ]
    sections = [
        unit_create(
            code=f"S{i:04d}",
            name=f"{depts[i % n_dept].name}第{i // n_dept + 1}課",
            kind=OrgUnit.Kind.SECTION,
            parent=depts[i % n_dept],
            sort_order=i,
        )
        for i in range(rest - n_dept)
    ]
    homes = sections + depts or tops or [city]
    families = ["田中", "佐藤", "鈴木", "高橋", "伊藤", "渡辺", "山本", "中村", "小林", "加藤"]
    kana = ["たなか", "さとう", "すずき", "たかはし", "いとう", "わたなべ", "やまもと", "なかむら"]
    people = []
    for i in range(staff_count):
        number = f"{100001 + i}"
        s = Staff(
            employee_number=number,
            family_name=families[i % len(families)],
            given_name=f"{i}郎",
            family_kana=kana[i % len(kana)],
            given_kana="じろう",
            unit=homes[rng.randrange(len(homes))],
            job_title="主事",
            email=f"s{number}@city.example.jp",
            mobile=f"090-{i // 10000:04d}-{i % 10000:04d}",
        )
        s.search_key, s.kana_sort = staff_search_fields(s)
        people.append(s)
    Staff.objects.bulk_create(people, batch_size=2000)
    hq = User.objects.create_user(
        username="hq-bench", email="hq-bench@city.example.jp", role=User.Role.HQ_MEMBER
    )
    units = 1 + len(tops) + len(depts) + len(sections)
    return World(staff_count, units, hq.pk, time.perf_counter() - started)


def start_round(title: str, *, announce: bool = True):
    from safety.rounds import round_start

    return round_start(actor=None, title=title, target={"all": True}, announce_in_hq=announce)


def part_start(args: argparse.Namespace, store: str) -> dict[str, Any]:
    """round_start against one bulk INSERT of the same rows, interleaved, --repeat times."""
    from django.db import connection, transaction

    from directory.models import Staff
    from realtime import clock
    from safety.links import link_token, new_nonce
    from safety.models import SafetyRequest, SafetyRound

    table = SafetyRequest._meta.db_table
    people = list(Staff.objects.filter(is_active=True).order_by("pk").values_list("pk", "unit_id"))
    load0 = load()
    base, real, round_ids = [], [], []
    for n in range(args.repeat):
        holder = SafetyRound.objects.create(title=f"baseline {n}", started_at=clock.now())
        rows = [(holder.pk, s, u, new_nonce(), 0, 0) for s, u in people]
        started = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cur:
            if connection.vendor == "postgresql":
                cur.execute(
                    f"INSERT INTO {table} (round_id, staff_id, unit_id, nonce, resends, "  # noqa: S608
                    "manual_resends) SELECT %s, s.id, s.unit_id, md5(s.id::text), 0, 0 "
                    "FROM directory_staff s WHERE s.is_active",
                    [holder.pk],
                )
            else:
                cur.executemany(
                    f"INSERT INTO {table} (round_id, staff_id, unit_id, nonce, resends, "  # noqa: S608
                    "manual_resends) VALUES (%s, %s, %s, %s, %s, %s)",
                    rows,
                )
        base.append(time.perf_counter() - started)
        started = time.perf_counter()
        round_ = start_round(f"地震 安否確認 {n + 1}")
        real.append(time.perf_counter() - started)
        round_ids.append(round_.pk)
        print(f"  [{store}] round_start {real[-1]:.2f}s, bulk INSERT {base[-1]:.2f}s", flush=True)
    load1 = load()
    # Persisted: a row and a nonce per person; the links are built from them (HMAC), not stored.
    check = round_ids[0]
    rows = list(SafetyRequest.objects.filter(round_id=check).values_list("pk", "nonce"))
    started = time.perf_counter()
    links = [link_token(request_id=pk, nonce=nonce) for pk, nonce in rows]
    link_s = time.perf_counter() - started
    ok = len(rows) == len(people) and len({n for _p, n in rows}) == len(rows) and all(links)
    return {
        "part": "start",
        "store": store,
        "staff": len(people),
        "requests": len(rows),
        "persisted_ok": ok,
        "real": real,
        "base": base,
        "real_median": statistics.median(real),
        "base_median": statistics.median(base),
        "links_s": link_s,
        "load": [load0, load1],
        "round_ids": round_ids,
    }


def seed_answers(round_id: int, fraction: float) -> int:
    """Answer ``fraction`` of a round's requests directly (varied answers, times over 30 min)."""
    from datetime import timedelta

    from django.db import connection, transaction

    from safety.models import SafetyAnswer, SafetyRequest, SafetyRound

    round_ = SafetyRound.objects.get(pk=round_id)
    rng = random.Random(4)
    ids = list(SafetyRequest.objects.filter(round_id=round_id).values_list("pk", flat=True))
    chosen = rng.sample(ids, int(len(ids) * fraction))
    with transaction.atomic():
        SafetyAnswer.objects.bulk_create(
            [
                SafetyAnswer(
                    request_id=rid,
                    round_id=round_id,
                    at=round_.started_at + timedelta(seconds=rng.uniform(0, 1800)),
                    values={k: v for k, v in rng.choice(VARIED).items()},
                    via=SafetyAnswer.Via.LINK,
                )
                for rid in chosen
            ],
            batch_size=2000,
        )
        req, ans = SafetyRequest._meta.db_table, SafetyAnswer._meta.db_table
        with connection.cursor() as cur:
            cur.execute(
                f"UPDATE {req} SET answer_id = (SELECT max(a.id) FROM {ans} a "  # noqa: S608
                f"WHERE a.request_id = {req}.id), first_answer_at = (SELECT min(a.at) "
                f"FROM {ans} a WHERE a.request_id = {req}.id) WHERE round_id = %s",
                [round_id],
            )
    return len(chosen)


def part_page(args: argparse.Namespace, store: str, round_id: int, world: World) -> dict:
    from django.core.cache import cache
    from django.db.models import Count, Q
    from django.test import Client

    from directory.models import User
    from safety import selectors
    from safety.models import SafetyRequest, SafetyRound

    answered = seed_answers(round_id, args.answered)
    round_ = SafetyRound.objects.get(pk=round_id)
    client = Client()
    client.force_login(User.objects.get(pk=world.hq_user_id))
    url = f"/safety/rounds/{round_id}/"
    key = f"safety:totals:{round_id}"

    def view() -> float:
        started = time.perf_counter()
        response = client.get(url)
        elapsed = (time.perf_counter() - started) * 1000
        assert response.status_code == 200, response.status_code
        assert f'<b id="answered">{answered}</b>' in response.content.decode(), "wrong total"
        return elapsed

    def bare() -> float:
        started = time.perf_counter()
        list(
            SafetyRequest.objects.filter(round_id=round_id)
            .values("unit_id")
            .annotate(
                total=Count("id"), answered=Count("id", filter=Q(first_answer_at__isnull=False))
            )
        )
        return (time.perf_counter() - started) * 1000

    def totals_only() -> float:
        started = time.perf_counter()
        selectors.round_totals(round_=round_, fresh=True)
        return (time.perf_counter() - started) * 1000

    load0 = load()
    cache.delete(key)
    view()  # warm-up: imports, templates, translations
    bare()
    cold, warm, base, compute = [], [], [], []
    for _ in range(args.page_requests):
        cache.delete(key)
        cold.append(view())
        selectors.round_totals(round_=round_, fresh=True)  # the cache as a busy page leaves it
        warm.append(view())
        base.append(bare())
        compute.append(totals_only())
    load1 = load()
    body = client.get(url).content
    return {
        "part": "page",
        "store": store,
        "answered": answered,
        "units": world.units,
        "page_kb": len(body) / 1024,
        "cold": cold,
        "warm": warm,
        "base": base,
        "compute": compute,
        "load": [load0, load1],
    }


class Sink:
    """The aiosmtpd sink in its own process."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "_smtp_sink.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self.proc.stdout.readline().split()
        if not line or line[0] != "PORT":
            raise RuntimeError("the SMTP sink did not start")
        self.port = int(line[1])

    def stats(self) -> tuple[int, int, int, float]:
        self.proc.stdin.write("?\n")
        self.proc.stdin.flush()
        messages, sessions, size, last = self.proc.stdout.readline().split()
        return int(messages), int(sessions), int(size), float(last)

    def stop(self) -> None:
        self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def part_email(args: argparse.Namespace, store: str) -> dict[str, Any]:
    import smtplib

    from django.conf import settings
    from django.core.mail import EmailMessage
    from django.db.models import Count

    import notifications.tasks as note_tasks
    import safety.notify as safety_notify
    from config.celery_app import app
    from notifications.models import Notification
    from safety.notify import KIND_REQUEST

    sink = Sink()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", sink.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_TIMEOUT = 30
    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    spent = {"deliver": 0.0, "notify": 0.0, "batches": 0}
    real_deliver, real_notify = note_tasks.notifications_deliver, safety_notify.requests_notify

    def deliver(**kw):
        started = time.perf_counter()
        try:
            return real_deliver(**kw)
        finally:
            spent["deliver"] += time.perf_counter() - started
            spent["batches"] += 1

    def notify(**kw):
        started = time.perf_counter()
        try:
            return real_notify(**kw)
        finally:
            spent["notify"] += time.perf_counter() - started

    note_tasks.notifications_deliver, safety_notify.requests_notify = deliver, notify
    try:
        load0 = load()
        m0, s0, _b, _t = sink.stats()
        started = time.perf_counter()
        round_ = start_round("地震 安否確認 (e-mail)", announce=False)
        real_s = time.perf_counter() - started
        m1, s1, size, _t = sink.stats()
        load1 = load()
    finally:
        note_tasks.notifications_deliver, safety_notify.requests_notify = real_deliver, real_notify
        app.conf.task_always_eager = False
    statuses = dict(
        Notification.objects.filter(kind=KIND_REQUEST, subject_id__in=round_.requests.all())
        .values_list("status")
        .annotate(n=Count("id"))
    )
    # The baseline: the same messages, built beforehand, over one SMTP connection.
    notes = list(
        Notification.objects.filter(
            kind=KIND_REQUEST,
            status=Notification.Status.SENT,
            subject_id__in=round_.requests.all(),
        )
        .order_by("pk")
        .values_list("title", "body", "link", "detail")
    )
    built = [
        EmailMessage(
            subject=f"[{settings.HONBU_SITE_NAME}] {title}",
            body=f"{body}\n\n{link}\n",
            to=[address],
        ).message()
        for title, body, link, address in notes
    ]
    wire = [(settings.DEFAULT_FROM_EMAIL, [m["To"]], m.as_bytes(linesep="\r\n")) for m in built]
    load2 = load()
    started = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", sink.port, timeout=30) as smtp:
        for sender, to, data in wire:
            smtp.sendmail(sender, to, data)
    base_s = time.perf_counter() - started
    m2, _s, _b, _t = sink.stats()
    load3 = load()
    worker = email_by_worker(args, sink, expected=m1 - m0) if "celery" in args.email_via else {}
    sink.stop()
    return {
        "part": "email",
        "store": store,
        "worker": worker,
        "sent": m1 - m0,
        "sessions": s1 - s0,
        "mb": size / 1e6,
        "statuses": statuses,
        "real_s": real_s,
        "notify_s": spent["notify"] - spent["deliver"],
        "deliver_s": spent["deliver"],
        "deliver_batches": spent["batches"],
        "base_sent": m2 - m1,
        "base_s": base_s,
        "load": [load0, load1, load2, load3],
    }


def email_by_worker(args: argparse.Namespace, sink: Sink, expected: int) -> dict[str, Any]:
    """The same round through a real Celery worker (``--concurrency 2``, as ``make run``
    starts it): round_start enqueues the notify task; the worker writes the notifications and
    delivers them; timed until the sink has them all."""
    from config.celery_app import app

    app.control.purge()  # the rounds started earlier enqueued their notify tasks too
    env = dict(os.environ, EMAIL_URL=f"smtp://127.0.0.1:{sink.port}")
    cmd = [sys.executable, "-m", "celery", "-A", "config", "--quiet", "worker", "-l", "warning",
           "--concurrency", "2", "--without-gossip", "--without-mingle"]  # fmt: skip
    log = open(Path(os.environ["HONBU_VAR_DIR"]) / "worker.log", "wb")  # noqa: SIM115
    worker = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    try:
        deadline = time.monotonic() + 60
        while not app.control.ping(timeout=1.0):
            if time.monotonic() > deadline or worker.poll() is not None:
                raise RuntimeError("the Celery worker did not start")
        load0 = load()
        m0, s0, _b, _t = sink.stats()
        started = time.perf_counter()
        start_round("地震 安否確認 (e-mail, worker)", announce=False)
        start_s = time.perf_counter() - started
        seen, moved = m0, time.monotonic()
        while seen - m0 < expected and time.monotonic() - moved < 60:
            time.sleep(0.2)
            now, sessions, _b, last = sink.stats()
            if now != seen:
                seen, moved = now, time.monotonic()
        done_s = (time.perf_counter() - started) if seen - m0 >= expected else math.inf
        return {
            "sent": seen - m0,
            "sessions": sessions - s0,
            "start_s": start_s,
            "real_s": done_s,
            "load": [load0, load()],
        }
    finally:
        worker.terminate()
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(5)


# --- answers over HTTP ---------------------------------------------------------------------
CSRF_FIELD = re.compile(rb'name="csrfmiddlewaretoken" value="([^"]+)"')
ANSWERED = re.compile(rb'id="answered">(\d+)<')


class Phones:
    """aiohttp sessions, one per source address (127.0.1.x), a new connection per request."""

    def __init__(self, ports: list[int], sources: int, concurrency: int):
        import aiohttp

        self.ports = ports
        self.sem = asyncio.Semaphore(concurrency)
        timeout = aiohttp.ClientTimeout(total=30)
        self.sessions = [
            aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    local_addr=(f"127.0.1.{i + 1}", 0), force_close=True, limit=0
                ),
                cookie_jar=aiohttp.DummyCookieJar(),
                timeout=timeout,
                auto_decompress=False,
            )
            for i in range(sources)
        ]

    async def close(self) -> None:
        await asyncio.gather(*(s.close() for s in self.sessions))

    async def answer(
        self, i: int, token: str, data: dict[str, str], deadline: float = math.inf
    ) -> dict[str, Any]:
        session = self.sessions[i % len(self.sessions)]
        base = f"http://127.0.0.1:{self.ports[i % len(self.ports)]}"
        url = f"{base}/s/{token}/"
        out: dict[str, Any] = {"i": i}
        async with self.sem:
            out["start"] = time.perf_counter()
            if out["start"] > deadline:  # the server fell this far behind: stop, bounded
                out["error"] = "not sent"
                return out
            try:
                async with session.get(url) as response:
                    page = await response.read()
                    out["get_status"] = response.status
                    cookie = response.cookies.get("csrftoken")
                out["get_ms"] = (time.perf_counter() - out["start"]) * 1000
                found = CSRF_FIELD.search(page)
                if response.status != 200 or found is None or cookie is None:
                    out["error"] = f"GET {response.status}"
                    return out
                form = dict(data, csrfmiddlewaretoken=found.group(1).decode())
                t = time.perf_counter()
                async with session.post(
                    url, data=form, headers={"Cookie": f"csrftoken={cookie.value}"}
                ) as response:
                    await response.read()
                    out["status"] = response.status
                out["post_ms"] = (time.perf_counter() - t) * 1000
                out["done"] = time.perf_counter()
                if response.status != 200:
                    out["error"] = f"POST {response.status}"
            except Exception as exc:  # noqa: BLE001 - counted, not fatal
                out["error"] = type(exc).__name__
            return out


async def run_rate(
    phones: Phones, tokens: list[str], rate: float, count: int, offset: int = 0
) -> dict[str, Any]:
    """Phone offset+k (k < count) starts at t0 + k / rate; returns the figures. Phones still
    waiting for a free slot GRACE after the last one was due are not sent (counted)."""
    t0 = time.perf_counter() + 0.2
    deadline = t0 + count / rate + min(60.0, max(10.0, 0.5 * count / rate))

    async def one(k: int) -> dict[str, Any]:
        await asyncio.sleep(max(0.0, t0 + k / rate - time.perf_counter()))
        scheduled = t0 + k / rate
        token = tokens[(offset + k) % len(tokens)]
        out = await phones.answer(offset + k, token, answer_for(k), deadline)
        out["late_ms"] = (out.get("start", scheduled) - scheduled) * 1000
        return out

    results = await asyncio.gather(*(one(k) for k in range(count)))
    return figures(results, rate, t0)


def answer_for(k: int) -> dict[str, str]:
    return VARIED[k % len(VARIED)] if k % 5 == 0 else ANSWER


def figures(results: list[dict[str, Any]], rate: float, t0: float) -> dict[str, Any]:
    post = [r["post_ms"] for r in results if "post_ms" in r and "error" not in r]
    get = [r["get_ms"] for r in results if "get_ms" in r]
    errors: dict[str, int] = {}
    for r in results:
        if "error" in r:
            errors[r["error"]] = errors.get(r["error"], 0) + 1
    done = [r["done"] for r in results if "done" in r]
    span = (max(done) - t0) if done else math.nan
    return {
        "offered": rate,
        "count": len(results),
        "ok": len(post),
        "errors": errors,
        "p50": pct(post, 50),
        "p99": pct(post, 99),
        "max": max(post, default=math.nan),
        "get_p50": pct(get, 50),
        "get_p99": pct(get, 99),
        "late_p99": pct([r["late_ms"] for r in results], 99),
        "achieved": len(post) / span if done else 0.0,
        "span_s": span,
    }


class Watcher:
    """A headquarters member's round page: the websocket watches the round; every
    ``safety.changed`` triggers a totals read (``?partial=1``), coalesced like the page's JS."""

    def __init__(self, port: int, cookie: str, round_id: int):
        self.port, self.cookie, self.round_id = port, cookie, round_id
        self.reads: list[tuple[float, int]] = []  # (wall time the read returned, answered)
        self.frames = 0
        self.busy = self.again = False
        self.since = 0.0  # the latest change a frame told of (as the page's JS keeps it)
        self.task: asyncio.Task | None = None
        self.errors: list[str] = []

    async def start(self) -> None:
        import aiohttp
        from websockets.asyncio.client import connect

        self.http = aiohttp.ClientSession(
            cookie_jar=aiohttp.DummyCookieJar(), headers={"Cookie": f"sessionid={self.cookie}"}
        )
        self.ws = await connect(
            f"ws://127.0.0.1:{self.port}/ws/",
            origin=f"http://127.0.0.1:{self.port}",
            additional_headers={"Cookie": f"sessionid={self.cookie}"},
            ping_interval=None,
            max_queue=None,
        )
        hello = json.loads(await asyncio.wait_for(self.ws.recv(), 30))
        assert hello.get("type") == "hello", hello
        await self.ws.send(json.dumps({"type": "safety.watch", "round": self.round_id}))
        while True:
            frame = json.loads(await asyncio.wait_for(self.ws.recv(), 30))
            if frame.get("type") == "safety.watching":
                break
            if frame.get("type") == "error":
                raise RuntimeError(f"watch refused: {frame}")
        self.task = asyncio.ensure_future(self.listen())

    async def listen(self) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            async for raw in self.ws:
                frame = json.loads(raw)
                if frame.get("type") == "safety.changed" and frame.get("round") == self.round_id:
                    self.frames += 1
                    self.since = max(self.since, float(frame.get("at") or 0))
                    self.refresh()
        except ConnectionClosed:
            pass

    def refresh(self) -> None:
        if self.busy:
            self.again = True
            return
        self.busy, self.again = True, False
        asyncio.ensure_future(self.read())

    async def read(self) -> None:
        url = f"http://127.0.0.1:{self.port}/safety/rounds/{self.round_id}/?partial=1"
        if self.since:
            url += f"&since={self.since!r}"
        try:
            async with self.http.get(url) as response:
                body = await response.read()
            found = ANSWERED.search(body)
            if response.status == 200 and found:
                self.reads.append((time.time(), int(found.group(1))))
            else:
                self.errors.append(f"read {response.status}")
        except Exception as exc:  # noqa: BLE001
            self.errors.append(type(exc).__name__)
        finally:
            self.busy = False
            if self.again:
                self.refresh()

    async def stop(self) -> None:
        await self.ws.close()
        if self.task:
            await asyncio.wait([self.task], timeout=5)
        await self.http.close()


class CpuMeter:
    """CPU seconds of the server processes, of the database's backends (PostgreSQL) and of
    this process (the phones), between ``start`` and ``stop``."""

    def __init__(self, procs: list[subprocess.Popen]):
        self.pids = [p.pid for p in procs]
        self.url = os.environ.get("DATABASE_URL", "")

    def _backends(self) -> dict[int, float]:
        if not self.url:
            return {}
        import psycopg

        name = urlsplit(self.url).path.lstrip("/")
        with psycopg.connect(self.url, autocommit=True) as conn:
            pids = [
                r[0]
                for r in conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> "
                    "pg_backend_pid()",
                    [name],
                )
            ]
        out = {}
        for pid in pids:
            try:
                out[pid] = cpu_seconds(pid)
            except OSError:
                pass
        return out

    def _now(self) -> tuple[float, dict[int, float], float, float]:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        server = sum(cpu_seconds(pid) for pid in self.pids)
        return server, self._backends(), usage.ru_utime + usage.ru_stime, time.perf_counter()

    def start(self) -> None:
        self.before = self._now()

    def stop(self, answers: int) -> dict[str, float]:
        server, backends, client, wall = self._now()
        s0, b0, c0, w0 = self.before
        db = sum(v - b0.get(pid, 0.0) for pid, v in backends.items())
        n = max(1, answers)
        return {
            "server_cpu": (server - s0) / (wall - w0),
            "cpu_server_ms": (server - s0) / n * 1000,
            "cpu_db_ms": db / n * 1000,
            "cpu_client_ms": (client - c0) / n * 1000,
        }


def start_servers(app: str, count: int, log_dir: Path, tag: str) -> list[subprocess.Popen]:
    procs, ports = [], []
    for i in range(count):
        port = free_port()
        if SERVER == "daphne":
            cmd = [
                str(Path(sys.executable).parent / "daphne"),
                "-b",
                "127.0.0.1",
                "-p",
                str(port),
                "--access-log",
                os.devnull,
                app,
            ]
        else:  # Honbu's own command line (config/server.py), for Honbu and the bare app alike
            cmd = server_command("127.0.0.1", port, app=app)
        log = open(log_dir / f"{tag}-{i}.log", "wb")  # noqa: SIM115 (closed with the process)
        procs.append(subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT))
        log.close()
        ports.append(port)
    for proc, port in zip(procs, ports, strict=True):
        wait_port(port, proc)
        proc.port = port  # type: ignore[attr-defined]
    return procs


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


def lag_figures(
    round_id: int, reads: list[tuple[float, int]], windows: list[tuple[float, float]] = ()
) -> dict[str, Any]:
    from safety.models import SafetyRequest

    stored = [
        t.timestamp()
        for t in SafetyRequest.objects.filter(round_id=round_id, first_answer_at__isnull=False)
        .order_by("first_answer_at")
        .values_list("first_answer_at", flat=True)
    ]
    lags, j = [], 0
    reads = sorted(reads)
    for k, at in enumerate(stored, start=1):
        # the first read, in time order, that showed at least k answered
        while j < len(reads) and (reads[j][1] < k or reads[j][0] < at):
            j += 1
        lags.append(math.inf if j >= len(reads) else reads[j][0] - at)
    per_window = []
    for start, end in windows:
        inside = [lag for at, lag in zip(stored, lags, strict=True) if start <= at <= end]
        per_window.append((len(inside), pct(inside, 50), pct(inside, 99)))
    return {
        "windows": per_window,
        "answered": len(stored),
        "reads": len(reads),
        "lag_p50": pct(lags, 50),
        "lag_p99": pct(lags, 99),
        "lag_max": max(lags, default=math.nan),
        "shown_last": reads[-1][1] if reads else 0,
    }


async def answers_phase(
    args: argparse.Namespace, rounds: dict[str, int], tokens: dict[str, list[str]], cookie: str,
    log_dir: Path,
) -> dict[str, Any]:  # fmt: skip
    out: dict[str, Any] = {}
    procs = await asyncio.to_thread(
        start_servers, "config.asgi:application", args.daphne, log_dir, "honbu"
    )
    ports = [p.port for p in procs]  # type: ignore[attr-defined]
    phones = Phones(ports, args.sources, args.concurrency)
    try:
        # warm-up: every server process renders the form and takes an answer once
        await asyncio.gather(
            *(phones.answer(i, tokens["knee"][-1 - i], ANSWER) for i in range(2 * len(ports)))
        )
        watcher = Watcher(ports[0], cookie, rounds["main"])
        await watcher.start()
        n = len(tokens["main"])
        print(f"  answers: {n:,} at {args.rate:g}/s over {args.daphne} Daphne …", flush=True)
        load0 = load()
        meter = CpuMeter(procs)
        await asyncio.to_thread(meter.start)
        out["main"] = await run_rate(phones, tokens["main"], args.rate, n)
        out["main"].update(await asyncio.to_thread(meter.stop, out["main"]["ok"]))
        out["main"]["load"] = [load0, load()]
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if watcher.reads and watcher.reads[-1][1] >= out["main"]["ok"]:
                break
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.5)
        await watcher.stop()
        out["watch"] = {
            "reads": watcher.reads,
            "frames": watcher.frames,
            "errors": watcher.errors,
        }
        print(f"    {summary(out['main'])}", flush=True)
        await asyncio.sleep(2)
        count = int(args.burst * args.burst_seconds)
        print(f"  burst: {count:,} at {args.burst:g}/s …", flush=True)
        load0 = load()
        await asyncio.to_thread(meter.start)
        out["burst"] = await run_rate(phones, tokens["burst"], args.burst, count)
        out["burst"].update(await asyncio.to_thread(meter.stop, out["burst"]["ok"]))
        out["burst"]["load"] = [load0, load()]
        print(f"    {summary(out['burst'])}", flush=True)
        watcher = Watcher(ports[0], cookie, rounds["knee"])
        await watcher.start()
        out["steps"] = await steps(args, phones, tokens["knee"], "Honbu", meter)
        await asyncio.sleep(3)
        await watcher.stop()
        out["knee_reads"] = watcher.reads
    finally:
        await phones.close()
        await asyncio.to_thread(stop_servers, procs)
    logs = "".join(
        (log_dir / f"honbu-{i}.log").read_text(errors="replace") for i in range(args.daphne)
    )
    out["tracebacks"] = logs.count("Traceback")
    procs = await asyncio.to_thread(
        start_servers, "bench._safety_baseline:application", args.daphne, log_dir, "bare"
    )
    phones = Phones([p.port for p in procs], args.sources, args.concurrency)  # type: ignore[attr-defined]
    try:
        meter = CpuMeter(procs)
        meter.url = ""  # no database behind the bare app
        out["base_steps"] = await steps(args, phones, tokens["knee"], "bare ASGI", meter)
    finally:
        await phones.close()
        await asyncio.to_thread(stop_servers, procs)
    return out


async def steps(
    args: argparse.Namespace, phones: Phones, tokens: list[str], label: str, meter: CpuMeter
) -> list[dict[str, Any]]:
    found, offset = [], 0
    for rate in args.steps:
        await asyncio.sleep(2)
        count = int(rate * args.step_seconds)
        load0 = load()
        await asyncio.to_thread(meter.start)
        started = time.time()
        r = await run_rate(phones, tokens, rate, count, offset)
        r["window"] = (started, time.time())
        r.update(await asyncio.to_thread(meter.stop, r["ok"]))
        r["load"] = [load0, load()]
        offset += count
        print(f"  {label} step {rate:g}/s: {summary(r)}", flush=True)
        found.append(r)
    return found


def summary(r: dict[str, Any]) -> str:
    return (
        f"ok {r['ok']:,}/{r['count']:,}, POST p50 {fmt(r['p50'], 1)} p99 {fmt(r['p99'], 1)} "
        f"max {fmt(r['max'], 1)} ms, achieved {fmt(r['achieved'], 0)}/s, errors {r['errors']}"
    )


def part_answers(args: argparse.Namespace, store: str, var_dir: Path, world: World) -> dict:
    from django.conf import settings
    from django.db import connections
    from django.test import Client

    from directory.models import User
    from safety.links import link_token
    from safety.models import SafetyRequest

    rounds = {
        "main": start_round("地震 安否確認 (answers)", announce=False).pk,
        "burst": start_round("地震 安否確認 (burst)", announce=False).pk,
        "knee": start_round("地震 安否確認 (steps)", announce=False).pk,
    }
    tokens = {}
    for name, rid in rounds.items():
        rows = SafetyRequest.objects.filter(round_id=rid).order_by("?").values_list("pk", "nonce")
        tokens[name] = [link_token(request_id=pk, nonce=nonce) for pk, nonce in rows]
    client = Client()
    client.force_login(User.objects.get(pk=world.hq_user_id))
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    connections.close_all()  # the servers open their own; nothing of ours holds a lock
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 4 * args.concurrency + 1024
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, want), hard))
    out = asyncio.run(
        asyncio.wait_for(answers_phase(args, rounds, tokens, cookie, var_dir), args.timeout)
    )
    out["lag"] = lag_figures(rounds["main"], out["watch"].pop("reads"))
    knee = lag_figures(rounds["knee"], out.pop("knee_reads"), [s["window"] for s in out["steps"]])
    for step, (n, p50, p99) in zip(out["steps"], knee["windows"], strict=True):
        step["lag_n"], step["lag_p50"], step["lag_p99"] = n, p50, p99
    out.update(part="answers", store=store, daphne=args.daphne, rounds=rounds)
    return out


def child(args: argparse.Namespace) -> int:
    from _throwaway import throwaway_database

    store = args.child
    base = urlsplit(os.environ.get("DATABASE_URL", "")).path.lstrip("/") or "honbu"
    name = f"test_{base}_bench_safety_{os.getpid()}"  # beside the tests' test_<name>
    with throwaway_database(name=name) as var_dir:
        from django.conf import settings
        from django.db import connection

        if connection.vendor == "postgresql":
            parts = urlsplit(os.environ["DATABASE_URL"])
            os.environ["DATABASE_URL"] = urlunsplit(
                parts._replace(path="/" + connection.settings_dict["NAME"])
            )  # for the Daphne processes
        flush_redis(settings)
        try:
            world = seed(args.staff, args.units)
            print(
                f"  [{store}] seeded {world.staff:,} staff in {world.units} units "
                f"in {world.seconds:.1f}s; load average {load():.2f}",
                flush=True,
            )
            if "start" in args.parts:
                result = part_start(args, store)
                emit(result)
                if "page" in args.parts:
                    emit(part_page(args, store, result["round_ids"][0], world))
            elif "page" in args.parts:
                emit(part_page(args, store, start_round("page").pk, world))
            if "email" in args.parts:
                emit(part_email(args, store))
            if "answers" in args.parts:
                log_dir = args.log_dir or var_dir
                log_dir.mkdir(parents=True, exist_ok=True)
                emit(part_answers(args, store, log_dir, world))
        finally:
            flush_redis(settings)
    return 0


def flush_redis(settings) -> None:
    """The bench's own Redis databases (REDIS_URL set): queued tasks, cache, rate limits."""
    if settings.REDIS_EMBEDDED:
        return
    import redis

    for url in (settings.REDIS_URL, settings.CACHES["default"]["LOCATION"]):
        client = redis.Redis.from_url(url)
        client.flushdb()
        client.close()


# === the parent: one child per store, then the report ==========================================
def run_child(args: argparse.Namespace, store: str, parts: list[str]) -> list[dict[str, Any]]:
    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = "config.settings.local"
    env["DJANGO_DEBUG"] = "0"
    env["DJANGO_LOG_LEVEL"] = "WARNING"
    env.pop("HONBU_VAR_DIR", None)
    if store == "sqlite":
        env.pop("DATABASE_URL", None)
        env.pop("REDIS_URL", None)
    elif env.get("REDIS_URL"):
        parts_ = urlsplit(env["REDIS_URL"])
        env["REDIS_URL"] = urlunsplit(parts_._replace(path=f"/{args.redis_db}"))
    cmd = [sys.executable, __file__, "--child", store, "--parts", *parts]
    for flag in (
        "staff", "units", "rate", "burst", "burst_seconds", "daphne", "repeat", "answered",
        "page_requests", "step_seconds", "concurrency", "sources", "timeout", "server",
    ):  # fmt: skip
        cmd += [f"--{flag.replace('_', '-')}", str(getattr(args, flag))]
    cmd += ["--steps", *(str(s) for s in args.steps), "--email-via", *args.email_via]
    if args.log_dir:
        cmd += ["--log-dir", str(args.log_dir.resolve())]
    print(f"\n== {store}: {', '.join(parts)}", flush=True)
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    results = []
    try:
        for line in proc.stdout:
            if line.startswith(RESULT):
                results.append(json.loads(line[len(RESULT) :]))
            else:
                print(line, end="", flush=True)
        proc.wait(args.timeout)
    except subprocess.TimeoutExpired:
        proc.terminate()
        proc.wait(30)
    if proc.returncode:
        print(f"  the {store} run exited with {proc.returncode}")
    return results


def ms_row(samples: list[float]) -> str:
    return (
        f"{fmt(statistics.median(samples), 1)} | {fmt(pct(samples, 99), 1)} | "
        f"{fmt(max(samples), 1)}"
    )


def report(results: list[dict[str, Any]], args: argparse.Namespace) -> list[str]:
    verdicts: list[str] = []

    def verdict(ok: bool, text: str) -> None:
        verdicts.append(f"{'PASS' if ok else 'MISS'}  {text}")

    names = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
    starts = [r for r in results if r["part"] == "start"]
    if starts:
        print(f"\n### 1. Starting a round for {starts[0]['staff']:,} staff")
        print("| store | round_start s (median) | runs s | bulk INSERT s (median) | ratio "
              "| rows, nonces ok | links built s | load before → after |")  # fmt: skip
        print("|---|---:|---|---:|---:|---|---:|---|")
        for r in starts:
            ratio = r["real_median"] / r["base_median"]
            print(
                f"| {names[r['store']]} | {r['real_median']:.2f} "
                f"| {' / '.join(f'{x:.2f}' for x in r['real'])} | {r['base_median']:.3f} "
                f"| {ratio:.1f}× | {r['requests']:,} {'yes' if r['persisted_ok'] else 'NO'} "
                f"| {r['links_s']:.2f} | {r['load'][0]:.2f} → {r['load'][1]:.2f} |"
            )
            verdict(
                r["real_median"] <= TARGET_START_S and r["persisted_ok"],
                f"start, {names[r['store']]}: {r['real_median']:.2f} s ≤ {TARGET_START_S:.0f} s",
            )
    pages = [r for r in results if r["part"] == "page"]
    if pages:
        print(f"\n### 4. Live totals page, {pages[0]['units']} units")
        print("| store | answered | page KB | cold p50 / p99 / max ms | warm p50 / p99 / max ms "
              "| totals computed p50 ms | bare aggregation p50 ms | ratio cold / warm p50 "
              "| load |")  # fmt: skip
        print("|---|---:|---:|---|---|---:|---:|---|---|")
        for r in pages:
            b = statistics.median(r["base"])
            print(
                f"| {names[r['store']]} | {r['answered']:,} | {r['page_kb']:.0f} "
                f"| {ms_row(r['cold']).replace(' | ', ' / ')} "
                f"| {ms_row(r['warm']).replace(' | ', ' / ')} "
                f"| {statistics.median(r['compute']):.1f} | {b:.1f} "
                f"| {statistics.median(r['cold']) / b:.1f}× "
                f"/ {statistics.median(r['warm']) / b:.1f}× "
                f"| {r['load'][0]:.2f} → {r['load'][1]:.2f} |"
            )
            worst = pct(r["cold"], 99)
            verdict(
                worst <= TARGET_PAGE_MS,
                f"totals page, {names[r['store']]}: cold p99 {worst:.0f} ms "
                f"(warm p99 {pct(r['warm'], 99):.0f} ms) ≤ {TARGET_PAGE_MS:.0f} ms",
            )
    for r in (r for r in results if r["part"] == "email"):
        print(f"\n### 2. E-mail to everyone ({names[r['store']]}, in-process eager Celery)")
        print("| path | messages | SMTP sessions | seconds | per second | ratio | load |")
        print("|---|---:|---:|---:|---:|---:|---|")
        ratio = r["real_s"] / r["base_s"]
        print(
            f"| round_start → notify → deliver (all) | {r['sent']:,} | {r['sessions']} "
            f"| {r['real_s']:.1f} | {r['sent'] / r['real_s']:,.0f} | {ratio:.1f}× "
            f"| {r['load'][0]:.2f} → {r['load'][1]:.2f} |"
        )
        print(
            f"| … of which notifications written | | | {r['notify_s']:.1f} | | | |\n"
            f"| … of which delivery ({r['deliver_batches']} batches) | | "
            f"| {r['deliver_s']:.1f} | {r['sent'] / r['deliver_s']:,.0f} | | |"
        )
        print(
            f"| bare smtplib, one connection | {r['base_sent']:,} | 1 | {r['base_s']:.1f} "
            f"| {r['base_sent'] / r['base_s']:,.0f} | 1.0× "
            f"| {r['load'][2]:.2f} → {r['load'][3]:.2f} |"
        )
        w = r.get("worker") or {}
        if w:
            print(
                f"| Celery worker ×2 processes: round_start ({w['start_s']:.1f} s) → all handed "
                f"over | {w['sent']:,} | {w['sessions']} | {fmt(w['real_s'], 1)} "
                f"| {w['sent'] / w['real_s']:,.0f} | {w['real_s'] / r['base_s']:.1f}× "
                f"| {w['load'][0]:.2f} → {w['load'][1]:.2f} |"
            )
            verdict(
                w["real_s"] <= TARGET_EMAIL_S,
                f"e-mail, {names[r['store']]}, Celery worker ×2: {w['sent']:,} handed over in "
                f"{fmt(w['real_s'], 1)} s ≤ {TARGET_EMAIL_S:.0f} s",
            )
        print(f"statuses: {r['statuses']}; {r['mb']:.1f} MB")
        verdict(
            r["real_s"] <= TARGET_EMAIL_S and r["sent"] >= r["base_sent"] > 0,
            f"e-mail, {names[r['store']]}, in-process (one process, serial): {r['sent']:,} "
            f"handed over in {r['real_s']:.1f} s "
            f"≤ {TARGET_EMAIL_S:.0f} s",
        )
    for r in (r for r in results if r["part"] == "answers"):
        report_answers(r, names[r["store"]], verdict)
    print("\nTargets:")
    for v in verdicts:
        print("  " + v)
    return verdicts


def report_answers(r: dict[str, Any], store: str, verdict) -> None:
    base = {s["offered"]: s for s in r["base_steps"]}
    print(f"\n### 3. Answers over HTTP ({store}, Daphne ×{r['daphne']}, GET + POST per answer)")
    print("| phase | answers | ok | errors | POST p50 ms | p99 ms | max ms | GET p50 ms "
          "| achieved /s | bare p50 / p99 ms | ratio p50 / p99 "
          "| CPU ms/answer server / PG / phones | load |")  # fmt: skip
    print("|---|---:|---:|---|---:|---:|---:|---:|---:|---|---|---|---|")

    def cpu(s: dict[str, Any]) -> str:
        return (
            f"{fmt(s.get('cpu_server_ms'), 1)} / {fmt(s.get('cpu_db_ms'), 1)} / "
            f"{fmt(s.get('cpu_client_ms'), 1)}"
        )

    def row(name: str, s: dict[str, Any]) -> None:
        b = base.get(s["offered"])
        bare = f"{fmt(b['p50'], 1)} / {fmt(b['p99'], 1)}" if b else "–"
        ratio = f"{s['p50'] / b['p50']:.1f}× / {s['p99'] / b['p99']:.1f}×" if b else "–"
        errors = ", ".join(f"{k} {v}" for k, v in s["errors"].items()) or "0"
        print(
            f"| {name} | {s['count']:,} | {s['ok']:,} | {errors} | {fmt(s['p50'], 1)} "
            f"| {fmt(s['p99'], 1)} | {fmt(s['max'], 1)} | {fmt(s['get_p50'], 1)} "
            f"| {fmt(s['achieved'])} | {bare} | {ratio} | {cpu(s)} "
            f"| {s['load'][0]:.2f} → {s['load'][1]:.2f} |"
        )

    row(f"everyone at {r['main']['offered']:g}/s", r["main"])
    row(f"burst at {r['burst']['offered']:g}/s", r["burst"])
    for s in r["steps"]:
        row(f"step {s['offered']:g}/s", s)
    for s in r["base_steps"]:
        errors = ", ".join(f"{k} {v}" for k, v in s["errors"].items()) or "0"
        print(
            f"| bare ASGI step {s['offered']:g}/s | {s['count']:,} | {s['ok']:,} | {errors} "
            f"| {fmt(s['p50'], 1)} | {fmt(s['p99'], 1)} | {fmt(s['max'], 1)} "
            f"| {fmt(s['get_p50'], 1)} | {fmt(s['achieved'])} | | | {cpu(s)} "
            f"| {s['load'][0]:.2f} → {s['load'][1]:.2f} |"
        )
    print("\nThe curve (each step on its own; lag = live totals lag of the step's first answers):")
    print("| offered /s | achieved /s | ok | not sent / errors | POST p50 ms | POST p99 ms "
          "| bare POST p99 ms | totals lag p50 / p99 s | CPU ms/answer server / PG / phones "
          "| load |")  # fmt: skip
    print("|---:|---:|---:|---|---:|---:|---:|---|---|---|")
    for s in r["steps"]:
        b = base.get(s["offered"])
        errors = ", ".join(f"{k} {v}" for k, v in s["errors"].items()) or "0"
        print(
            f"| {s['offered']:g} | {fmt(s['achieved'])} | {s['ok']:,} | {errors} "
            f"| {fmt(s['p50'], 1)} | {fmt(s['p99'], 1)} | {fmt(b['p99'], 1) if b else '–'} "
            f"| {fmt(s.get('lag_p50'), 2)} / {fmt(s.get('lag_p99'), 2)} | {cpu(s)} "
            f"| {s['load'][0]:.2f} → {s['load'][1]:.2f} |"
        )
    lag = r["lag"]
    print(
        f"\nServer CPU during the main phase: {r['main']['server_cpu'] * 100:.0f} % of one core "
        f"(all processes); tracebacks in the server logs: {r['tracebacks']}"
    )
    print(
        f"Live totals lag (websocket + totals read): {lag['answered']:,} answers, "
        f"{r['watch']['frames']} safety.changed frames, {lag['reads']} reads; lag p50 "
        f"{fmt(lag['lag_p50'], 2)} s, p99 {fmt(lag['lag_p99'], 2)} s, max "
        f"{fmt(lag['lag_max'], 2)} s; last read showed {lag['shown_last']:,}"
        + (f"; read errors {r['watch']['errors'][:5]}" if r["watch"]["errors"] else "")
    )
    knee, previous = None, None
    for s in r["steps"]:
        bad = (
            s["p99"] > TARGET_ANSWER_P99_MS
            or sum(s["errors"].values()) > 0.01 * s["count"]
            or s["achieved"] < 0.9 * s["offered"]
            or (previous is not None and s["p99"] > 3 * previous["p99"])
        )
        if bad:
            knee = (previous, s)
            break
        previous = s
    if knee is None:
        print("Knee: not reached within the steps (p99 stays flat)")
    elif knee[0] is None:
        print(f"Knee: below the first step ({knee[1]['offered']:g}/s: p99 {fmt(knee[1]['p99'])})")
    else:
        print(
            f"Knee: between {knee[0]['offered']:g}/s (p99 {fmt(knee[0]['p99'])} ms) and "
            f"{knee[1]['offered']:g}/s (p99 {fmt(knee[1]['p99'])} ms, "
            f"{sum(knee[1]['errors'].values())} errors, {fmt(knee[1]['achieved'])}/s achieved)"
        )
    m = r["main"]
    clean = not m["errors"] and m["ok"] == m["count"]
    verdict(
        m["p99"] <= TARGET_ANSWER_P99_MS and clean,
        f"answers at {m['offered']:g}/s, {store}: POST p99 {fmt(m['p99'])} ms "
        f"≤ {TARGET_ANSWER_P99_MS:.0f} ms ({m['ok']:,}/{m['count']:,} ok)",
    )
    b = r["burst"]
    verdict(
        b["p99"] <= TARGET_ANSWER_P99_MS and not b["errors"],
        f"burst at {b['offered']:g}/s, {store}: POST p99 {fmt(b['p99'])} ms "
        f"≤ {TARGET_ANSWER_P99_MS:.0f} ms ({b['ok']:,}/{b['count']:,} ok)",
    )
    verdict(
        lag["lag_p99"] <= TARGET_LAG_P99_S,
        f"live totals lag, {store}: p99 {fmt(lag['lag_p99'], 2)} s ≤ {TARGET_LAG_P99_S:.0f} s",
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--staff", type=int, default=30000)
    parser.add_argument("--units", type=int, default=250)
    parser.add_argument("--rate", type=float, default=500, help="answers a second (everyone)")
    parser.add_argument("--burst", type=float, default=1500, help="answers a second (burst)")
    parser.add_argument("--burst-seconds", type=float, default=5)
    parser.add_argument(
        "--steps", type=float, nargs="+", default=[25, 50, 100, 250, 500, 1000, 1500]
    )
    parser.add_argument("--step-seconds", type=float, default=10)
    parser.add_argument("--daphne", type=int, default=2, help="server processes")
    parser.add_argument(
        "--server",
        choices=["uvicorn", "daphne"],
        default="uvicorn",
        help="the ASGI server (Honbu runs on uvicorn: config/server.py)",
    )
    parser.add_argument("--concurrency", type=int, default=400, help="phones in flight at most")
    parser.add_argument("--sources", type=int, default=200, help="source addresses 127.0.1.x")
    parser.add_argument("--repeat", type=int, default=3, help="round starts per store")
    parser.add_argument("--answered", type=float, default=0.6, help="share answered (page)")
    parser.add_argument("--page-requests", type=int, default=20)
    parser.add_argument(
        "--parts",
        nargs="+",
        default=["start", "page", "email", "answers"],
        choices=["start", "page", "email", "answers"],
    )
    parser.add_argument("--redis-db", type=int, default=10, help="with REDIS_URL (and the next)")
    parser.add_argument("--timeout", type=int, default=1800, help="each store's run stops after")
    parser.add_argument(
        "--email-via",
        nargs="+",
        default=["eager", "celery"],
        choices=["eager", "celery"],
        help="in-process eager Celery (always) and/or a real worker with 2 processes",
    )
    parser.add_argument("--log-dir", type=Path, help="keep the Daphne processes' logs here")
    parser.add_argument("--child", choices=["sqlite", "postgresql"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    global SERVER
    SERVER = args.server
    if args.child:
        return child(args)

    print(
        f"Safety benchmark: {args.staff:,} staff, {args.units} units; {os.cpu_count()} cores, "
        f"Python {sys.version.split()[0]}; load average before: "
        + " ".join(f"{x:.2f}" for x in os.getloadavg()),
        flush=True,
    )
    pg = bool(os.environ.get("DATABASE_URL"))
    results: list[dict[str, Any]] = []
    lite = [p for p in args.parts if p in ("start", "page") or (p == "email" and not pg)]
    if lite:
        results += run_child(args, "sqlite", lite)
    if pg:
        results += run_child(args, "postgresql", args.parts)
    elif "answers" in args.parts:
        print(
            "\nanswers: skipped — they are measured on the production-like layout "
            "(PostgreSQL + Daphne processes + Redis): set DATABASE_URL (and REDIS_URL)"
        )
    report(results, args)
    print("load average after: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    expected = len(lite) + (len(args.parts) if pg else 0)
    return 0 if len(results) >= expected else 1


if __name__ == "__main__":
    sys.exit(main())
