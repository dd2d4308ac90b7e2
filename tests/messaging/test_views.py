"""Messaging over HTTP: pages, history, sending with attachments, receipts, members."""

from __future__ import annotations

import io
import json
import uuid
from pathlib import Path

import pytest
from django.contrib.messages import get_messages
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import translation
from PIL import Image

from directory.models import AuditEntry, User
from messaging import attachments, forms, services
from messaging.models import (
    Attachment,
    CommandGroup,
    GroupMembership,
    Message,
    MessageVersion,
    Receipt,
)
from tests.factories import PostFactory, StaffFactory
from tests.messaging.conftest import make_member

pytestmark = pytest.mark.django_db


def _t(text) -> str:
    """A user-facing message as the (Japanese by default) pages show it."""
    with translation.override("ja"):
        return translation.gettext(text) if isinstance(text, str) else str(text)


def send(group, sender, body="本部を設置しました", **kw) -> Message:
    return services.message_send(
        group=group, sender=sender, body=body, client_id=uuid.uuid4(), **kw
    ).message


def png(size=(800, 600), color=(200, 30, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "PNG")
    return buf.getvalue()


def files_in(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def _seq(group: CommandGroup) -> int:
    group.refresh_from_db()
    return group.last_seq


@pytest.fixture
def media(settings, tmp_path) -> Path:
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


# --- group list, chat page, history ---------------------------------------------------------
def test_group_list_shows_only_my_groups_with_unread_counts(client, hq):
    # Given two HQ messages (the ward head read the first) and a group the HQ people are not in.
    drill = services.group_create(name="訓練班", kind=CommandGroup.Kind.AD_HOC, actor=None)
    services.group_add_member(group=drill, staff=hq.outsider.staff, actor=None)
    first = send(hq.group, hq.mayor)
    send(hq.group, hq.mayor, body="避難所を開設してください")
    services.receipt_mark_read(user=hq.ward_head, group=hq.group, up_to_seq=first.seq)

    lists = {}
    for user in (hq.mayor, hq.ward_head, hq.bureau_head, hq.outsider):
        client.force_login(user)
        response = client.get(reverse("messaging:group_list"))
        assert response.status_code == 200
        lists[user.pk] = [(i.title, i.unread) for i in response.context["items"]]

    assert lists[hq.mayor.pk] == [("大阪市災害対策本部", 0)]
    assert lists[hq.ward_head.pk] == [("大阪市災害対策本部", 1)]
    assert lists[hq.bureau_head.pk] == [("大阪市災害対策本部", 2)]
    assert lists[hq.outsider.pk] == [("訓練班", 0)]


def test_chat_page_is_404_for_a_non_member_and_leaks_nothing(client, hq):
    send(hq.group, hq.mayor, body="極秘の指示")
    client.force_login(hq.outsider)

    pages = [
        reverse("messaging:group_detail", args=[hq.group.pk]),
        reverse("messaging:group_history", args=[hq.group.pk]),
        reverse("messaging:group_members", args=[hq.group.pk]),
    ]
    responses = [client.get(url) for url in pages]
    missing = client.get(reverse("messaging:group_detail", args=[hq.group.pk + 1000]))

    for response in responses:
        assert response.status_code == 404
        body = response.content.decode()
        assert "大阪市災害対策本部" not in body and "極秘の指示" not in body
    # A group that exists and one that does not look the same from outside.
    assert missing.status_code == 404
    assert missing.content == responses[0].content


def test_chat_page_for_a_member_shows_the_group_and_role(client, hq):
    send(hq.group, hq.mayor)
    client.force_login(hq.observer)

    response = client.get(reverse("messaging:group_detail", args=[hq.group.pk]))

    assert response.status_code == 200
    assert (response.context["title"], response.context["role"]) == (
        "大阪市災害対策本部",
        "observer",
    )
    assert (response.context["can_post"], response.context["can_manage"]) == (False, False)
    assert [m["seq"] for m in response.context["messages_json"]] == [1]


def test_history_after_n_returns_exactly_the_later_messages(client, hq):
    for n in range(1, 5):
        send(hq.group, hq.mayor, body=f"報告{n}")
    client.force_login(hq.ward_head)
    url = reverse("messaging:group_history", args=[hq.group.pk])

    later = client.get(url, {"after": 2}).json()
    everything = client.get(url).json()
    none_left = client.get(url, {"after": 4}).json()

    assert [(m["seq"], m["html"]) for m in later["messages"]] == [(3, "報告3"), (4, "報告4")]
    assert (later["group"], later["last_seq"], later["more"]) == (hq.group.pk, 4, False)
    assert [m["seq"] for m in everything["messages"]] == [1, 2, 3, 4]
    assert none_left["messages"] == []


@pytest.mark.parametrize("after", ["abc", "1.5", ""])
def test_history_refuses_a_bad_after(client, hq, after):
    send(hq.group, hq.mayor)
    client.force_login(hq.ward_head)

    response = client.get(reverse("messaging:group_history", args=[hq.group.pk]), {"after": after})

    assert response.status_code == 400
    assert response.json() == {"error": _t("Invalid request.")}


# --- sending over HTTP ----------------------------------------------------------------------
def _post(client, group, **data):
    data.setdefault("client_id", str(uuid.uuid4()))
    data.setdefault("kind", "message")
    data.setdefault("priority", "normal")
    return client.post(reverse("messaging:message_post", args=[group.pk]), data)


def test_send_with_an_image_stores_one_message_with_a_thumbnail_and_a_retry_is_a_duplicate(
    client, hq, media
):
    client.force_login(hq.ward_head)
    cid = str(uuid.uuid4())
    image = png()

    first = _post(
        client,
        hq.group,
        client_id=cid,
        body="北区役所前の様子",
        file=SimpleUploadedFile("kita.png", image, content_type="image/png"),
    )
    retry = _post(
        client,
        hq.group,
        client_id=cid,
        body="北区役所前の様子",
        file=SimpleUploadedFile("kita.png", image, content_type="image/png"),
    )

    assert first.status_code == 200 and retry.status_code == 200
    message = Message.objects.get()
    assert first.json()["duplicate"] is False and first.json()["seq"] == 1
    assert (retry.json()["duplicate"], retry.json()["id"]) == (True, message.pk)
    att = Attachment.objects.get()
    assert (att.message_id, att.original_name, att.content_type, att.size) == (
        message.pk,
        "kita.png",
        "image/png",
        len(image),
    )
    assert (att.width, att.height) == (800, 600)
    with Image.open(att.thumbnail.path) as thumb:
        assert (thumb.format, thumb.size) == ("JPEG", (640, 480))
    assert Path(att.file.path).read_bytes() == image
    assert files_in(media) == sorted([Path(att.file.path), Path(att.thumbnail.path)])
    assert _seq(hq.group) == 1
    assert Receipt.objects.filter(message=message).count() == 3


def _assert_nothing_stored(group, media: Path) -> None:
    assert Message.objects.count() == 0
    assert (MessageVersion.objects.count(), Receipt.objects.count()) == (0, 0)
    assert Attachment.objects.count() == 0
    assert _seq(group) == 0
    assert files_in(media) == []


def test_send_refuses_an_oversized_file_and_stores_nothing(client, hq, media, settings):
    settings.HONBU_ATTACHMENT_MAX_BYTES = 1024 * 1024
    client.force_login(hq.ward_head)
    big = SimpleUploadedFile("report.txt", b"x" * (1024 * 1024 + 1), content_type="text/plain")

    response = _post(client, hq.group, body="報告書", file=big)

    assert response.status_code == 400
    assert response.json() == {"error": _t(attachments.ERR_TOO_BIG) % {"mb": 1}}
    _assert_nothing_stored(hq.group, media)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("setup.exe", b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 64),
        ("photo.png", b"this is not a picture"),
        ("page.html", b"<script>alert(1)</script>"),
    ],
)
def test_send_refuses_a_disallowed_type_and_stores_nothing(client, hq, media, name, content):
    client.force_login(hq.ward_head)

    response = _post(client, hq.group, body="添付", file=SimpleUploadedFile(name, content))

    assert response.status_code == 400
    assert response.json() == {"error": _t(attachments.ERR_TYPE)}
    _assert_nothing_stored(hq.group, media)


def _bomb_png(width: int = 20000, height: int = 20000) -> bytes:
    """A PNG that declares width × height 1-bit pixels: a tiny file, 400 million pixels."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    rows = zlib.compress(b"\0" * (1 + width // 8) * 64, 9)  # a few rows: the rest is missing
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
    )


def test_a_decompression_bomb_is_a_clear_400_and_stores_nothing(client, hq, media):
    client.force_login(hq.ward_head)
    bomb = SimpleUploadedFile("photo.png", _bomb_png(), content_type="image/png")

    response = _post(client, hq.group, body="被害写真", file=bomb)

    assert response.status_code == 400
    assert response.json() == {"error": _t(attachments.ERR_PIXELS) % {"mp": 50}}
    _assert_nothing_stored(hq.group, media)


def test_unstorable_text_over_http_is_a_400_and_stores_nothing(client, hq, media):
    client.force_login(hq.ward_head)

    response = _post(client, hq.group, body="避難\x00所")  # the form refuses NUL itself

    assert response.status_code == 400 and response.json()["error"]
    _assert_nothing_stored(hq.group, media)
    with pytest.raises(ValidationError) as exc:  # and so does the service, for every caller
        services.message_send(
            group=hq.group, sender=hq.ward_head, body="避難\x00所", client_id=uuid.uuid4()
        )
    assert exc.value.messages == [str(services.ERR_TEXT)]


def test_observer_cannot_post_over_http(client, hq, media):
    client.force_login(hq.observer)

    response = _post(client, hq.group, body="見ているだけのはず")

    assert response.status_code == 403
    assert response.json() == {"error": _t(services.ERR_OBSERVER)}
    _assert_nothing_stored(hq.group, media)


def test_member_cannot_post_an_instruction_over_http(client, hq, media):
    client.force_login(hq.ward_head)

    response = _post(
        client,
        hq.group,
        body="全区に指示",
        kind="instruction",
        priority="urgent",
        requires_ack="on",
    )

    assert response.status_code == 403
    assert response.json() == {"error": _t(services.ERR_NOT_COMMANDER)}
    _assert_nothing_stored(hq.group, media)


def _post_as_the_composer(client, group, **data):
    """What chat-composer.js sends: an ordinary message or reply has no priority field."""
    data.setdefault("client_id", str(uuid.uuid4()))
    data.setdefault("kind", "message")
    return client.post(reverse("messaging:message_post", args=[group.pk]), data)


def test_a_photo_as_an_ordinary_message_and_as_a_reply_needs_no_priority(client, hq, media):
    # Given the mayor's message in the group, and the ward head signed in
    first = send(hq.group, hq.mayor, body="各区の状況を写真で送ってください")
    client.force_login(hq.ward_head)

    # When the ward head sends a photo as a message, then one as a reply (no priority field)
    plain = _post_as_the_composer(
        client,
        hq.group,
        body="北区役所前",
        file=SimpleUploadedFile("kita.png", png(), content_type="image/png"),
    )
    reply = _post_as_the_composer(
        client,
        hq.group,
        body="",
        reply_to=str(first.pk),
        file=SimpleUploadedFile("river.png", png((400, 300)), content_type="image/png"),
    )

    # Then both are stored as normal-priority messages with their photo
    assert (plain.status_code, reply.status_code) == (200, 200), (plain.json(), reply.json())
    rows = list(
        Message.objects.filter(sender=hq.ward_head)
        .order_by("seq")
        .values_list(
            "kind", "priority", "requires_ack", "reply_to_id", "attachments__original_name"
        )
    )
    assert rows == [
        ("message", "normal", False, None, "kita.png"),
        ("reply", "normal", False, first.pk, "river.png"),
    ]


def test_a_photo_instruction_keeps_the_composers_priority_and_its_own_chase(client, hq, media):
    client.force_login(hq.mayor)

    response = _post_as_the_composer(
        client,
        hq.group,
        body="浸水状況",
        kind="instruction",
        priority="important",
        requires_ack="true",
        escalation=json.dumps({"stop_on": "read", "first_after": 600}),
        file=SimpleUploadedFile("flood.png", png(), content_type="image/png"),
    )

    assert response.status_code == 200, response.json()
    message = Message.objects.get()
    assert (message.kind, message.priority, message.requires_ack) == (
        "instruction",
        "important",
        True,
    )
    assert (message.escalation["stop_on"], message.escalation["first_after"]) == ("read", 600)


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"priority": ""}, forms.ERR_PRIORITY_REQUIRED),
        (
            {"priority": "urgent", "escalation": "[1, 2]"},
            forms.ERR_BAD_ESCALATION,
        ),
    ],
)
def test_an_instruction_without_a_priority_or_with_a_bad_chase_is_refused(
    client, hq, media, data, error
):
    client.force_login(hq.mayor)

    response = _post_as_the_composer(client, hq.group, body="指示", kind="instruction", **data)

    assert (response.status_code, response.json()) == (400, {"error": _t(error)})
    _assert_nothing_stored(hq.group, media)


def test_outsider_post_is_404_and_stores_nothing(client, hq, media):
    client.force_login(hq.outsider)

    response = _post(client, hq.group, body="部外者")

    assert response.status_code == 404
    _assert_nothing_stored(hq.group, media)


# --- attachments ----------------------------------------------------------------------------
def test_attachment_download_for_members_only(client, hq, media):
    image = png((100, 80))
    message = services.message_send(
        group=hq.group,
        sender=hq.mayor,
        body="被害写真",
        client_id=uuid.uuid4(),
        attachments=[SimpleUploadedFile("damage.png", image, content_type="image/png")],
    ).message
    att = message.attachments.get()
    url = reverse("messaging:attachment", args=[att.pk])

    client.force_login(hq.observer)
    member = client.get(url)
    thumb = client.get(url, {"thumb": 1})
    client.force_login(hq.outsider)
    outsider = client.get(url)

    assert member.status_code == 200
    assert (member["Content-Type"], b"".join(member.streaming_content)) == ("image/png", image)
    assert member["X-Content-Type-Options"] == "nosniff"
    assert (thumb.status_code, thumb["Content-Type"]) == (200, "image/jpeg")
    assert outsider.status_code == 404


# --- receipts and acknowledgement -----------------------------------------------------------
def _receipts(client, message, **params):
    return client.get(reverse("messaging:message_receipts", args=[message.pk]), params)


def test_commander_sees_exact_read_and_unread_lists(client, hq):
    # Given the mayor's instruction: the ward head read it, then the bureau head acknowledged it.
    message = send(
        hq.group,
        hq.mayor,
        body="被害状況を報告せよ",
        kind="instruction",
        priority="urgent",
        requires_ack=True,
    )
    services.receipt_mark_read(user=hq.ward_head, group=hq.group, up_to_seq=message.seq)
    services.receipt_acknowledge(user=hq.bureau_head, message=message)
    ward, bureau, observer = (
        u.staff.full_name for u in (hq.ward_head, hq.bureau_head, hq.observer)
    )
    client.force_login(hq.mayor)

    page = _receipts(client, message)

    assert page.status_code == 200
    # The observer receives the instruction but is not counted or listed (issue 9).
    assert [r.name for r in page.context["read"]] == [ward, bureau]
    assert [r.name for r in page.context["unread"]] == []
    assert [r.name for r in page.context["acked"]] == [bureau]
    assert [r.name for r in page.context["unacked"]] == [ward]
    assert [r.post for r in page.context["unacked"]] == ["北区長"]
    assert observer not in page.content.decode()
    assert page.context["total"] == 2


def test_receipts_json_gives_exact_lists(client, hq):
    message = send(
        hq.group,
        hq.mayor,
        body="被害状況を報告せよ",
        kind="instruction",
        priority="urgent",
        requires_ack=True,
    )
    services.receipt_acknowledge(user=hq.ward_head, message=message)
    receipt = Receipt.objects.get(message=message, user=hq.ward_head)
    client.force_login(hq.mayor)

    data = _receipts(client, message, format="json").json()

    def row(user, post, read_at=None, acked_at=None):
        return {
            "user": user.pk,
            "name": user.staff.full_name,
            "unit": user.staff.unit.name,
            "post": post,
            "read_at": read_at,
            "acked_at": acked_at,
        }

    read = row(hq.ward_head, "北区長", receipt.read_at.isoformat(), receipt.acked_at.isoformat())
    assert data == {
        "message": message.pk,
        "total": 2,  # the observer is not counted (issue 9)
        "read": [read],
        "unread": [row(hq.bureau_head, "建設局長")],
        "acked": [read],
        "unacked": [row(hq.bureau_head, "建設局長")],
    }


def test_plain_member_who_is_not_the_sender_cannot_see_receipts(client, hq):
    message = send(hq.group, hq.mayor)
    own = send(hq.group, hq.bureau_head, body="建設局、参集完了")
    client.force_login(hq.bureau_head)

    page = _receipts(client, message)
    as_json = _receipts(client, message, format="json")
    mine = _receipts(client, own, format="json")

    assert (page.status_code, as_json.status_code) == (403, 403)
    assert b"unread" not in as_json.content
    # The sender sees the receipts of their own message.
    assert mine.status_code == 200 and mine.json()["total"] == 2  # mayor, ward head


def test_ack_over_http(client, hq):
    message = send(
        hq.group,
        hq.mayor,
        body="避難勧告を発令する",
        kind="instruction",
        priority="urgent",
        requires_ack=True,
    )
    plain = send(hq.group, hq.mayor, body="連絡")
    url = reverse("messaging:message_ack", args=[message.pk])
    client.force_login(hq.ward_head)

    first = client.post(url)
    receipt = Receipt.objects.get(message=message, user=hq.ward_head)
    again = client.post(url)
    no_ack_asked = client.post(reverse("messaging:message_ack", args=[plain.pk]))

    assert (first.status_code, first.json()) == (200, {"ok": True})
    assert receipt.acked_at is not None and receipt.read_at == receipt.acked_at
    assert again.status_code == 200
    receipt_after = Receipt.objects.get(pk=receipt.pk)
    assert receipt_after.acked_at == receipt.acked_at  # the first time stays
    assert (no_ack_asked.status_code, no_ack_asked.json()) == (
        400,
        {"error": _t(services.ERR_NO_ACK_REQUESTED)},
    )
    assert Receipt.objects.filter(message=plain, acked_at__isnull=False).count() == 0


def test_ack_is_refused_to_outsiders_and_the_sender(client, hq):
    message = send(hq.group, hq.mayor, kind="instruction", priority="urgent", requires_ack=True)
    url = reverse("messaging:message_ack", args=[message.pk])

    client.force_login(hq.outsider)
    outsider = client.post(url)
    client.force_login(hq.mayor)
    sender = client.post(url)
    get = client.get(url)

    assert outsider.status_code == 404
    assert (sender.status_code, sender.json()) == (403, {"error": _t(services.ERR_NOT_RECIPIENT)})
    assert get.status_code == 405
    assert Receipt.objects.filter(acked_at__isnull=False).count() == 0


# --- one-to-one conversations ---------------------------------------------------------------
def test_conversation_start_creates_one_direct_group_and_reuses_it(client, hq):
    client.force_login(hq.outsider)
    url = reverse("messaging:conversation_start", args=[hq.ward_head.staff.pk])

    asked = client.get(url)  # a GET alone never creates a group
    assert asked.status_code == 200 and not CommandGroup.objects.filter(kind="direct").exists()
    first = client.post(url)
    group = CommandGroup.objects.get(kind=CommandGroup.Kind.DIRECT)
    second = client.get(url)  # now it exists: GET opens it

    assert first.status_code == 302
    assert first["Location"] == reverse("messaging:group_detail", args=[group.pk])
    assert second["Location"] == first["Location"]
    assert CommandGroup.objects.filter(kind=CommandGroup.Kind.DIRECT).count() == 1
    assert set(group.memberships.values_list("staff_id", "role")) == {
        (hq.outsider.staff.pk, "member"),
        (hq.ward_head.staff.pk, "member"),
    }
    # The other person opening it from their side lands in the same conversation.
    client.force_login(hq.ward_head)
    back = client.get(reverse("messaging:conversation_start", args=[hq.outsider.staff.pk]))
    assert back["Location"] == first["Location"]


def test_conversation_start_with_yourself_or_someone_without_an_account_is_refused(client, hq):
    no_account = StaffFactory()
    client.force_login(hq.outsider)

    with_self = client.get(reverse("messaging:conversation_start", args=[hq.outsider.staff.pk]))
    self_flash = [str(m) for m in get_messages(with_self.wsgi_request)]
    client.cookies.pop("messages", None)  # the flash was shown
    with_nobody = client.get(reverse("messaging:conversation_start", args=[no_account.pk]))
    nobody_flash = [str(m) for m in get_messages(with_nobody.wsgi_request)]

    assert with_self["Location"] == reverse("directory:staff_detail", args=[hq.outsider.staff.pk])
    assert self_flash == [_t(services.ERR_DIRECT_SELF)]
    assert with_nobody["Location"] == reverse("directory:staff_detail", args=[no_account.pk])
    assert nobody_flash == [_t(services.ERR_NO_ACCOUNT) % {"name": no_account.full_name}]
    assert CommandGroup.objects.filter(kind=CommandGroup.Kind.DIRECT).count() == 0
    assert GroupMembership.objects.filter(staff__in=[hq.outsider.staff, no_account]).count() == 0


# --- members --------------------------------------------------------------------------------
def test_commander_adds_a_post_and_removes_a_membership_audited(client, hq):
    fire_chief = make_member()
    post = PostFactory(name="消防局長", holder=fire_chief.staff)
    url = reverse("messaging:group_members", args=[hq.group.pk])
    client.force_login(hq.mayor)

    added = client.post(url, {"post": post.pk, "role": "member", "employee_number": ""})
    membership = GroupMembership.objects.get(group=hq.group, post=post)
    observer = GroupMembership.objects.get(group=hq.group, staff=hq.observer.staff)
    removed = client.post(url, {"remove": observer.pk})

    assert (added.status_code, added["Location"]) == (302, url)
    assert (removed.status_code, removed["Location"]) == (302, url)
    assert membership.role == "member"
    assert not GroupMembership.objects.filter(pk=observer.pk).exists()
    entries = AuditEntry.objects.filter(actor=hq.mayor).order_by("id")
    assert [(e.action, e.target_id, e.data) for e in entries] == [
        (
            "group.member_add",
            str(hq.group.pk),
            {"post": post.pk, "staff": None, "role": "member", "previous": None},
        ),
        (
            "group.member_remove",
            str(hq.group.pk),
            {"post": None, "staff": hq.observer.staff.pk, "role": "observer"},
        ),
    ]


def test_commander_adds_an_individual_by_employee_number(client, hq):
    client.force_login(hq.mayor)

    response = client.post(
        reverse("messaging:group_members", args=[hq.group.pk]),
        {"employee_number": hq.outsider.staff.employee_number, "role": "observer"},
    )

    assert response.status_code == 302
    assert GroupMembership.objects.get(group=hq.group, staff=hq.outsider.staff).role == "observer"


def test_plain_member_cannot_change_members(client, hq):
    post = PostFactory(name="消防局長", holder=make_member().staff)
    observer = GroupMembership.objects.get(group=hq.group, staff=hq.observer.staff)
    before = sorted(GroupMembership.objects.values_list("id", "role"))
    audits = AuditEntry.objects.count()
    url = reverse("messaging:group_members", args=[hq.group.pk])
    client.force_login(hq.ward_head)

    page = client.get(url)
    add = client.post(url, {"post": post.pk, "role": "commander", "employee_number": ""})
    remove = client.post(url, {"remove": observer.pk})

    assert (page.status_code, page.context["can_manage"]) == (200, False)
    assert (add.status_code, remove.status_code) == (403, 403)
    assert sorted(GroupMembership.objects.values_list("id", "role")) == before
    assert AuditEntry.objects.count() == audits


# --- query counts on the hot paths ----------------------------------------------------------
@pytest.fixture
def big_group(db):
    def build(members: int) -> tuple[CommandGroup, list]:
        group = services.group_create(name="大規模本部", kind="hq", actor=None)
        users = [make_member() for _ in range(members)]
        services.group_add_member(
            group=group, post=PostFactory(holder=users[0].staff), role="commander", actor=None
        )
        for user in users[1:]:
            services.group_add_member(group=group, post=PostFactory(holder=user.staff), actor=None)
        return group, users

    return build


# message_send: client-id duplicate check, sender's role, sender's staff row, sender's posts;
# savepoint, lock the group, bump last_seq, the recipients, insert message, version, receipts
# (one bulk insert whatever the size), the (empty) attachments for the event; release.
SEND_QUERIES = 13
# An urgent instruction asking for 了解 also starts escalation (messaging/escalation.py): the
# group's policy and the chases, written from the receipts in one INSERT … SELECT.
SEND_URGENT_QUERIES = 16
MARK_READ_QUERIES = 5  # savepoint, SELECT pending receipts, UPDATE, unread count, release


@pytest.mark.parametrize("members", [10, 50])
@pytest.mark.parametrize(
    ("kw", "queries"),
    [
        ({}, SEND_QUERIES),
        ({"kind": "instruction", "priority": "urgent", "requires_ack": True}, SEND_URGENT_QUERIES),
    ],
)
def test_message_send_query_count_does_not_grow_with_the_group(
    big_group, members, kw, queries, django_assert_num_queries
):
    group, users = big_group(members)
    sender = User.objects.get(pk=users[0].pk)  # as a request loads it: nothing cached

    with django_assert_num_queries(queries):
        message = send(group, sender, body="全員参集", **kw)

    assert Receipt.objects.filter(message=message).count() == members - 1


def test_receipt_mark_read_query_count(big_group, django_assert_num_queries):
    group, users = big_group(50)
    for n in range(5):
        send(group, users[0], body=f"報告{n}")
    reader = User.objects.get(pk=users[1].pk)

    with django_assert_num_queries(MARK_READ_QUERIES):
        marked = services.receipt_mark_read(user=reader, group=group, up_to_seq=5)

    assert len(marked) == 5
    assert Receipt.objects.filter(user=users[1], read_at__isnull=True).count() == 0
