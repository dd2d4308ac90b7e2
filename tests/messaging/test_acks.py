"""了解 in batches (issue 14): many members tapping at once over the real websocket stack are
written together, each exactly once with its own time, each answered, each chase stopped, and
the commander's count reaches the total; refusals change nothing; the query count does not grow
with the batch."""

import asyncio
import uuid

import pytest
from asgiref.sync import sync_to_async
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils import timezone

from messaging import services
from messaging.models import Chase, CommandGroup, GroupMembership, Receipt
from realtime import batching
from tests.factories import PostFactory
from tests.messaging.conftest import make_member
from tests.messaging.test_consumers import connect, frames_until

URGENT = {"kind": "instruction", "priority": "urgent", "requires_ack": True}


def _burst_group(members: int):
    """A commander, ``members`` members addressed through their posts, an observer, and a
    member of the group who is the sender of nothing; an outsider in no group."""
    group = services.group_create(
        name="大規模本部", kind=CommandGroup.Kind.HEADQUARTERS, actor=None
    )
    commander = make_member()
    services.group_add_member(
        group=group, post=PostFactory(holder=commander.staff), role="commander", actor=None
    )
    users = [make_member() for _ in range(members)]
    for user in users:
        services.group_add_member(group=group, post=PostFactory(holder=user.staff), actor=None)
    observer, outsider = make_member(), make_member()
    services.group_add_member(
        group=group, staff=observer.staff, role=GroupMembership.Role.OBSERVER, actor=None
    )
    message = services.message_send(
        group=group, sender=commander, body="全員参集", client_id=uuid.uuid4(), **URGENT
    ).message
    return group, commander, users, observer, outsider, message


def _ack_state(message) -> dict:
    return {
        r.user_id: (r.read_at, r.acked_at)
        for r in Receipt.objects.filter(message=message).only("user_id", "read_at", "acked_at")
    }


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(120)
async def test_many_sockets_tap_at_once_each_stored_once_answered_and_chase_stopped(monkeypatch):
    # Given an urgent instruction to 40 members, each on their own socket, and its commander
    members = 40
    group, commander, users, observer, outsider, message = await sync_to_async(_burst_group)(
        members
    )
    assert await sync_to_async(Chase.objects.filter(message=message, state="active").count)() == 40
    batches: list[int] = []
    write = services.receipts_acknowledge_bulk

    def counting_write(*, items):
        batches.append(len(items))
        return write(items=items)

    monkeypatch.setattr(services, "receipts_acknowledge_bulk", counting_write)
    boss = await connect(commander)
    socks = [await connect(u) for u in users]
    watcher, stranger = await connect(observer), await connect(outsider)
    try:
        # When all of them tap 了解 at once, ten of them twice (a double tap), and the observer
        # and someone outside the group tap too
        before = timezone.now()
        frames = [
            (s, {"type": "ack", "message": message.pk, "ref": f"a{n}"}) for n, s in enumerate(socks)
        ]
        frames += [
            (s, {"type": "ack", "message": message.pk, "ref": f"b{n}"})
            for n, s in enumerate(socks[:10])
        ]
        frames += [(watcher, {"type": "ack", "message": message.pk, "ref": "obs"})]
        frames += [(stranger, {"type": "ack", "message": message.pk, "ref": "out"})]
        await asyncio.gather(*(s.send_json_to(f) for s, f in frames))

        # Then every tap is answered, the double taps too (the second changes nothing)
        async def answers(sock, wanted: int) -> list[dict]:
            got = []
            while len(got) < wanted:
                frame = await sock.receive_json_from(timeout=20)
                if frame["type"] in ("ack_ok", "error"):
                    got.append(frame)
            return got

        got = await asyncio.gather(*(answers(s, 2 if n < 10 else 1) for n, s in enumerate(socks)))
        after = timezone.now()
        for n, frames_of_one in enumerate(got):
            assert {f["type"] for f in frames_of_one} == {"ack_ok"}
            assert sorted(f["ref"] for f in frames_of_one) == sorted(
                [f"a{n}", f"b{n}"] if n < 10 else [f"a{n}"]
            )
            assert all(f["message"] == message.pk for f in frames_of_one)
        # The observer and the outsider get an error and change nothing
        refused, _ = await frames_until(watcher, "error", timeout=20)
        assert (refused["code"], refused["ref"]) == ("forbidden", "obs")
        refused, _ = await frames_until(stranger, "error", timeout=20)
        assert (refused["code"], refused["ref"]) == ("not_found", "out")

        # Each receipt is acknowledged exactly once, at the time its tap arrived, read too
        state = await sync_to_async(_ack_state)(message)
        for user in users:
            read_at, acked_at = state[user.pk]
            assert before <= acked_at <= after and read_at == acked_at
        assert state[observer.pk] == (None, None)
        assert outsider.pk not in state
        # Every chase stopped, covered by the person at the time of their 了解
        chases = await sync_to_async(list)(
            Chase.objects.filter(message=message).values_list(
                "receipt__user_id", "state", "covered_by_id", "covered_at", "receipt__acked_at"
            )
        )
        assert len(chases) == 40
        for user_id, chase_state, covered_by, covered_at, acked_at in chases:
            assert (chase_state, covered_by, covered_at) == ("covered", user_id, acked_at)
        # Written in batches, not one transaction per tap
        assert sum(batches) == members + 10 + 2 and len(batches) < members
        # And the commander's page reaches the final count
        counts = None
        while counts is None or counts["acked"] < members:
            frame, _ = await frames_until(boss, "receipt.counts", timeout=20)
            counts = frame["counts"][0]
        assert counts == {
            "message": message.pk,
            "total": members,
            "read": members,
            "acked": members,
        }

        # When they tap again later, nothing changes
        again = socks[0]
        await again.send_json_to({"type": "ack", "message": message.pk, "ref": "again"})
        answer, _ = await frames_until(again, "ack_ok", timeout=20)
        assert answer["ref"] == "again"
        assert await sync_to_async(_ack_state)(message) == state
    finally:
        for sock in [boss, *socks, watcher, stranger]:
            await sock.disconnect()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_batch_that_fails_answers_with_an_error_and_the_page_may_resend(hq, monkeypatch):
    """If the batch is not written, nobody in it gets ack_ok (their page keeps the tap and
    sends it again) and nothing is stored; the resend then goes through."""
    message = await sync_to_async(services.message_send)(
        group=hq.group, sender=hq.mayor, body="参集", client_id=uuid.uuid4(), **URGENT
    )
    message = message.message
    write = services.receipts_acknowledge_bulk
    failing = {"on": True}

    def flaky(*, items):
        if failing["on"]:
            raise RuntimeError("the database went away")
        return write(items=items)

    monkeypatch.setattr(services, "receipts_acknowledge_bulk", flaky)
    ward = await connect(hq.ward_head)
    try:
        await ward.send_json_to({"type": "ack", "message": message.pk, "ref": 1})
        error, skipped = await frames_until(ward, "error")
        assert (error["code"], error["ref"]) == ("server_error", 1)
        assert "ack_ok" not in {f["type"] for f in skipped}
        assert (await sync_to_async(_ack_state)(message))[hq.ward_head.pk] == (None, None)

        failing["on"] = False
        await ward.send_json_to({"type": "ack", "message": message.pk, "ref": 2})
        ok, _ = await frames_until(ward, "ack_ok")
        assert ok["ref"] == 2
        assert (await sync_to_async(_ack_state)(message))[hq.ward_head.pk][1] is not None
    finally:
        await ward.disconnect()


# --- the service ----------------------------------------------------------------------------
# SELECT the receipts, UPDATE them, UPDATE their chases, the readers' unread counts; inside a
# savepoint (and its release) in a test's transaction. The same however many tap at once.
ACK_BATCH_QUERIES = 6


@pytest.mark.parametrize("tapping", [3, 30])
def test_ack_batch_query_count_does_not_grow_with_the_batch(db, tapping, django_assert_num_queries):
    group, commander, users, observer, outsider, message = _burst_group(30)
    now = timezone.now()
    items = [
        services.AckItem(user_id=u.pk, message_id=message.pk, at=now, group_ids={group.pk})
        for u in users[:tapping]
    ]

    with django_assert_num_queries(ACK_BATCH_QUERIES):
        results = services.receipts_acknowledge_bulk(items=items)

    assert results == [None] * tapping
    assert Receipt.objects.filter(message=message, acked_at=now).count() == tapping
    assert Chase.objects.filter(message=message, state="covered", covered_at=now).count() == tapping
    # A second batch of the same taps: one SELECT, nothing written
    with django_assert_num_queries(3):
        assert services.receipts_acknowledge_bulk(items=items) == [None] * tapping
    assert Receipt.objects.filter(message=message, acked_at=now).count() == tapping


def test_ack_batch_checks_each_item_and_refusals_change_nothing(hq):
    instruction = services.message_send(
        group=hq.group, sender=hq.mayor, body="参集", client_id=uuid.uuid4(), **URGENT
    ).message
    plain = services.message_send(
        group=hq.group, sender=hq.mayor, body="連絡", client_id=uuid.uuid4()
    ).message
    gone = services.message_send(
        group=hq.group, sender=hq.mayor, body="取消", client_id=uuid.uuid4(), **URGENT
    ).message
    services.message_delete(message=gone, actor=hq.mayor)
    members = {hq.group.pk}
    t1 = timezone.now()
    t2 = t1 + timezone.timedelta(milliseconds=7)

    def item(user, message, at=t1, groups=members):
        return services.AckItem(user_id=user.pk, message_id=message.pk, at=at, group_ids=groups)

    before = {m.pk: _ack_state(m) for m in (instruction, plain, gone)}
    results = services.receipts_acknowledge_bulk(
        items=[
            item(hq.observer, instruction),  # an observer receives but does not acknowledge
            item(hq.outsider, instruction, groups=set()),  # not a member: no such message
            item(hq.ward_head, instruction, groups=set()),  # removed from the group since
            item(hq.mayor, instruction),  # the sender was not addressed
            item(hq.ward_head, plain),  # nothing to acknowledge
            item(hq.ward_head, gone),  # deleted
            services.AckItem(
                user_id=hq.ward_head.pk, message_id=10**9, at=t1, group_ids=members
            ),  # no such message
            item(hq.bureau_head, instruction, at=t1),
            item(hq.bureau_head, instruction, at=t2),  # a double tap: the first time stays
        ]
    )

    A = services.AckRefused
    assert results == [
        A.OBSERVER,
        A.NOT_FOUND,
        A.NOT_FOUND,
        A.NOT_RECIPIENT,
        A.NOT_REQUESTED,
        A.DELETED,
        A.NOT_FOUND,
        None,
        None,
    ]
    after = {m.pk: _ack_state(m) for m in (instruction, plain, gone)}
    before[instruction.pk][hq.bureau_head.pk] = (t1, t1)
    assert after == before


def test_observer_cannot_acknowledge_over_http_either(hq, client):
    instruction = services.message_send(
        group=hq.group, sender=hq.mayor, body="参集", client_id=uuid.uuid4(), **URGENT
    ).message
    with pytest.raises(PermissionDenied):
        services.receipt_acknowledge(user=hq.observer, message=instruction)

    client.force_login(hq.observer)
    page = client.get(reverse("messaging:group_detail", args=[hq.group.pk]))
    answer = client.post(reverse("messaging:message_ack", args=[instruction.pk]))

    assert page.context["pending_ack_json"] == []  # no 了解 button for them
    assert answer.status_code == 403
    assert answer.json()["error"] == str(services.ERR_OBSERVER_ACK)
    assert _ack_state(instruction)[hq.observer.pk] == (None, None)
    client.force_login(hq.ward_head)
    page = client.get(reverse("messaging:group_detail", args=[hq.group.pk]))
    assert page.context["pending_ack_json"] == [instruction.pk]


def test_batcher_hands_each_item_its_own_result():
    async def run():
        b = batching.Batcher(lambda items: [i * 2 for i in items], seconds=0.01)
        return await asyncio.gather(*(b.add(i) for i in range(5)))

    assert asyncio.run(run()) == [0, 2, 4, 6, 8]
