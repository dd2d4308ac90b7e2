"""What a websocket connect and its catch-up cost the database, pinned so a regression fails
(issue 14; bench/connect_storm.py measures the time). Through the real ASGI stack."""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Iterator

import pytest
from asgiref.sync import sync_to_async
from channels.db import DatabaseSyncToAsync
from channels.testing import WebsocketCommunicator
from django.db.backends.utils import CursorWrapper

from config.asgi import application
from messaging import services
from messaging.models import GroupMembership
from tests.messaging.test_consumers import ORIGIN, frames_until, session_cookie

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

# The session, the user, the groups with roles: one hop on the thread pool (realtime/auth.py).
CONNECT_QUERIES = 3
# The group, the messages after the number, their attachments (membership: from connect).
SYNC_QUERIES = 3


class Seen(list):
    """SQL statements, in order, and how many trips to a database thread ran them."""

    hops = 0


@contextlib.contextmanager
def every_query() -> Iterator[Seen]:
    """The SQL of every statement any thread runs meanwhile (a socket's database work runs on
    the thread pool, where CaptureQueriesContext, one connection, does not look), and the
    hops: each is a thread switch and a connection out of the pool and back."""
    seen = Seen()
    lock = threading.Lock()
    original = CursorWrapper._execute_with_wrappers
    original_hop = DatabaseSyncToAsync.thread_handler

    def recording(self, sql, params, many, executor):
        with lock:
            seen.append(sql)
        return original(self, sql, params, many, executor)

    def hop(self, *args, **kwargs):
        with lock:
            seen.hops += 1
        return original_hop(self, *args, **kwargs)

    CursorWrapper._execute_with_wrappers = recording
    DatabaseSyncToAsync.thread_handler = hop
    try:
        yield seen
    finally:
        CursorWrapper._execute_with_wrappers = original
        DatabaseSyncToAsync.thread_handler = original_hop


async def _open(cookie: bytes) -> tuple[WebsocketCommunicator, dict]:
    comm = WebsocketCommunicator(application, "/ws/", headers=[ORIGIN, (b"cookie", cookie)])
    connected, _ = await comm.connect()
    assert connected
    hello = await comm.receive_json_from(timeout=5)
    assert hello["type"] == "hello"
    return comm, hello


async def test_a_connect_is_one_hop_of_three_queries_and_no_health_check(hq):
    cookie = await session_cookie(hq.mayor)
    with every_query() as seen:
        comm, hello = await _open(cookie)
    try:
        assert hello["groups"] == [hq.group.pk]
        assert len(seen) == CONNECT_QUERIES, seen
        assert seen.hops == 1
        tables = ["django_session", "directory_user", "messaging_groupmembership"]
        for sql, table in zip(seen, tables, strict=True):
            assert f'FROM "{table}"' in sql, (table, sql)
        assert not any(sql.strip().upper() == "SELECT 1" for sql in seen)
    finally:
        await comm.disconnect()


async def _subscribed(pattern: str) -> set[str]:
    from django.conf import settings
    from redis.asyncio import Redis

    client = Redis.from_url(settings.REDIS_URL)
    try:
        names = await client.pubsub_channels(f"{layer_prefix()}{pattern}")
    finally:
        await client.aclose()
    return {n.decode() for n in names}


async def test_a_connect_subscribes_only_the_persons_channel_in_redis(hq):
    """Each Redis SUBSCRIBE (and the UNSUBSCRIBE when the socket goes) costs a connect CPU; a
    socket's own channel and its session's are not subscribed (the person's ``usr`` group
    carries both kinds of event), the groups' relays are shared by the process."""
    comm, hello = await _open(await session_cookie(hq.mayor))
    try:
        assert await _subscribed("*specific.*") == set()
        assert await _subscribed("*__group__honbu.usr.*") == {
            f"{layer_prefix()}__group__honbu.usr.{hq.mayor.pk}"
        }
        assert await _subscribed("*__group__honbu.sess*") == set()
    finally:
        await comm.disconnect()
    assert await _subscribed("*__group__honbu.usr.*") == set()


def layer_prefix() -> str:
    from django.conf import settings

    return settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"]


async def test_catching_up_is_one_hop_of_three_queries(hq):
    for n in range(3):
        await sync_to_async(services.message_send)(
            group=hq.group, sender=hq.mayor, body=f"指示 {n}", client_id=uuid.uuid4()
        )
    comm, _ = await _open(await session_cookie(hq.ward_head))
    try:
        with every_query() as seen:
            await comm.send_json_to({"type": "sync", "group": hq.group.pk, "after_seq": 1})
            history, _ = await frames_until(comm, "history")
        assert [m["seq"] for m in history["messages"]] == [2, 3]
        assert history["last_seq"] == 3 and history["more"] is False
        assert len(seen) == SYNC_QUERIES, seen
        assert seen.hops == 1
    finally:
        await comm.disconnect()


async def _catch_up(comm: WebsocketCommunicator, group: int, after: int, ref: str) -> dict:
    await comm.send_json_to({"type": "sync", "group": group, "after_seq": after, "ref": ref})
    history, _ = await frames_until(comm, "history")
    assert history["ref"] == ref
    return history


async def test_the_same_catch_up_again_is_one_query_and_never_stale(hq):
    """A reconnect storm's pages ask for the same messages: the second asks one small query
    and gets the same answer; a new message, an edit or a deletion is seen at once."""
    sent = [
        await sync_to_async(services.message_send)(
            group=hq.group, sender=hq.mayor, body=f"指示 {n}", client_id=uuid.uuid4()
        )
        for n in range(3)
    ]
    mayor, _ = await _open(await session_cookie(hq.mayor))
    member, _ = await _open(await session_cookie(hq.ward_head))
    try:
        first = await _catch_up(mayor, hq.group.pk, 1, "a")
        with every_query() as seen:
            again = await _catch_up(member, hq.group.pk, 1, "b")
        assert len(seen) == 1 and seen.hops == 1, seen
        assert {**again, "ref": "a"} == first
        assert [m["seq"] for m in again["messages"]] == [2, 3]

        await sync_to_async(services.message_edit)(
            message=sent[2].message, editor=hq.mayor, body="訂正"
        )
        edited = await _catch_up(member, hq.group.pk, 1, "c")
        assert edited["messages"][1]["text"] == "訂正" and edited["messages"][1]["edited"]

        await sync_to_async(services.message_delete)(message=sent[1].message, actor=hq.mayor)
        deleted = await _catch_up(member, hq.group.pk, 1, "d")
        assert deleted["messages"][0]["deleted"] and deleted["messages"][0]["text"] == ""

        await sync_to_async(services.message_send)(
            group=hq.group, sender=hq.mayor, body="追加", client_id=uuid.uuid4()
        )
        newer = await _catch_up(member, hq.group.pk, 1, "e")
        assert [m["seq"] for m in newer["messages"]] == [2, 3, 4]
        assert newer["last_seq"] == 4
    finally:
        await mayor.disconnect()
        await member.disconnect()


async def test_a_removed_member_reconnects_without_the_group_and_cannot_catch_up(hq):
    """Nothing about groups is kept between connects: the next connect after a removal does
    not join the group, and its catch-up is refused like an outsider's."""
    cookie = await session_cookie(hq.observer)
    comm, hello = await _open(cookie)
    assert hello["groups"] == [hq.group.pk]
    await comm.disconnect()

    membership = await GroupMembership.objects.aget(group=hq.group, staff__user=hq.observer)
    await sync_to_async(services.group_remove_member)(membership=membership, actor=None)

    comm, hello = await _open(cookie)
    try:
        assert hello["groups"] == []
        await comm.send_json_to({"type": "sync", "group": hq.group.pk, "after_seq": 0})
        error, _ = await frames_until(comm, "error")
        assert error["code"] == "not_found"
    finally:
        await comm.disconnect()


async def test_a_post_holder_reaches_the_group_through_the_post_and_an_ex_holder_does_not(hq):
    """Membership through a post held now (the UNION's first half) and individual membership
    (its second) both count; a post handed on stops counting at the next connect."""
    from directory.services import post_assign_holder

    comm, hello = await _open(await session_cookie(hq.ward_head))
    await comm.disconnect()
    assert hello["groups"] == [hq.group.pk]

    post = await sync_to_async(lambda: hq.ward_head.staff.posts_held.get())()
    outsider_staff = await sync_to_async(lambda: hq.outsider.staff)()
    await sync_to_async(post_assign_holder)(post=post, holder=outsider_staff, actor=None)
    old, old_hello = await _open(await session_cookie(hq.ward_head))
    new, new_hello = await _open(await session_cookie(hq.outsider))
    try:
        assert old_hello["groups"] == []
        assert new_hello["groups"] == [hq.group.pk]
    finally:
        await old.disconnect()
        await new.disconnect()


async def test_a_member_removed_while_connected_cannot_catch_up_on_that_socket(hq):
    """The catch-up trusts the socket's group set, which the removal changes at once."""
    comm, _ = await _open(await session_cookie(hq.observer))
    try:
        membership = await GroupMembership.objects.aget(group=hq.group, staff__user=hq.observer)
        await sync_to_async(services.group_remove_member)(membership=membership, actor=None)
        groups, _ = await frames_until(comm, "groups")
        assert groups["groups"] == []
        await comm.send_json_to({"type": "sync", "group": hq.group.pk, "after_seq": 0})
        error, skipped = await frames_until(comm, "error")
        assert error["code"] == "not_found"
        assert "history" not in [f["type"] for f in skipped]
    finally:
        await comm.disconnect()


async def test_a_catch_up_carries_replies_and_attachments_like_the_page(hq, settings, tmp_path):
    """The catch-up's compiled-once queries give the same message frames as the page's
    selector: a reply's quote, a photo, a deleted message without its photo."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from messaging.rendering import message_dict
    from messaging.selectors import messages_after
    from tests.messaging.test_views import png

    settings.MEDIA_ROOT = tmp_path
    send = sync_to_async(services.message_send)
    first = (
        await send(group=hq.group, sender=hq.mayor, body="一報", client_id=uuid.uuid4())
    ).message
    photo = SimpleUploadedFile("damage.png", png((40, 30)), content_type="image/png")
    await send(
        group=hq.group,
        sender=hq.ward_head,
        body="被害写真",
        client_id=uuid.uuid4(),
        reply_to_id=first.pk,
        attachments=[photo],
    )
    photo = SimpleUploadedFile("gone.png", png((20, 20)), content_type="image/png")
    gone = (
        await send(
            group=hq.group,
            sender=hq.mayor,
            body="誤送信",
            client_id=uuid.uuid4(),
            attachments=[photo],
        )
    ).message
    await sync_to_async(services.message_delete)(message=gone, actor=hq.mayor)
    comm, _ = await _open(await session_cookie(hq.ward_head))
    try:
        await comm.send_json_to({"type": "sync", "group": hq.group.pk, "after_seq": 0})
        history, _ = await frames_until(comm, "history")
        expected = await sync_to_async(
            lambda: [
                message_dict(m) for m in messages_after(group=hq.group, after_seq=0, limit=200)
            ]
        )()
        got = history["messages"]
        assert [m["seq"] for m in got] == [1, 2, 3]
        assert got[1]["reply_to"]["seq"] == 1 and len(got[1]["attachments"]) == 1
        assert got[2]["deleted"] is True and got[2]["attachments"] == []
        assert got == expected
    finally:
        await comm.disconnect()


@pytest.mark.parametrize("spoil", ["expired", "unknown", "password_changed", "deactivated"])
async def test_a_session_that_no_longer_signs_in_is_refused(hq, spoil):
    """The connect's own session lookup keeps Django's rules: expired or unknown sessions, a
    session from before a password change, and closed accounts are all refused (4401)."""
    from datetime import timedelta

    from django.contrib.sessions.models import Session
    from django.utils import timezone

    cookie = await session_cookie(hq.ward_head)
    key = cookie.decode().split("=", 1)[1]
    if spoil == "expired":
        await Session.objects.filter(pk=key).aupdate(expire_date=timezone.now() - timedelta(1))
    elif spoil == "unknown":
        cookie = cookie[:-4] + b"zzzz"
    elif spoil == "password_changed":
        hq.ward_head.set_password("a-new-password-2026")
        await hq.ward_head.asave()
    else:
        hq.ward_head.is_active = False
        await hq.ward_head.asave()
    comm = WebsocketCommunicator(application, "/ws/", headers=[ORIGIN, (b"cookie", cookie)])
    connected, code = await comm.connect()
    assert not connected and code == 4401
    await comm.disconnect()


async def test_a_session_of_an_unconfigured_backend_is_refused(hq):
    from django.contrib.sessions.models import Session

    cookie = await session_cookie(hq.ward_head)
    key = cookie.decode().split("=", 1)[1]
    await sync_to_async(_set_backend)(key, "somewhere.else.Backend")
    comm = WebsocketCommunicator(application, "/ws/", headers=[ORIGIN, (b"cookie", cookie)])
    connected, code = await comm.connect()
    assert not connected and code == 4401
    await comm.disconnect()
    assert await Session.objects.filter(pk=key).aexists()


async def test_a_session_from_before_a_secret_key_rotation_still_connects(hq, settings):
    """SECRET_KEY_FALLBACKS: a session signed in under the old secret keeps working, as for
    Django's own pages; without the fallback it is refused."""
    kept = await session_cookie(hq.ward_head)
    dropped = await session_cookie(hq.ward_head)
    old = settings.SECRET_KEY
    settings.SECRET_KEY = "honbu-test-the-rotated-secret-key-2026"
    settings.SECRET_KEY_FALLBACKS = [old]
    comm, hello = await _open(kept)
    assert hello["type"] == "hello"
    await comm.disconnect()

    settings.SECRET_KEY_FALLBACKS = []
    comm = WebsocketCommunicator(application, "/ws/", headers=[ORIGIN, (b"cookie", dropped)])
    connected, code = await comm.connect()
    assert not connected and code == 4401
    await comm.disconnect()


def _set_backend(key: str, path: str) -> None:
    from django.contrib.auth import BACKEND_SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    store = SessionStore(key)
    store[BACKEND_SESSION_KEY] = path
    store.save()
