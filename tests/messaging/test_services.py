import uuid
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from directory import services as directory_services
from directory.models import AuditEntry
from messaging import selectors, services
from messaging.models import Message, MessageVersion, Receipt
from messaging.rendering import render_body
from tests.factories import StaffFactory

pytestmark = pytest.mark.django_db


def send(hq, sender=None, body="本部を設置しました", **kw):
    return services.message_send(
        group=hq.group, sender=sender or hq.mayor, body=body, client_id=uuid.uuid4(), **kw
    )


def test_send_numbers_messages_gap_free_and_snapshots_recipients(hq):
    first = send(hq).message
    second = send(hq, sender=hq.ward_head, body="公用車で呼びかけ中").message

    assert (first.seq, second.seq) == (1, 2)
    hq.group.refresh_from_db()
    assert hq.group.last_seq == 2
    # Everyone but the sender is an expected recipient; the observer reads too.
    assert set(Receipt.objects.filter(message=first).values_list("user_id", flat=True)) == {
        hq.ward_head.pk,
        hq.bureau_head.pk,
        hq.observer.pk,
    }
    assert first.recipient_count == 2  # the observer receives but is not counted (issue 9)
    assert MessageVersion.objects.get(message=first).body == "本部を設置しました"


def test_send_is_idempotent_on_client_id(hq):
    cid = uuid.uuid4()
    a = services.message_send(group=hq.group, sender=hq.mayor, body="x", client_id=cid)
    b = services.message_send(group=hq.group, sender=hq.mayor, body="x", client_id=cid)
    assert a.created and not b.created
    assert a.message.pk == b.message.pk
    assert Message.objects.count() == 1
    hq.group.refresh_from_db()
    assert hq.group.last_seq == 1


def test_denied_senders_change_nothing(hq):
    with pytest.raises(PermissionDenied):
        send(hq, sender=hq.outsider)
    with pytest.raises(PermissionDenied):
        send(hq, sender=hq.observer)
    with pytest.raises(PermissionDenied):
        send(hq, sender=hq.ward_head, kind="instruction", priority="urgent", requires_ack=True)
    assert Message.objects.count() == 0
    hq.group.refresh_from_db()
    assert hq.group.last_seq == 0


def test_new_post_holder_is_a_member_at_once(hq):
    newcomer = StaffFactory(
        user=__import__("tests.factories", fromlist=["UserFactory"]).UserFactory()
    )
    post = hq.ward_head.staff.posts_held.get()
    directory_services.post_assign_holder(post=post, holder=newcomer, actor=None)
    # What sending checks (the page, the socket and the service all ask the same selectors):
    # the new holder posts as 北区長, the old holder is refused and nothing is stored.
    sent = send(hq, sender=newcomer.user, body="着任しました").message
    assert (sent.sender_id, sent.sender_post_name) == (newcomer.user_id, "北区長")
    with pytest.raises(PermissionDenied):
        send(hq, sender=hq.ward_head, body="前任者")
    assert list(Message.objects.values_list("body", flat=True)) == ["着任しました"]
    assert not selectors.user_can_read(user=hq.ward_head, group=hq.group)


def test_instruction_read_and_acknowledge(hq):
    msg = send(
        hq,
        kind="instruction",
        priority="urgent",
        requires_ack=True,
        body="住民を3階以上へ避難させてください",
    ).message

    services.receipt_mark_read(user=hq.ward_head, group=hq.group, up_to_seq=msg.seq)
    services.receipt_acknowledge(user=hq.bureau_head, message=msg)

    [counts] = selectors.receipt_counts(message_ids=[msg.pk])
    assert (counts.total, counts.read, counts.acked) == (2, 2, 1)  # observer not counted
    rows = {r.user_id: r for r in selectors.receipt_rows(message=msg)}
    assert rows[hq.ward_head.pk].read_at is not None and rows[hq.ward_head.pk].acked_at is None
    assert rows[hq.bureau_head.pk].acked_at is not None
    assert hq.observer.pk not in rows  # observers are not in the who-has-not lists (issue 9)
    assert rows[hq.ward_head.pk].post == "北区長"


def test_first_read_time_is_kept(hq):
    msg = send(hq).message
    services.receipt_mark_read(user=hq.ward_head, group=hq.group, up_to_seq=msg.seq)
    first = Receipt.objects.get(message=msg, user=hq.ward_head).read_at
    assert services.receipt_mark_read(user=hq.ward_head, group=hq.group, up_to_seq=msg.seq) == []
    assert Receipt.objects.get(message=msg, user=hq.ward_head).read_at == first


def test_acknowledge_needs_a_request_and_a_recipient(hq):
    plain = send(hq).message
    with pytest.raises(ValidationError):
        services.receipt_acknowledge(user=hq.ward_head, message=plain)
    instruction = send(hq, kind="instruction", requires_ack=True).message
    with pytest.raises(PermissionDenied):
        services.receipt_acknowledge(user=hq.outsider, message=instruction)
    assert not Receipt.objects.filter(acked_at__isnull=False).exists()


def test_edit_and_delete_keep_every_version(hq):
    msg = send(hq, body="第1報").message
    services.message_edit(message=msg, editor=hq.mayor, body="第1報（訂正）")
    services.message_delete(message=msg, actor=hq.mayor)

    msg.refresh_from_db()
    assert msg.deleted_at is not None and msg.edited_at is not None
    assert list(msg.versions.values_list("version", "action", "body")) == [
        (1, "create", "第1報"),
        (2, "edit", "第1報（訂正）"),
        (3, "delete", ""),
    ]


def test_only_the_sender_within_the_window_may_change(hq, settings):
    msg = send(hq, body="原文").message
    with pytest.raises(PermissionDenied):
        services.message_edit(message=msg, editor=hq.ward_head, body="改ざん")
    Message.objects.filter(pk=msg.pk).update(
        created_at=timezone.now() - timedelta(minutes=settings.HONBU_EDIT_WINDOW_MINUTES + 1)
    )
    msg.refresh_from_db()
    with pytest.raises(PermissionDenied):
        services.message_delete(message=msg, actor=hq.mayor)
    msg.refresh_from_db()
    assert msg.body == "原文" and msg.deleted_at is None and msg.versions.count() == 1


def test_reply_is_tied_to_the_instruction(hq):
    instruction = send(hq, kind="instruction", requires_ack=True).message
    reply = send(
        hq, sender=hq.ward_head, body="公用車で呼びかけています", reply_to_id=instruction.pk
    ).message
    assert reply.kind == "reply" and reply.reply_to == instruction


def test_membership_changes_are_audited(hq):
    assert (
        AuditEntry.objects.filter(action="group.member_add", target_id=str(hq.group.pk)).count()
        == 4
    )


def test_unsafe_text_is_rendered_inert():
    from html.parser import HTMLParser

    class Tags(HTMLParser):
        def __init__(self):
            super().__init__()
            self.tags = []

        def handle_starttag(self, tag, attrs):
            self.tags.append((tag, dict(attrs)))

    payload = (
        "<script>alert(1)</script><img src=x onerror=alert(1)> "
        '<a href="javascript:alert(1)">x</a> \u202egnp.exe https://city.example.jp/a?b=1'
    )
    parser = Tags()
    parser.feed(render_body(payload))
    # The only element is the https link; everything else arrived as text.
    assert parser.tags == [
        ("a", {"href": "https://city.example.jp/a?b=1", "rel": "noopener noreferrer nofollow"})
    ]
    assert "\u202e" not in render_body(payload)
    assert "&lt;script&gt;" in render_body("<script>")


def test_bulk_mark_read_matches_one_by_one(hq, django_assert_num_queries):
    first = send(hq).message
    second = send(hq, body="第2報").message
    items = [
        (hq.ward_head.pk, hq.group.pk, second.seq),
        (hq.bureau_head.pk, hq.group.pk, first.seq),
        (hq.ward_head.pk, hq.group.pk, first.seq),
    ]  # a repeat with a lower number

    with django_assert_num_queries(5):  # savepoint, SELECT, UPDATE, unread counts, release
        assert services.receipts_mark_read_bulk(items=items) == 3

    read = set(Receipt.objects.filter(read_at__isnull=False).values_list("user_id", "message_id"))
    assert read == {
        (hq.ward_head.pk, first.pk),
        (hq.ward_head.pk, second.pk),
        (hq.bureau_head.pk, first.pk),
    }
    assert services.receipts_mark_read_bulk(items=items) == 0  # first read times are kept
    # A user cannot mark someone else's receipts: only their own rows match.
    assert services.receipts_mark_read_bulk(items=[(hq.outsider.pk, hq.group.pk, 99)]) == 0
    assert not Receipt.objects.filter(user=hq.observer, read_at__isnull=False).exists()
