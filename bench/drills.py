"""Drill benchmark: ``.venv/bin/python bench/drills.py [--staff 30000] [--injects 50]``.

Seeds the demo city (``demo/city.py``: 30,000 staff, the ~200-recipient 大阪市災害対策本部)
into a throwaway database and plays a scenario of ``--injects`` injects against it at 1×: all
but one are instructions (from the 本部長 post, 了解 asked) and situation reports (from the
control cell) to the headquarters group, one is a safety round of every member of staff. The
injects fall due over about a minute, some at the same second, and one right after the safety
round.

The sweep is called **from a loop as beat would** (in this process, every ``--tick`` seconds,
1 s like ``HONBU_DRILL_SWEEP_SECONDS``; a sweep that overruns is followed at once by the next,
like the queued beat task a single worker would take next). No Celery worker runs: the tasks
the sends queue (push/e-mail batches, the round's notifications) wait in the broker, so their
delivery does not compete for the CPU here (bench/escalation.py measures that side).

Measured:

1. lateness of every inject: ``fired_at − due_at`` (when the sweep sent it) and "visible":
   the end of the sweep transaction that committed it − ``due_at`` (when people could see it).
   p50 / p99 / max; target: every inject ≤ 2 s.
2. baseline, in the same run: the same sends (``message_send``) and the same round start
   (``round_start``), called directly with no drill machinery; ratio = sweep time per inject
   / bare time per inject.
3. the after-action report of the run, after the bench has written people's responses into
   the record (reads, 了解, replies, hand-overs to deputies, 27,000 safety answers): the page
   through Django's test client as the coordinator, cold (the first request of this process:
   the URLs, the views, matplotlib and the templates are loaded then) and warm; the PDF and the
   CSV. Target: the page cold ≤ 2 s. Baseline: reading the same rows with bare queries.

Never touches your data: DATABASE_URL set (PostgreSQL) → a throwaway database
``test_honbu_bench_drills`` on the same server, created and dropped by this script; else a
SQLite file in a temporary directory. The embedded Redis lives in that directory too.
"""

from __future__ import annotations

import argparse
import io
import math
import os
import random
import statistics
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._throwaway import throwaway_database  # noqa: E402

TARGET_LATENESS = 2.0
TARGET_REPORT = 2.0


def pct(samples: list[float], p: float) -> float:
    if not samples:
        return math.nan
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1)]


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def load() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def offsets(n: int) -> list[int]:
    """Seconds from the start for each inject: one every 2 s, with a pair at the same second
    every fourth slot, and the safety round (the 16th inject) followed 1 s later by the next."""
    out, t = [], 5
    for k in range(n):
        out.append(t)
        if k % 4 == 2:
            continue  # the next inject at the same second
        t += 1 if k == 15 else 2
    return out


def build(n: int, safety_at: int = 16):
    from demo.data import COORDINATOR, MAYOR
    from demo.groups import HQ_GROUP_NAME
    from directory.models import Post, User
    from drills.models import Inject, Scenario
    from messaging.models import CommandGroup

    group = CommandGroup.objects.get(name=HQ_GROUP_NAME)
    mayor = User.objects.get(username=MAYOR)
    coordinator = User.objects.get(username=COORDINATOR)
    head = Post.objects.get(holder__user=mayor, name="本部長")
    scenario = Scenario.objects.create(title="ベンチマーク 50件の状況付与", created_by=coordinator)
    for number, offset in enumerate(offsets(n), start=1):
        if number == safety_at:
            kind, extra = Inject.Kind.SAFETY_ROUND, {}
            expectations = [{"check": "safety", "minutes": 30, "percent": 80}]
        elif number % 2:
            kind, extra = Inject.Kind.INSTRUCTION, {"from_post": head}
            expectations = [{"check": "read", "minutes": 2}, {"check": "ack", "minutes": 5}]
        else:
            kind, extra = Inject.Kind.SITUATION, {}
            expectations = [{"check": "read", "minutes": 3}]
        Inject.objects.create(
            scenario=scenario,
            number=number,
            offset=offset,
            kind=kind,
            to_group=None if kind == Inject.Kind.SAFETY_ROUND else group,
            text=f"【状況{number}】震度6強。{number}番目の状況付与です。",
            expectations=expectations,
            objective=["情報伝達", "指示の徹底", "安否確認"][number % 3],
            **extra,
        )
    return scenario, group, mayor, coordinator


def baseline(scenario, group, mayor, coordinator) -> list[float]:
    """The bare cost of each inject's send (or round start), without the drill machinery."""
    from django.db import transaction

    from drills.models import Inject
    from messaging import services
    from messaging.models import Message
    from safety import rounds

    seconds = []
    for inject in scenario.injects.order_by("offset", "number"):
        started = time.perf_counter()
        with transaction.atomic():
            if inject.kind == Inject.Kind.SAFETY_ROUND:
                rounds.round_start(
                    actor=coordinator, title=inject.text, target={"all": True}, is_drill=True
                )
            else:
                instruction = inject.kind == Inject.Kind.INSTRUCTION
                services.message_send(
                    group=group,
                    sender=mayor if instruction else coordinator,
                    body=inject.text,
                    client_id=uuid.uuid4(),
                    kind=Message.Kind.INSTRUCTION if instruction else Message.Kind.MESSAGE,
                    priority=Message.Priority.URGENT if instruction else Message.Priority.NORMAL,
                    requires_ack=instruction,
                    exercise=True,
                )
        seconds.append(time.perf_counter() - started)
    return seconds


def play(scenario, coordinator, tick: float) -> tuple[object, list[tuple[float, float, int]]]:
    """Start the run and sweep every ``tick`` seconds until every inject has fired."""
    from django.utils import timezone

    from drills import runs
    from drills.models import RunInject

    run = runs.run_start(
        scenario=scenario, actor=coordinator, start_at=timezone.now() + timedelta(seconds=1)
    )
    sweeps: list[tuple[float, float, int]] = []  # (start, end) as epoch seconds, fired
    next_tick = time.time()
    while RunInject.objects.filter(run=run, status=RunInject.Status.DUE).exists():
        wait = next_tick - time.time()
        if wait > 0:
            time.sleep(wait)
        started = time.time()
        fired = runs.drills_sweep()
        sweeps.append((started, time.time(), fired))
        next_tick += tick
        if next_tick < time.time():  # overran: the queued sweep runs at once
            next_tick = time.time()
    return run, sweeps


def lateness(run, sweeps) -> tuple[list[float], list[float], list[int]]:
    from drills.models import RunInject

    fired, visible, failed = [], [], []
    for ri in RunInject.objects.filter(run=run).order_by("due_at"):
        if ri.status != RunInject.Status.FIRED:
            failed.append(ri.number)
            continue
        fired.append((ri.fired_at - ri.due_at).total_seconds())
        at = ri.fired_at.timestamp()
        end = next((e for s, e, _n in sweeps if s <= at <= e + 0.001), at)
        visible.append(end - ri.due_at.timestamp())
    return fired, visible, failed


def respond(run, rng: random.Random) -> dict[str, int]:
    """Write what people did into the record, as the services would have: reads and 了解 at
    lognormal delays (median ~40 s and ~90 s; 4 % never read, 8 % never acknowledge), three
    replies per instruction, hand-overs to deputies through the real escalation sweep, and
    first safety answers for 90 % of staff over 40 minutes."""
    from django.db import connection, transaction

    from directory.models import User
    from drills.models import RunInject
    from messaging import escalation, services
    from messaging.models import Message, Receipt
    from safety.models import SafetyRequest

    counts = {"reads": 0, "acks": 0, "replies": 0, "answers": 0}
    fired = list(
        RunInject.objects.filter(run=run, status="fired").select_related("message", "round")
    )
    reads, replies_made = [], []
    for ri in fired:
        if ri.message_id is None:
            continue
        for rid in Receipt.objects.filter(message=ri.message, observer=False).values_list(
            "id", flat=True
        ):
            if rng.random() < 0.04:
                continue
            read = ri.fired_at + timedelta(seconds=rng.lognormvariate(math.log(40), 0.8))
            acked = None
            if ri.message.requires_ack and rng.random() > 0.08:
                acked = read + timedelta(seconds=rng.lognormvariate(math.log(50), 0.7))
            reads.append((read, acked, rid))
        if ri.message.requires_ack:
            users = list(
                Receipt.objects.filter(message=ri.message, observer=False).values_list(
                    "user", flat=True
                )[:3]
            )
            for uid in users:
                reply = services.message_send(
                    group=ri.message.group,
                    sender=User.objects.get(pk=uid),
                    body="了解しました。対応中です。",
                    client_id=uuid.uuid4(),
                    reply_to_id=ri.message_id,
                )
                delay = timedelta(seconds=rng.lognormvariate(math.log(150), 0.5))
                replies_made.append((ri.fired_at + delay, reply.message.pk))
    with transaction.atomic(), connection.cursor() as cur:
        table = Receipt._meta.db_table
        cur.executemany(
            f"UPDATE {table} SET read_at = %s, acked_at = %s WHERE id = %s",  # noqa: S608
            reads,
        )
        cur.executemany(
            f"UPDATE {Message._meta.db_table} SET created_at = %s WHERE id = %s",  # noqa: S608
            replies_made,
        )
    counts["reads"] = len(reads)
    counts["acks"] = sum(1 for r in reads if r[1] is not None)
    counts["replies"] = len(replies_made)
    # The still-unacknowledged: reminders, then their deputies (the real sweep, clock moved on).
    last = max(ri.fired_at for ri in fired)
    for minutes in (6, 11, 16, 21):
        escalation.escalation_sweep(now=last + timedelta(minutes=minutes))
    for ri in fired:
        if ri.round_id is None:
            continue
        ids = list(SafetyRequest.objects.filter(round_id=ri.round_id).values_list("id", flat=True))
        started = ri.round.started_at
        answers = [
            (started + timedelta(seconds=rng.gammavariate(2.0, 300)), rid)
            for rid in ids
            if rng.random() < 0.9
        ]
        with transaction.atomic(), connection.cursor() as cur:
            cur.executemany(
                f"UPDATE {SafetyRequest._meta.db_table} SET first_answer_at = %s "  # noqa: S608
                "WHERE id = %s",
                answers,
            )
        counts["answers"] += len(answers)
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("ANALYZE")
    return counts


def report_timings(run, coordinator, repeat: int) -> dict[str, float | int]:
    from django.db import connection, reset_queries
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from drills.models import RunInject
    from messaging.models import Receipt
    from safety.models import SafetyRequest

    client = Client()
    client.force_login(coordinator)
    url = f"/drills/runs/{run.pk}/report/"
    out: dict[str, float | int] = {}
    # A serving process has answered some page before (config/run.py waits for one), so the
    # URLs and views, matplotlib among them, are loaded: "cold" is then the first render of
    # this run's report (nothing of a report is ever cached). The very first request of a
    # fresh process, imports included, is timed too.
    started = time.perf_counter()
    first = client.get("/drills/")
    out["first_page"] = time.perf_counter() - started
    assert first.status_code == 200, first.status_code
    started = time.perf_counter()
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    out["cold"] = time.perf_counter() - started
    slow = sorted(queries.captured_queries, key=lambda q: -float(q["time"]))[:3]
    out["queries"] = len(queries.captured_queries)
    for q in slow:
        print(f"  slowest queries of the cold render: {q['time']}s {q['sql'][:160]}")
    if os.environ.get("BENCH_EXPLAIN") and connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("EXPLAIN ANALYZE " + slow[0]["sql"])
            print("\n".join(row[0] for row in cur.fetchall()))
    assert response.status_code == 200, response.status_code
    out["bytes"] = len(response.content)
    warm = []
    for _ in range(repeat):
        started = time.perf_counter()
        assert client.get(url).status_code == 200
        warm.append(time.perf_counter() - started)
    out["warm"] = statistics.median(warm)
    started = time.perf_counter()
    response = client.get(f"/drills/runs/{run.pk}/report.pdf")
    out["pdf"] = time.perf_counter() - started
    out["pdf_bytes"] = len(response.content)
    from pypdf import PdfReader  # requirements-dev.txt

    out["pdf_pages"] = len(PdfReader(io.BytesIO(response.content)).pages)
    started = time.perf_counter()
    response = client.get(f"/drills/runs/{run.pk}/report.csv")
    out["csv_rows"] = sum(chunk.count(b"\n") for chunk in response.streaming_content) - 1
    out["csv"] = time.perf_counter() - started
    # Baseline: the rows the report is made of, read with bare queries.
    reset_queries()
    started = time.perf_counter()
    messages = list(
        RunInject.objects.filter(run=run, message__isnull=False).values_list("message", flat=True)
    )
    rounds = list(
        RunInject.objects.filter(run=run, round__isnull=False).values_list("round", flat=True)
    )
    rows = list(
        Receipt.objects.filter(message__in=messages).values_list(
            "user_id", "user__staff__family_name", "post__name", "read_at", "acked_at"
        )
    )
    rows += list(
        SafetyRequest.objects.filter(round__in=rounds).values_list("staff_id", "first_answer_at")
    )
    out["baseline"] = time.perf_counter() - started
    out["baseline_rows"] = len(rows)
    return out


def profile_report(run, coordinator) -> None:
    """Where the time of a report request goes (cProfile, sorted by cumulative and own time):
    the page, then the PDF, each after one unprofiled request."""
    import cProfile
    import io
    import pstats

    from django.test import Client

    client = Client()
    client.force_login(coordinator)
    for url in (f"/drills/runs/{run.pk}/report/", f"/drills/runs/{run.pk}/report.pdf"):
        client.get(url)
        prof = cProfile.Profile()
        prof.enable()
        client.get(url)
        prof.disable()
        for order in ("cumulative", "tottime"):
            out = io.StringIO()
            pstats.Stats(prof, stream=out).sort_stats(order).print_stats(30)
            print(f"--- profile: {url} by {order}\n{out.getvalue()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--staff", type=int, default=30000)
    parser.add_argument("--injects", type=int, default=50)
    parser.add_argument("--tick", type=float, default=1.0, help="beat interval (s)")
    parser.add_argument("--repeat", type=int, default=3, help="warm report renders")
    parser.add_argument("--profile", action="store_true", help="cProfile the report and PDF")
    args = parser.parse_args()

    with throwaway_database(name="test_honbu_bench_drills"):
        from django.db import connection

        from demo.city import demo_city_seed
        from messaging.models import CommandGroup

        db = connection.vendor
        if db == "postgresql":
            with connection.cursor() as cur:
                cur.execute("SHOW server_version")
                db = f"PostgreSQL {cur.fetchone()[0].split()[0]}"
        print(f"database: {db}; cores: {os.cpu_count()}; load average at start: {load()}")
        started = time.perf_counter()
        demo_city_seed(staff_count=args.staff)
        print(f"seeded {args.staff:,} staff in {time.perf_counter() - started:.1f}s")
        scenario, group, mayor, coordinator = build(args.injects)
        members = CommandGroup.objects.get(pk=group.pk).memberships.count()
        print(f"scenario: {args.injects} injects; headquarters group: {members} memberships")

        base = baseline(scenario, group, mayor, coordinator)
        print(
            f"baseline (bare sends and round start): total {sum(base):.2f}s, per inject "
            f"p50 {statistics.median(base) * 1000:.0f} ms, max {max(base):.2f}s "
            f"(the round start: {max(base):.2f}s)"
        )

        load_before = load()
        run, sweeps = play(scenario, coordinator, args.tick)
        load_after = load()
        fired, visible, failed = lateness(run, sweeps)
        busy = sum(e - s for s, e, n in sweeps if n)
        print(
            f"run: {len(fired)} fired, {len(failed)} not fired {failed or ''}; "
            f"{len(sweeps)} sweeps, busy {busy:.2f}s (load {load_before} → {load_after})"
        )
        rows = [("fired_at − due_at", fired), ("visible (committed) − due_at", visible)]
        print(f"\n| lateness | p50 s | p99 s | max s | ≤ {TARGET_LATENESS:g} s |")
        print("|---|---:|---:|---:|---|")
        for label, values in rows:
            print(
                f"| {label} | {pct(values, 50):.2f} | {pct(values, 99):.2f} | "
                f"{max(values):.2f} | {verdict(max(values) <= TARGET_LATENESS)} |"
            )
        print(
            f"\nsweep time per inject {busy / max(1, len(fired)) * 1000:.0f} ms vs bare "
            f"{sum(base) / len(base) * 1000:.0f} ms: ratio {busy / max(sum(base), 1e-9):.2f}×"
        )

        counts = respond(run, random.Random(11))
        print(f"\nresponses written: {counts}")
        if args.profile:
            profile_report(run, coordinator)
        timings = report_timings(run, coordinator, args.repeat)
        print(
            f"\n| report | seconds | × baseline | notes |\n|---|---:|---:|---|\n"
            f"| bare queries (baseline) | {timings['baseline']:.2f} | 1.0 | "
            f"{timings['baseline_rows']:,} rows |\n"
            f"| first request of the process (/drills/, imports) | {timings['first_page']:.2f} | "
            f"{timings['first_page'] / timings['baseline']:.1f} | |\n"
            f"| page, cold (first render of the report) | {timings['cold']:.2f} | "
            f"{timings['cold'] / timings['baseline']:.1f} | {timings['queries']} queries, "
            f"{timings['bytes'] / 1024:.0f} KB; ≤ {TARGET_REPORT:g} s: "
            f"{verdict(timings['cold'] <= TARGET_REPORT)} |\n"
            f"| page, warm (median of {args.repeat}) | {timings['warm']:.2f} | "
            f"{timings['warm'] / timings['baseline']:.1f} | |\n"
            f"| PDF | {timings['pdf']:.2f} | {timings['pdf'] / timings['baseline']:.1f} | "
            f"{timings['pdf_bytes'] / 1024:.0f} KB, {timings['pdf_pages']} pages |\n"
            f"| CSV | {timings['csv']:.2f} | {timings['csv'] / timings['baseline']:.1f} | "
            f"{timings['csv_rows']:,} rows |"
        )
        print(f"\nload average at the end: {load()}")


if __name__ == "__main__":
    main()
