"""The websocket, through the real ASGI stack (Origin check, session auth) and the Redis
channel layer: live delivery, non-members get nothing, catch-up, duplicates, bad frames."""

import json
import uuid

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore

from config.asgi import application
from messaging import services
from messaging.models import Message, Receipt
from realtime import consumers

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]
ORIGIN = (b"origin", b"http://testserver")


@sync_to_async
def session_cookie(user) -> bytes:
    store = SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.save()
    return f"{settings.SESSION_COOKIE_NAME}={store.session_key}".encode()


async def connect(user, origin=ORIGIN) -> WebsocketCommunicator:
    headers = [origin] if origin else []
    if user is not None:
        headers.append((b"cookie", await session_cookie(user)))
    comm = WebsocketCommunicator(application, "/ws/", headers=headers)
    connected, _ = await comm.connect()
    assert connected
    hello = await comm.receive_json_from(timeout=5)
    assert hello["type"] == "hello"
    return comm


async def frames_until(comm, wanted: str, timeout=5):
    """Receive frames until one of type ``wanted``; return it and the ones skipped."""
    skipped = []
    while True:
        frame = await comm.receive_json_from(timeout=timeout)
        if frame["type"] == wanted:
            return frame, skipped
        skipped.append(frame)


def send_frame(group, body="避難所を開設", **extra):
    return {
        "type": "send",
        "group": group.pk,
        "client_id": str(uuid.uuid4()),
        "body": body,
        **extra,
    }


async def test_anonymous_and_foreign_origin_are_refused(hq, settings):
    comm = WebsocketCommunicator(application, "/ws/", headers=[ORIGIN])
    connected, code = await comm.connect()
    assert not connected and code == 4401
    await comm.disconnect()

    settings.ALLOWED_HOSTS = ["honbu.city.example.jp"]
    from config.asgi import websocket_application

    comm = WebsocketCommunicator(
        websocket_application(),
        "/ws/",
        headers=[
            (b"origin", b"https://evil.example.com"),
            (b"cookie", await session_cookie(hq.mayor)),
        ],
    )
    connected, _ = await comm.connect()
    assert not connected
    await comm.disconnect()


async def test_live_delivery_reaches_members_only(hq):
    mayor, ward, outsider = (
        await connect(hq.mayor),
        await connect(hq.ward_head),
        await connect(hq.outsider),
    )
    try:
        frame = send_frame(
            hq.group,
            kind="instruction",
            priority="urgent",
            requires_ack=True,
            body="住民を3階以上へ避難させてください",
        )
        await mayor.send_json_to(frame)
        sent, _ = await frames_until(mayor, "sent")
        assert sent["seq"] == 1 and sent["duplicate"] is False

        new, _ = await frames_until(ward, "message.new")
        assert new["message"]["seq"] == 1
        assert new["message"]["priority"] == "urgent" and new["message"]["requires_ack"] is True
        assert "3階以上" in new["message"]["html"]
        assert await outsider.receive_nothing(timeout=0.5)
    finally:
        for c in (mayor, ward, outsider):
            await c.disconnect()


async def test_duplicate_client_id_sends_once(hq):
    mayor, ward = await connect(hq.mayor), await connect(hq.ward_head)
    try:
        frame = send_frame(hq.group)
        await mayor.send_json_to(frame)
        first, _ = await frames_until(mayor, "sent")
        await mayor.send_json_to(frame)  # the phone retries after a timeout
        second, _ = await frames_until(mayor, "sent")
        assert first["id"] == second["id"] and second["duplicate"] is True
        await frames_until(ward, "message.new")
        assert await ward.receive_nothing(timeout=0.5)
        assert await sync_to_async(Message.objects.count)() == 1
    finally:
        await mayor.disconnect()
        await ward.disconnect()


async def test_reconnect_catches_up_on_missed_messages(hq):
    ward = await connect(hq.ward_head)
    await ward.disconnect()  # the phone drops off the network
    mayor = await connect(hq.mayor)
    try:
        for i in range(3):
            await mayor.send_json_to(send_frame(hq.group, body=f"第{i + 1}報"))
            await frames_until(mayor, "sent")
        ward = await connect(hq.ward_head)
        await ward.send_json_to({"type": "sync", "group": hq.group.pk, "after_seq": 1})
        history, _ = await frames_until(ward, "history")
        assert [m["seq"] for m in history["messages"]] == [2, 3]
        assert history["last_seq"] == 3 and history["more"] is False
    finally:
        await mayor.disconnect()
        await ward.disconnect()


async def test_read_and_ack_reach_the_commander_as_coalesced_counts(hq):
    mayor, ward = await connect(hq.mayor), await connect(hq.ward_head)
    try:
        await mayor.send_json_to(send_frame(hq.group, kind="instruction", requires_ack=True))
        sent, _ = await frames_until(mayor, "sent")
        await frames_until(ward, "message.new")
        await ward.send_json_to({"type": "read", "group": hq.group.pk, "up_to_seq": sent["seq"]})
        await ward.send_json_to({"type": "ack", "message": sent["id"]})
        await frames_until(ward, "ack_ok")
        # Both changes land within one flush window: usually one frame with read 1 / acked 1.
        counts = None
        while counts is None or counts["acked"] < 1:
            frame, _ = await frames_until(mayor, "receipt.counts")
            counts = frame["counts"][0]
        # Ward head and bureau head; the observer is not counted (issue 9).
        assert counts == {"message": sent["id"], "total": 2, "read": 1, "acked": 1}
    finally:
        await mayor.disconnect()
        await ward.disconnect()


async def test_non_member_actions_get_errors_and_change_nothing(hq):
    outsider, observer = await connect(hq.outsider), await connect(hq.observer)
    try:
        await outsider.send_json_to(send_frame(hq.group))
        err, _ = await frames_until(outsider, "error")
        assert err["code"] == "not_found"
        await outsider.send_json_to({"type": "sync", "group": hq.group.pk, "after_seq": 0})
        err, _ = await frames_until(outsider, "error")
        assert err["code"] == "not_found"
        await observer.send_json_to(send_frame(hq.group))
        err, _ = await frames_until(observer, "error")
        assert err["code"] == "forbidden"
        assert await sync_to_async(Message.objects.count)() == 0
    finally:
        await outsider.disconnect()
        await observer.disconnect()


@pytest.mark.parametrize(
    "raw, code",
    [
        ("not json at all", "malformed"),
        ("[1, 2, 3]", "malformed"),
        (json.dumps({"type": "teleport"}), "unknown_type"),
        (json.dumps({"type": "send", "group": "one", "client_id": "x"}), "bad_request"),
        (json.dumps({"type": "read", "group": -1, "up_to_seq": 1}), "bad_request"),
        (json.dumps({"type": "send", "body": "x" * (consumers.MAX_FRAME_BYTES + 1)}), "too_large"),
    ],
)
async def test_malformed_frames_get_an_error_frame_and_the_socket_survives(hq, raw, code):
    comm = await connect(hq.mayor)
    try:
        await comm.send_to(text_data=raw)
        err, _ = await frames_until(comm, "error")
        assert err["code"] == code and err["message"]
        await comm.send_json_to({"type": "ping", "ref": 7})
        pong, _ = await frames_until(comm, "pong")
        assert pong["ref"] == 7
        assert await sync_to_async(Message.objects.count)() == 0
    finally:
        await comm.disconnect()


@pytest.mark.parametrize(
    "raw, code",
    [
        (
            '{"type": "send", "group": GROUP, "client_id": "CID", "body": "a\\u0000b"}',
            "invalid_text",
        ),
        ('{"type": "send", "group": GROUP, "client_id": "CID", "body": "\\ud800"}', "invalid_text"),
        ("[" * 3000 + "]" * 3000, "too_deep"),
        ('{"type": "send", "x": ' + "[" * 20 + "]" * 20 + "}", "too_deep"),
    ],
)
async def test_unstorable_text_and_deep_nesting_get_a_specific_error_not_a_crash(hq, raw, code):
    """NUL, lone surrogates and deeply nested JSON (issue 13, item 6): a specific error code the
    page's outbox treats as final, no traceback, nothing stored, the socket carries on."""
    comm = await connect(hq.mayor)
    try:
        raw = raw.replace("GROUP", str(hq.group.pk)).replace("CID", str(uuid.uuid4()))
        await comm.send_to(text_data=raw)
        err, _ = await frames_until(comm, "error")
        assert err["code"] == code and err["message"]
        await comm.send_json_to({"type": "ping", "ref": 9})
        pong, _ = await frames_until(comm, "pong")
        assert pong["ref"] == 9
        assert await sync_to_async(Message.objects.count)() == 0
    finally:
        await comm.disconnect()


async def test_errors_are_translated_for_the_user(hq):
    from django.utils import translation

    comm = await connect(hq.mayor)  # Japanese by default
    try:
        await comm.send_to(text_data="{")
        err, _ = await frames_until(comm, "error")
        with translation.override("ja"):
            expected = str(consumers.ERR_MALFORMED)
        assert expected != "The frame is not valid JSON."  # a Japanese catalogue exists
        assert err["message"] == expected
    finally:
        await comm.disconnect()


async def test_signing_out_closes_that_sessions_websockets_only(hq):
    from django.test import Client

    browser = Client()
    await sync_to_async(browser.force_login)(hq.ward_head)
    cookie = f"{settings.SESSION_COOKIE_NAME}={browser.cookies[settings.SESSION_COOKIE_NAME].value}"
    phone = WebsocketCommunicator(
        application, "/ws/", headers=[ORIGIN, (b"cookie", cookie.encode())]
    )
    assert (await phone.connect())[0]
    await phone.receive_json_from(timeout=5)  # hello
    laptop = await connect(hq.ward_head)  # another session of the same person
    try:
        response = await sync_to_async(browser.post)("/accounts/logout/")
        assert response.status_code == 302
        assert (await phone.receive_output(timeout=5))["type"] == "websocket.close"
        await laptop.send_json_to({"type": "ping", "ref": 1})
        pong, _ = await frames_until(laptop, "pong")
        assert pong["ref"] == 1
    finally:
        await laptop.disconnect()


async def test_deactivating_an_account_closes_its_websockets(hq):
    from directory import services as directory_services

    comm = await connect(hq.ward_head)
    closed = await sync_to_async(directory_services.user_accounts_close)(
        user_ids=[hq.ward_head.pk], actor=hq.mayor, reason="test"
    )
    assert closed == 1
    assert (await comm.receive_output(timeout=5))["type"] == "websocket.close"
    await hq.ward_head.arefresh_from_db()
    assert hq.ward_head.is_active is False


async def test_an_instruction_can_carry_its_own_escalation_policy(hq):
    comm = await connect(hq.mayor)
    try:
        await comm.send_json_to(
            send_frame(
                hq.group,
                kind="instruction",
                requires_ack=True,
                escalation={"first_after": 30, "stop_on": "read"},
            )
        )
        sent, _ = await frames_until(comm, "sent")
        message = await Message.objects.aget(pk=sent["id"])
        assert message.escalation["first_after"] == 30 and message.escalation["stop_on"] == "read"
        await comm.send_json_to(
            send_frame(hq.group, kind="instruction", escalation={"first_after": -5})
        )
        err, _ = await frames_until(comm, "error")
        assert err["code"] == "invalid"
        await comm.send_json_to(send_frame(hq.group, kind="instruction", escalation="fast"))
        err, _ = await frames_until(comm, "error")
        assert err["code"] == "bad_request"
        assert await Message.objects.acount() == 1
    finally:
        await comm.disconnect()


async def test_a_post_changing_hands_moves_the_open_websocket_too(hq):
    """The April rotation: the old 北区長's open phone stops receiving the group at once, the
    new holder's phone starts at once."""
    from directory import services as directory_services
    from tests.factories import StaffFactory, UserFactory

    newcomer = await sync_to_async(lambda: StaffFactory(user=UserFactory()).user)()
    old, new, mayor = await connect(hq.ward_head), await connect(newcomer), await connect(hq.mayor)
    try:
        post = await sync_to_async(lambda: hq.ward_head.staff.posts_held.get())()
        await sync_to_async(directory_services.post_assign_holder)(
            post=post, holder=await sync_to_async(lambda: newcomer.staff)(), actor=hq.mayor
        )
        groups, _ = await frames_until(new, "groups")
        assert groups["groups"] == [hq.group.pk]
        groups, _ = await frames_until(old, "groups")
        assert groups["groups"] == []

        await mayor.send_json_to(send_frame(hq.group, body="新任の北区長へ"))
        new_message, _ = await frames_until(new, "message.new")
        assert new_message["message"]["html"] == "新任の北区長へ"
        assert await old.receive_nothing(timeout=0.5)
    finally:
        for c in (old, new, mayor):
            await c.disconnect()


async def test_a_removed_member_stops_receiving_at_once(hq):
    from messaging import services as messaging_services
    from messaging.models import GroupMembership

    observer, mayor = await connect(hq.observer), await connect(hq.mayor)
    try:
        membership = await GroupMembership.objects.aget(group=hq.group, staff__user=hq.observer)
        await sync_to_async(messaging_services.group_remove_member)(
            membership=membership, actor=None
        )
        groups, _ = await frames_until(observer, "groups")
        assert groups["groups"] == []
        await mayor.send_json_to(send_frame(hq.group, body="退出後の投稿"))
        await frames_until(mayor, "sent")
        seen = []
        while not await observer.receive_nothing(timeout=0.5):
            seen.append((await observer.receive_json_from())["type"])
        assert "message.new" not in seen  # at most a repeated "groups" frame
    finally:
        await observer.disconnect()
        await mayor.disconnect()


async def test_a_member_removed_in_the_django_admin_stops_receiving_at_once(hq, admin_user):
    """A real admin POST (the command group's page, the membership's DELETE box ticked): the
    removed ward head's open socket leaves the group at once and gets no more messages."""
    from django.test import Client
    from django.urls import reverse

    from messaging.models import GroupMembership

    ward, mayor = await connect(hq.ward_head), await connect(hq.mayor)
    try:
        rows = await sync_to_async(list)(hq.group.memberships.order_by("pk"))
        data = {
            "name": hq.group.name,
            "kind": hq.group.kind,
            "is_active": "on",
            "description": "",
            "memberships-TOTAL_FORMS": str(len(rows)),
            "memberships-INITIAL_FORMS": str(len(rows)),
            "memberships-MIN_NUM_FORMS": "0",
            "memberships-MAX_NUM_FORMS": "1000",
        }
        ward_post = await sync_to_async(lambda: hq.ward_head.staff.posts_held.get())()
        for i, m in enumerate(rows):
            data.update(
                {
                    f"memberships-{i}-id": str(m.pk),
                    f"memberships-{i}-group": str(hq.group.pk),
                    f"memberships-{i}-post": str(m.post_id or ""),
                    f"memberships-{i}-staff": str(m.staff_id or ""),
                    f"memberships-{i}-role": m.role,
                }
            )
            if m.post_id == ward_post.pk:
                data[f"memberships-{i}-DELETE"] = "on"
        browser = Client()
        await sync_to_async(browser.force_login)(admin_user)
        url = reverse("admin:messaging_commandgroup_change", args=[hq.group.pk])
        response = await sync_to_async(browser.post)(url, data)
        assert response.status_code == 302, response.content[:2000]
        assert not await GroupMembership.objects.filter(post=ward_post).aexists()

        groups, _ = await frames_until(ward, "groups")
        assert groups["groups"] == []
        await mayor.send_json_to(send_frame(hq.group, body="削除後の指示"))
        await frames_until(mayor, "sent")
        seen = []
        while not await ward.receive_nothing(timeout=0.5):
            seen.append((await ward.receive_json_from())["type"])
        assert "message.new" not in seen
    finally:
        await ward.disconnect()
        await mayor.disconnect()


async def test_reads_in_a_row_are_all_answered_and_stored(hq):
    """A phone catching up sends several reads at once; each gets its read_ok, in any order,
    and every receipt is stored."""
    mayor, ward = await connect(hq.mayor), await connect(hq.ward_head)
    try:
        seqs = []
        for n in range(5):
            await mayor.send_json_to(send_frame(hq.group, body=f"指示{n}"))
            sent, _ = await frames_until(mayor, "sent")
            seqs.append(sent["seq"])
        for seq in seqs:
            await ward.send_json_to(
                {"type": "read", "group": hq.group.pk, "up_to_seq": seq, "ref": seq}
            )
        answered = set()
        while len(answered) < len(seqs):
            ok, _ = await frames_until(ward, "read_ok")
            answered.add(ok["ref"])
        assert answered == set(seqs)
        unread = await Receipt.objects.filter(user=hq.ward_head, read_at__isnull=True).acount()
        assert unread == 0
    finally:
        await mayor.disconnect()
        await ward.disconnect()


async def test_a_failed_read_batch_answers_with_an_error_and_the_socket_survives(hq, monkeypatch):
    mayor, ward = await connect(hq.mayor), await connect(hq.ward_head)
    try:
        await mayor.send_json_to(send_frame(hq.group))
        sent, _ = await frames_until(mayor, "sent")

        def broken(**kwargs):
            raise RuntimeError("database went away")

        monkeypatch.setattr(services, "receipts_mark_read_bulk", broken)
        await ward.send_json_to(
            {"type": "read", "group": hq.group.pk, "up_to_seq": sent["seq"], "ref": "r1"}
        )
        err, _ = await frames_until(ward, "error")
        assert err["code"] == "server_error" and err["ref"] == "r1" and err["message"]
        await ward.send_json_to({"type": "ping", "ref": 2})
        pong, _ = await frames_until(ward, "pong")
        assert pong["ref"] == 2
        assert await Receipt.objects.filter(read_at__isnull=False).acount() == 0
    finally:
        await mayor.disconnect()
        await ward.disconnect()


async def test_unread_changed_carries_the_readers_new_count(hq):
    mayor, ward = await connect(hq.mayor), await connect(hq.ward_head)
    try:
        seqs = []
        for body in ("第1報", "第2報"):
            await mayor.send_json_to(send_frame(hq.group, body=body))
            sent, _ = await frames_until(mayor, "sent")
            seqs.append(sent["seq"])
        await ward.send_json_to({"type": "read", "group": hq.group.pk, "up_to_seq": seqs[0]})
        changed, _ = await frames_until(ward, "unread.changed")
        assert changed == {"type": "unread.changed", "group": hq.group.pk, "unread": 1}
        await ward.send_json_to({"type": "read", "group": hq.group.pk, "up_to_seq": seqs[1]})
        changed, _ = await frames_until(ward, "unread.changed")
        assert changed["unread"] == 0
    finally:
        await mayor.disconnect()
        await ward.disconnect()


async def test_a_process_relays_each_group_once_and_stops_with_its_last_socket(hq):
    """Sockets of one server process share one relay per group (realtime/fanout.py); every
    member still gets the message, and the relay goes when the last member's socket closes."""
    from channels.layers import get_channel_layer

    from realtime.fanout import local_fanout

    mayor, ward = await connect(hq.mayor), await connect(hq.ward_head)
    outsider = await connect(hq.outsider)
    fanout = local_fanout(get_channel_layer())
    name = f"honbu.grp.{hq.group.pk}"
    try:
        assert len(fanout.relays[name].sockets) == 2
        await mayor.send_json_to(send_frame(hq.group, body="第1報"))
        for comm in (mayor, ward):
            new, _ = await frames_until(comm, "message.new")
            assert new["message"]["text"] == "第1報"
        assert await outsider.receive_nothing(timeout=0.3)
    finally:
        await mayor.disconnect()
        await ward.disconnect()
        await outsider.disconnect()
    assert name not in fanout.relays


async def test_a_consumer_that_dies_leaves_its_relays(hq):
    """A consumer killed by an exception never gets disconnect(); it must still leave the
    process's relays, or they would keep writing to a dead socket."""
    from channels.layers import get_channel_layer

    from realtime.fanout import local_fanout

    layer = get_channel_layer()
    mayor, ward = await connect(hq.mayor), await connect(hq.ward_head)
    relay = local_fanout(layer).relays[f"honbu.grp.{hq.group.pk}"]
    try:
        assert len(relay.sockets) == 2
        await layer.group_send(f"honbu.usr.{hq.ward_head.pk}", {"type": "no.such.event"})
        with pytest.raises(ValueError):
            await ward.receive_from(timeout=3)  # the consumer's exception surfaces here
        assert len(relay.sockets) == 1
    finally:
        await mayor.disconnect()
