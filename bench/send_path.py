"""The send path, server side: ``.venv/bin/python bench/send_path.py [--recipients 200 2000]
[--sends 8]``.

Times ``messaging.services.message_send`` of an urgent instruction asking for 了解 (so it writes
a receipt and a chase per recipient) into a group of N members, split into its parts: the
recipient select, the receipts INSERT, the chases INSERT, the COMMIT, and the rest (locking
the group, the message row and its first version, the policy, the event). The broadcast waits
for all of it (events go out after commit).

Variants, in the same run, on the same database:

- ``as is``: what the server does;
- ``FK checks off``: the same with PostgreSQL's foreign-key triggers disabled for this session
  (``session_replication_role = replica``) — the difference is what checking the foreign keys
  of the receipt and chase rows costs (Django creates them DEFERRABLE INITIALLY DEFERRED, so
  the checks run at COMMIT);
- ``message only``: the same send with no recipients — what a transaction holding only the
  message row and its sequence number would cost before a broadcast.

Never touches your data: a throwaway database (bench/_throwaway.py) — PostgreSQL when
DATABASE_URL is set, else SQLite in a temporary directory. Bounded: ``--sends`` per variant.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _throwaway import throwaway_database  # noqa: E402

PARTS = ["recipient select", "receipts insert", "chases insert", "COMMIT", "after commit"]


@contextmanager
def timed_parts(times: dict[str, float]):
    """Wrap the send path's parts with timers (the same functions the service calls)."""
    from django.db import connection

    import messaging.escalation as escalation
    import messaging.selectors as selectors
    import messaging.services.messages as messages

    originals = (
        selectors.group_recipients,
        messages.receipts_insert,
        escalation.chases_insert,
    )

    def wrap(name, fn):
        def timed(*args, **kwargs):
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                times[name] += time.perf_counter() - t

        return timed

    selectors.group_recipients = wrap("recipient select", originals[0])
    messages.receipts_insert = wrap("receipts insert", originals[1])
    escalation.chases_insert = wrap("chases insert", originals[2])
    connection.commit = wrap("COMMIT", connection.commit)
    # The events and the alert task, queued with on_commit (the broadcast itself)
    connection.run_and_clear_commit_hooks = wrap(
        "after commit", connection.run_and_clear_commit_hooks
    )
    try:
        yield
    finally:
        (selectors.group_recipients, messages.receipts_insert, escalation.chases_insert) = originals
        del connection.commit
        del connection.run_and_clear_commit_hooks


def run_sends(group_id: int, sender_id: int, sends: int, *, empty: bool = False) -> dict:
    from directory.models import User
    from messaging import selectors, services
    from messaging.models import CommandGroup

    group, sender = CommandGroup.objects.get(pk=group_id), User.objects.get(pk=sender_id)
    rows = []
    original = selectors.group_recipients
    if empty:
        selectors.group_recipients = lambda **kw: {}
    try:
        for n in range(sends + 1):  # the first is a warm-up
            times: dict[str, float] = defaultdict(float)
            with timed_parts(times):
                t = time.perf_counter()
                services.message_send(
                    group=group,
                    sender=sender,
                    body=f"【指示 {n}】各区本部は避難所の開設状況を報告してください。",
                    client_id=uuid.uuid4(),
                    kind="instruction",
                    priority="urgent",
                    requires_ack=True,
                )
                times["total"] = time.perf_counter() - t
            if n:
                rows.append(times)
    finally:
        selectors.group_recipients = original
    return {k: statistics.median(r[k] for r in rows) * 1000 for k in ["total", *PARTS]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, nargs="+", default=[200, 2000])
    parser.add_argument("--sends", type=int, default=8)
    args = parser.parse_args()
    with throwaway_database(name="test_honbu_ack_send_path"):
        import fanout
        from django.db import connection

        print(f"load average {os.getloadavg()[0]:.1f}; database {connection.vendor}")
        seeded = fanout.seed(max(args.recipients) + 1)
        from directory.models import Staff

        sender_id = Staff.objects.get(pk=seeded.staff_ids[0]).user_id
        print(
            "| recipients | variant | total ms | recipient select | receipts insert "
            "| chases insert | COMMIT | after commit (events) | the rest |"
        )
        print("|---:|---|---:|---:|---:|---:|---:|---:|---:|")
        for n in args.recipients:
            group_id = fanout.make_group(seeded, n + 1)
            variants = [("as is", {}, False)]
            if connection.vendor == "postgresql":
                variants.append(("FK checks off", {"session_replication_role": "replica"}, False))
            variants.append(("message only", {}, True))
            for name, settings, empty in variants:
                with connection.cursor() as cur:
                    for key, value in settings.items():
                        cur.execute(f"SET {key} = {value}")
                r = run_sends(group_id, sender_id, args.sends, empty=empty)
                with connection.cursor() as cur:
                    for key in settings:
                        cur.execute(f"RESET {key}")
                rest = r["total"] - sum(r[p] for p in PARTS)
                print(
                    f"| {n:,} | {name} | {r['total']:.1f} | {r['recipient select']:.1f} "
                    f"| {r['receipts insert']:.1f} | {r['chases insert']:.1f} "
                    f"| {r['COMMIT']:.1f} | {r['after commit']:.1f} | {rest:.1f} |",
                    flush=True,
                )
        print(f"load average after {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
