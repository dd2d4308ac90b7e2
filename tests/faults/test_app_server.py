"""Drill: kill -9 one of the two app servers while 500 phones (200 by default in the suite:
HONBU_DRILL_PHONES) are connected through nginx and the mayor is sending instructions. The
phones on the dead server reconnect (backoff and jitter) through nginx to the other one and
catch up by sequence number; the mayor's outbox sends again what had no answer. The checker
finds 0 lost and 0 duplicated (docs/reliability.md)."""

from __future__ import annotations

import asyncio
import statistics
import time

import pytest

from tests.faults import checker
from tests.faults.clients import Phone, connect_all, stop_all, wait_until
from tests.faults.conftest import PHONES, make_city, sockets_on

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(400)]

INSTRUCTIONS = 20
KILL_AFTER = 6  # instructions sent before web1 is killed
EVERY = 0.2  # seconds between instructions


async def _drill(stack, city, phones: list[Phone], mayor: Phone, notes: list[str]) -> None:
    t0 = time.monotonic()
    await connect_all([mayor, *phones])
    web1, web2 = stack.processes["web1"], stack.processes["web2"]
    before = sockets_on(web1.port), sockets_on(web2.port)
    notes.append(
        f"{len(phones) + 1} phones connected in {time.monotonic() - t0:.1f} s: "
        f"web1 {before[0]}, web2 {before[1]} sockets"
    )
    assert before[0] > 0 and before[1] > 0, "nginx did not spread the sockets"
    gid = city.group.pk
    for i in range(INSTRUCTIONS):
        if i == KILL_AFTER:
            stack.kill("web1")  # SIGKILL, mid-stream
            killed_at = time.monotonic()
            notes.append(f"web1 killed (kill -9) after instruction {i}")
        await mayor.instruct(gid, f"【指示{i + 1:02d}】避難所の開設状況を報告してください")
        await asyncio.sleep(EVERY)
    assert await wait_until(lambda: not mayor.outbox, timeout=120), "instructions never answered"
    last = {gid: max(s["seq"] for s in mayor.sent.values())}
    everyone = [mayor, *phones]
    caught = await wait_until(lambda: all(p.caught_up(last) for p in everyone), timeout=120)
    caught_at = time.monotonic() - killed_at
    # every read confirmed (the checker then finds each stored)
    read_wait = time.monotonic()
    reads_done = await wait_until(lambda: all(p.read_confirmed(last) for p in phones), timeout=180)
    notes.append(
        f"reads all confirmed: {reads_done}, {time.monotonic() - read_wait:.1f} s after that"
    )
    errors = [e for p in everyone for e in p.errors]
    assert errors == [], errors[:5]
    moved = [p for p in everyone if p.connects > 1]
    delays = [d for p in moved for d in p.delays]
    notes.append(
        f"{len(moved)} phones reconnected (to web2: {sockets_on(web2.port)} sockets); all "
        f"caught up {caught_at:.1f} s after the kill; first reconnect waits "
        f"{min(delays):.2f}–{max(delays):.2f} s (median {statistics.median(delays):.2f})"
        if moved and caught
        else f"caught up: {caught}; reconnected: {len(moved)}"
    )
    await stop_all(everyone)


def test_an_app_server_killed_under_the_phones_loses_and_duplicates_nothing(stack_factory, capsys):
    # Given PHONES members (and the mayor) with their pages open through nginx in front of two
    # app servers
    city = make_city(PHONES)
    with stack_factory() as stack:
        url = stack.url.replace("http://", "ws://") + "/ws/"
        phones = [Phone(url, city.sessions[u.pk], u.pk, [city.group.pk]) for u in city.members]
        mayor = Phone(url, city.sessions[city.mayor.pk], city.mayor.pk, [city.group.pk])
        for p in [mayor, *phones]:
            p.first_seq = {city.group.pk: 0}
        notes: list[str] = []
        # When web1 is killed -9 while the mayor sends 20 instructions
        asyncio.run(_drill(stack, city, phones, mayor, notes))

    # Then every instruction is stored once, reached every phone once, every read is stored
    report = checker.Report(notes=notes)
    checker.check_messages(
        report, [mayor, *phones], groups=[city.group.pk], intended=dict.fromkeys(mayor.sent, 1)
    )
    checker.check_receipts(report, phones, groups=[city.group.pk])
    with capsys.disabled():
        print("\n" + report.table())
    assert len(mayor.sent) == INSTRUCTIONS
    assert any(p.connects > 1 for p in phones), "nobody was on the killed server"
    report.assert_clean()
