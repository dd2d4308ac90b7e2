"""Escalation sweep benchmark: ``.venv/bin/python bench/escalation.py [--instructions 15]
[--recipients 2000] [--repeat 3] [--live] [--profile]``.

Builds N instructions × M recipients outstanding chases (default 15 × 2,000 = 30,000) in a
throwaway database — one instruction through ``messaging.services.message_send`` so the shapes
are the real ones, the rest copied in bulk — then times ``messaging.escalation.escalation_sweep``
when (a) nothing is due (the steady state every HONBU_SWEEP_SECONDS), (b) 10 % are due and
(c) all are due at once. Baseline in the same run: the bare minimum any sweep must do — select
the due active chases over the same table and ``bulk_update`` them, in one transaction.

Targets (issue "bench/escalation.py"): a sweep over 30,000 outstanding chases finishes in
≤ 1 s; reminders fire ≤ 60 s after due. Worst-case lateness = beat interval + sweep duration;
``--live`` also measures it with a real Celery worker + beat (HONBU_SWEEP_SECONDS=15) against
the throwaway database and Redis. Prints PASS/MISS per target; exits non-zero only on errors.

Never touches your data:

- embedded default (no DATABASE_URL): a fresh SQLite file and embedded Redis in a temporary
  directory, removed afterwards;
- DATABASE_URL set (PostgreSQL): a database ``honbu_bench_escalation_<pid>`` is created next to
  the named one and dropped afterwards (its own name, so concurrent test runs are not clobbered).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import random
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _throwaway import throwaway_database  # noqa: E402

SWEEP_TARGET_S = 1.0
LATENESS_TARGET_S = 60.0


@dataclass
class World:
    now: datetime
    # (message_id, receipt_id, post_id) for every outstanding recipient-instruction
    chases: list[tuple[int, int, int]]
    sender_id: int


def build(instructions: int, recipients: int) -> World:
    """Users, staff, posts with one deputy each, a group addressing the posts, instructions."""
    from django.contrib.auth.hashers import make_password
    from django.db import transaction
    from django.utils import timezone

    from directory.models import OrgUnit, Post, PostDeputy, Staff, User
    from messaging import services
    from messaging.models import Chase, CommandGroup, GroupMembership, Message, Receipt
    from messaging.policies import policy_for

    started = time.perf_counter()
    password = make_password("bench-not-a-secret")
    unit = OrgUnit.objects.create(code="BENCH", name="危機管理課", kind=OrgUnit.Kind.SECTION)
    deputies = max(1, recipients // 10)
    n_users = 1 + recipients + deputies  # sender, post holders, deputies
    User.objects.bulk_create(
        [
            User(username=f"bench{i:06d}", password=password, email=f"bench{i:06d}@example.jp")
            for i in range(n_users)
        ],
        batch_size=2000,
    )
    users = list(
        User.objects.filter(username__startswith="bench")
        .order_by("username")
        .values_list("id", flat=True)
    )
    Staff.objects.bulk_create(
        [
            Staff(
                employee_number=f"9{i:06d}",
                family_name="試験",
                given_name=f"{i}",
                family_kana="シケン",
                given_kana="タロウ",
                unit=unit,
                user_id=uid,
                email=f"bench{i:06d}@example.jp",
            )
            for i, uid in enumerate(users)
        ],
        batch_size=2000,
    )
    staff = dict(Staff.objects.filter(unit=unit).values_list("user_id", "id"))
    sender_uid, holder_uids, deputy_uids = (
        users[0],
        users[1 : 1 + recipients],
        users[1 + recipients :],
    )
    Post.objects.bulk_create(
        [
            Post(code=f"BP{i:06d}", name=f"班長{i}", unit=unit, holder_id=staff[uid], sort_order=i)
            for i, uid in enumerate(holder_uids)
        ],
        batch_size=2000,
    )
    posts = list(
        Post.objects.filter(code__startswith="BP").order_by("code").values_list("id", flat=True)
    )
    PostDeputy.objects.bulk_create(
        [
            PostDeputy(post_id=pid, staff_id=staff[deputy_uids[i % len(deputy_uids)]], rank=1)
            for i, pid in enumerate(posts)
        ],
        batch_size=2000,
    )
    group = services.group_create(
        name="災害対策本部", kind=CommandGroup.Kind.HEADQUARTERS, actor=None
    )
    GroupMembership.objects.create(
        group=group, staff_id=staff[sender_uid], role=GroupMembership.Role.COMMANDER
    )
    GroupMembership.objects.bulk_create(
        [
            GroupMembership(group=group, post_id=pid, role=GroupMembership.Role.MEMBER)
            for pid in posts
        ],
        batch_size=2000,
    )
    sender = User.objects.get(pk=sender_uid)

    # One instruction through the real service (policy copied, receipts and chases made) ...
    first = services.message_send(
        group=group,
        sender=sender,
        body="避難所の開設状況を報告せよ",
        client_id=uuid.uuid4(),
        kind=Message.Kind.INSTRUCTION,
        priority=Message.Priority.URGENT,
        requires_ack=True,
    ).message
    first.refresh_from_db()
    made = Chase.objects.filter(message=first).count()
    assert made == recipients, (made, recipients)
    policy = first.escalation or policy_for(group=group, priority="urgent")
    # ... the rest copied in bulk with the same shapes.
    with transaction.atomic():
        rest = Message.objects.bulk_create(
            [
                Message(
                    group=group,
                    seq=first.seq + k,
                    client_id=uuid.uuid4(),
                    sender=sender,
                    sender_name=first.sender_name,
                    sender_post_name=first.sender_post_name,
                    kind=first.kind,
                    priority=first.priority,
                    requires_ack=True,
                    body=f"指示 {k + 1}",
                    recipient_count=recipients,
                    escalation=policy,
                )
                for k in range(1, instructions)
            ]
        )
        CommandGroup.objects.filter(pk=group.pk).update(last_seq=first.seq + instructions - 1)
        message_ids = [m.pk for m in rest] or list(
            Message.objects.filter(group=group).exclude(pk=first.pk).values_list("id", flat=True)
        )
        pairs = list(Receipt.objects.filter(message=first).values_list("user_id", "post_id"))
        Receipt.objects.bulk_create(
            [
                Receipt(message_id=mid, group=group, user_id=uid, post_id=pid)
                for mid in message_ids
                for uid, pid in pairs
            ],
            batch_size=2000,
        )
    chases = list(
        Receipt.objects.filter(group=group)
        .order_by("id")
        .values_list("message_id", "id", "post_id")
    )
    print(
        f"built {len(chases):,} outstanding recipient-instructions ({instructions} × "
        f"{recipients:,}; {n_users:,} users, {len(posts):,} posts with a deputy) "
        f"in {time.perf_counter() - started:.1f}s"
    )
    return World(now=timezone.now(), chases=chases, sender_id=sender_uid)


def reset(world: World, due: set[int], *, escalate_every: int = 5) -> None:
    """Fresh chases: those at the indexes in ``due`` are 0–14 s overdue, the rest due within the
    next 10 minutes; every ``escalate_every``-th due chase has used its reminders (next step:
    the deputy), the others get a reminder. Previous notifications and stand-ins removed."""
    from django.db import connection, transaction

    from messaging.models import Chase, Message, StandIn
    from notifications.models import Notification

    rng = random.Random(1)
    with transaction.atomic():
        for model in (Notification, StandIn, Chase):
            model.objects.all()._raw_delete(model.objects.db)
        Message.objects.update(unreached_reported_at=None)
        rows = []
        for i, (mid, rid, pid) in enumerate(world.chases):
            if i in due:
                at = world.now - timedelta(seconds=rng.uniform(0, 14))
                used = 3 if i % escalate_every == 0 else rng.randint(0, 2)
            else:
                at = world.now + timedelta(seconds=rng.uniform(1, 600))
                used = rng.randint(0, 2)
            rows.append(
                Chase(
                    message_id=mid,
                    receipt_id=rid,
                    post_id=pid,
                    next_due_at=at,
                    step=used,
                    reminders=used,
                )
            )
        Chase.objects.bulk_create(rows, batch_size=2000)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE messaging_chase")


def baseline(now: datetime) -> tuple[float, int]:
    """The least any sweep must do: find the due active chases, write each one's next step."""
    from django.db import transaction

    from messaging.models import Chase

    started = time.perf_counter()
    with transaction.atomic():
        rows = list(
            Chase.objects.select_for_update()
            .filter(state=Chase.State.ACTIVE, next_due_at__lte=now)
            .order_by("next_due_at")
        )
        for chase in rows:
            chase.step += 1
            chase.reminders += 1
            chase.next_due_at = now + timedelta(seconds=120)
        Chase.objects.bulk_update(rows, ["step", "reminders", "next_due_at"], batch_size=1000)
    return time.perf_counter() - started, len(rows)


def floor(now: datetime) -> tuple[float, int]:
    """A lower floor still: the due ids, then one UPDATE for them all (no per-row values)."""
    from django.db import transaction
    from django.db.models import F

    from messaging.models import Chase

    started = time.perf_counter()
    with transaction.atomic():
        ids = list(
            Chase.objects.select_for_update()
            .filter(state=Chase.State.ACTIVE, next_due_at__lte=now)
            .values_list("id", flat=True)
        )
        for i in range(0, len(ids), 1000):
            Chase.objects.filter(id__in=ids[i : i + 1000]).update(
                step=F("step") + 1,
                reminders=F("reminders") + 1,
                next_due_at=now + timedelta(seconds=120),
            )
    return time.perf_counter() - started, len(ids)


def sweep(now: datetime, profile: cProfile.Profile | None = None) -> tuple[float, object]:
    from messaging.escalation import escalation_sweep

    started = time.perf_counter()
    if profile is not None:
        profile.enable()
    result = escalation_sweep(now=now)
    if profile is not None:
        profile.disable()
    return time.perf_counter() - started, result


def run_case(world: World, label: str, due: set[int], repeat: int, profile: bool) -> dict:
    sweeps, bases, floors, result = [], [], [], None
    for _ in range(repeat):
        reset(world, due)
        seconds, count = floor(world.now)
        assert count == len(due), (count, len(due))
        floors.append(seconds)
        reset(world, due)
        seconds, count = baseline(world.now)
        assert count == len(due), (count, len(due))
        bases.append(seconds)
        reset(world, due)
        seconds, result = sweep(world.now)
        assert result.processed == len(due), (result.processed, len(due))
        sweeps.append(seconds)
    prof_text = ""
    if profile and due:
        reset(world, due)
        prof = cProfile.Profile()
        sweep(world.now, prof)
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(28)
        prof_text = out.getvalue()
    t, b = statistics.median(sweeps), statistics.median(bases)
    print(f"  {label}: sweep {t:.3f}s, baseline {b:.3f}s", flush=True)
    return {
        "label": label,
        "due": len(due),
        "sweep": t,
        "sweep_max": max(sweeps),
        "base": b,
        "floor": statistics.median(floors),
        "result": result,
        "profile": prof_text,
    }


def live(world: World, var_dir: Path, due_count: int, interval: float, wait: float) -> dict | None:
    """A real Celery worker with embedded beat sweeping every ``interval`` s; chases fall due
    over the next 30 s; record when each chase's first notification becomes visible."""
    from django.conf import settings
    from django.db import connection
    from django.utils import timezone

    from messaging.models import Chase
    from notifications.models import Notification

    world.now = timezone.now() + timedelta(days=1)  # nothing due while the worker starts
    reset(world, set())
    env = dict(
        os.environ,
        HONBU_VAR_DIR=str(var_dir),
        HONBU_SWEEP_SECONDS=str(interval),
        DJANGO_SETTINGS_MODULE="config.settings.local",
        DJANGO_DEBUG="0",
    )
    if connection.vendor == "postgresql":
        s = settings.DATABASES["default"]
        password = f":{s['PASSWORD']}" if s["PASSWORD"] else ""
        env["DATABASE_URL"] = (
            f"postgres://{s['USER']}{password}"
            f"@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"
        )
    log = open(var_dir / "celery.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/celery"),
            "-A",
            "config.celery_app",
            "worker",
            "--beat",
            "--concurrency",
            "2",
            "-l",
            "info",
            "-s",
            str(var_dir / "beat-schedule"),
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        time.sleep(8)  # worker + beat up; the first sweeps run with nothing due
        if proc.poll() is not None:
            print(f"live: the worker exited ({proc.returncode}); see {var_dir / 'celery.log'}")
            return None
        start = timezone.now()
        ids = list(Chase.objects.order_by("id").values_list("id", flat=True))
        rng = random.Random(2)
        chosen = rng.sample(ids, due_count)
        due_at = {}
        for cid in chosen:
            due_at[cid] = start + timedelta(seconds=rng.uniform(0, 30))
        rows = [Chase(id=cid, next_due_at=at) for cid, at in due_at.items()]
        Chase.objects.bulk_update(rows, ["next_due_at"], batch_size=2000)
        seen: dict[int, datetime] = {}
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and len(seen) < len(due_at):
            visible = timezone.now()
            for cid in (
                Notification.objects.filter(data__chase__in=list(due_at))
                .exclude(data__chase__in=list(seen))
                .values_list("data__chase", flat=True)
                .distinct()
            ):
                seen.setdefault(cid, visible)
            time.sleep(0.5)
        late_created = sorted(
            (n_created - due_at[cid]).total_seconds()
            for cid, n_created in Notification.objects.filter(
                data__chase__in=list(due_at), data__step__gt=0
            ).values_list("data__chase", "created_at")
        )
        late_visible = sorted((seen[cid] - due_at[cid]).total_seconds() for cid in seen)
        return {
            "due": len(due_at),
            "fired": len(seen),
            "created": late_created,
            "visible": late_visible,
        }
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def report(cases: list[dict], vendor: str, interval: float, total: int) -> None:
    print(
        f"\n{vendor}, {total:,} outstanding chases, beat every {interval:g} s "
        f"(median of repeats; baseline = SELECT due active … FOR UPDATE + bulk_update; "
        "floor = the same SELECT + one UPDATE … WHERE id IN per 1,000)"
    )
    print(
        "| case | due | sweep s | max s | steps/s | baseline s | × baseline | floor s | × floor "
        "| reminders | escalations | worst lateness s | ≤ 1 s | ≤ 60 s |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
    for c in cases:
        r = c["result"]
        rate = f"{c['due'] / c['sweep']:,.0f}" if c["due"] else "–"
        ratio = c["sweep"] / c["base"] if c["base"] else float("nan")
        lateness = interval + c["sweep_max"]
        fratio = c["sweep"] / c["floor"] if c["floor"] else float("nan")
        print(
            f"| {c['label']} | {c['due']:,} | {c['sweep']:.3f} | {c['sweep_max']:.3f} | {rate} "
            f"| {c['base']:.3f} | {ratio:.1f}× | {c['floor']:.3f} | {fratio:.1f}× "
            f"| {r.reminders:,} | {r.escalations:,} "
            f"| {lateness:.1f} | {'PASS' if c['sweep'] <= SWEEP_TARGET_S else 'MISS'} "
            f"| {'PASS' if lateness <= LATENESS_TARGET_S else 'MISS'} |"
        )
    print(
        "worst lateness = beat interval + slowest sweep (a chase falls due just after a sweep "
        "started; the next one starts an interval later and commits its batch at the end). "
        "If a sweep outlasts the interval, beat queues further sweeps that skip locked rows."
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instructions", type=int, default=15)
    parser.add_argument("--recipients", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--due-fraction", type=float, default=0.10)
    parser.add_argument("--profile", action="store_true", help="print a cProfile of the sweeps")
    parser.add_argument(
        "--live",
        action="store_true",
        help="also run a real Celery worker + beat and measure lateness",
    )
    parser.add_argument("--live-due", type=int, default=3000)
    parser.add_argument("--live-only", action="store_true", help="skip the timed sweeps")
    parser.add_argument("--live-wait", type=float, default=120.0)
    args = parser.parse_args()

    with throwaway_database(name=f"honbu_bench_escalation_{os.getpid()}") as var_dir:
        from django.conf import settings
        from django.db import connection

        world = build(args.instructions, args.recipients)
        total = len(world.chases)
        rng = random.Random(0)
        cases = (
            []
            if args.live_only
            else [
                run_case(world, "none due (steady state)", set(), max(10, args.repeat * 5), False),
                run_case(
                    world,
                    f"{args.due_fraction:.0%} due",
                    set(rng.sample(range(total), int(total * args.due_fraction))),
                    args.repeat,
                    args.profile,
                ),
                run_case(
                    world, "all due (worst case)", set(range(total)), args.repeat, args.profile
                ),
            ]
        )
        interval = float(settings.HONBU_SWEEP_SECONDS)
        if cases:
            report(cases, connection.vendor, interval, total)
        for c in cases:
            if c["profile"]:
                print(f"\ncProfile of one sweep, {c['label']} (cumulative):")
                print(c["profile"])
        if args.live or args.live_only:
            print(
                f"\nlive: Celery worker (2 processes) + beat every 15 s, {args.live_due:,} "
                "chases falling due over 30 s ..."
            )
            got = live(world, var_dir, args.live_due, 15.0, wait=args.live_wait)
            if got:
                late = got["visible"] or [float("nan")]
                created = got["created"] or [float("nan")]
                worst = max(late)
                ok = got["fired"] == got["due"] and worst <= LATENESS_TARGET_S
                print(
                    "| fired | lateness at sweep start p50 / max s | visible (committed) "
                    "p50 / p95 / max s | ≤ 60 s |"
                )
                print("|---:|---|---|---|")
                print(
                    f"| {got['fired']:,} / {got['due']:,} | {statistics.median(created):.1f} / "
                    f"{max(created):.1f} | {statistics.median(late):.1f} / "
                    f"{late[min(len(late) - 1, round(0.95 * (len(late) - 1)))]:.1f} / "
                    f"{worst:.1f} | "
                    f"{'PASS' if ok else 'MISS'} |"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
