"""Drill: Redis (the stack's own server, no persistence) killed -9 and started again while the
mayor is sending instructions and the escalation sweep is firing reminders every second. Redis
holds nothing that cannot be lost: the events published meanwhile are gone, the queue is empty,
the layer's subscriptions come back by themselves. The servers close their sockets when Redis is
back (realtime/watch.py), the phones reconnect and catch up from the database — messages by
sequence number, in-app notifications after the last they knew — and every escalation step
fires exactly once (docs/reliability.md)."""

from __future__ import annotations

import asyncio
import time

import pytest
from asgiref.sync import sync_to_async

from messaging.models import Chase, Message
from notifications.models import Notification
from tests.faults import checker
from tests.faults.clients import Phone, connect_all, stop_all, wait_until
from tests.faults.conftest import make_city

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(300)]

MEMBERS = 40
# Every member is reminded twice... three times in all, 2 s apart, then unreached (no 了解).
POLICY = {
    "first_after": 2,
    "repeat_every": 2,
    "repeat_count": 2,
    "deputy_wait": 2,
    "use_deputies": False,
    "stop_on": "ack",
    "enabled": True,
}
BEFORE, DURING, AFTER = 4, 3, 3  # instructions before, while Redis is away, after
CHANNELS = 2  # in-app and push (these members have no e-mail address)


def _active_chases() -> int:
    return Chase.objects.filter(state=Chase.State.ACTIVE).count()


def _reminders() -> int:
    return Notification.objects.filter(kind="reminder", channel="inapp").count()


async def _drill(stack, city, phones: list[Phone], mayor: Phone, notes: list[str]) -> None:
    everyone = [mayor, *phones]
    await connect_all(everyone)
    gid = city.group.pk

    async def instruct(n: int, label: str) -> None:
        for i in range(n):
            await mayor.instruct(
                gid,
                f"【{label}{i + 1}】給水所の状況を報告し、了解を押してください",
                requires_ack=True,
                priority="important",
                escalation=POLICY,
            )
            await asyncio.sleep(0.3)

    await instruct(BEFORE, "前")
    # The sweep is firing reminders: wait for the first ones to reach a phone.
    assert await wait_until(lambda: any(p.reminders for p in phones), timeout=60)
    reminders = await sync_to_async(_reminders)()
    stack.kill("redis")  # kill -9: every event in flight, the queue and the clock offset gone
    killed = time.monotonic()
    notes.append(f"Redis killed -9 with {reminders} reminders fired so far, sweeps due")
    await instruct(DURING, "中")  # stored; their live events go nowhere
    stack.start_process("redis")
    notes.append(f"Redis back after {time.monotonic() - killed:.1f} s (empty)")
    await instruct(AFTER, "後")

    assert await wait_until(lambda: not mayor.outbox, timeout=60), "instructions never answered"
    last = {gid: max(s["seq"] for s in mayor.sent.values())}
    caught = await wait_until(lambda: all(p.caught_up(last) for p in everyone), timeout=60)
    notes.append(f"phones caught up: {caught}, {time.monotonic() - killed:.1f} s after the kill")
    for p in everyone:
        if not p.caught_up(last):
            notes.append(
                f"behind: user {p.user_id} cursor {p.last_seq} syncing {p._syncing} "
                f"connects {p.connects} seen {sorted({(x.conn, x.how, x.seq) for x in p.seen})}"
            )

    # Every chase runs to its end (three reminders, then unreached) on the restarted Redis.
    async def chases_done() -> bool:
        return await sync_to_async(_active_chases)() == 0

    deadline = time.monotonic() + 90
    while not await chases_done() and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
    # the last reminders' events (or their catch-up after a restart) reach the phones
    total = await sync_to_async(_reminders)()
    await wait_until(lambda: sum(len(p.reminders) for p in phones) >= total, timeout=30)
    await asyncio.sleep(1.0)
    moved = [p for p in everyone if p.connects > 1]
    notes.append(
        f"{len(moved)} of {len(everyone)} phones reconnected (sockets closed 1012 when Redis "
        f"came back); reminders shown: {sum(len(p.reminders) for p in phones)} of {total}; "
        f"arrived twice (live and caught up) and shown once: {sum(p.suppressed for p in phones)}"
    )
    await stop_all(everyone)


def test_redis_restarted_mid_broadcast_and_mid_sweep_loses_and_duplicates_nothing(
    stack_factory, capsys
):
    city = make_city(MEMBERS, emails=False)
    with stack_factory(redis_url="own") as stack:
        url = stack.url.replace("http://", "ws://") + "/ws/"
        phones = [Phone(url, city.sessions[u.pk], u.pk, [city.group.pk]) for u in city.members]
        mayor = Phone(url, city.sessions[city.mayor.pk], city.mayor.pk, [city.group.pk])
        for p in [mayor, *phones]:
            p.first_seq = {city.group.pk: 0}
        notes: list[str] = []
        asyncio.run(_drill(stack, city, phones, mayor, notes))
        restarts = stack.tail("web1", 200).count("Redis is back") + stack.tail("web2", 200).count(
            "Redis is back"
        )
        notes.append(f"server processes that restarted their sockets: {restarts}")

    report = checker.Report(notes=notes)
    groups = [city.group.pk]
    checker.check_messages(
        report, [mayor, *phones], groups=groups, intended=dict.fromkeys(mayor.sent, 1)
    )
    checker.check_receipts(report, phones, groups=groups)
    instructions = list(Message.objects.filter(group=city.group).values_list("pk", flat=True))
    checker.check_chases(report, messages=instructions, channels=CHANNELS)
    checker.check_inapp(report, phones, kinds=["reminder"])
    with capsys.disabled():
        print("\n" + report.table())
    assert len(mayor.sent) == BEFORE + DURING + AFTER
    report.assert_clean()
