"""The chat page's rough edges (issue 9), on 390×844 phones on the real websocket (Daphne):
a photo sent from the composer as a message and as a reply reaches the mayor live; the group's
name stays in sight; 「指示として送る」 stays on for a series of instructions; the 督促 override
is a control that looks like one.
"""

from __future__ import annotations

import io
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import Page, expect

from directory.models import User
from messaging import services
from messaging.models import Attachment, CommandGroup, Message
from tests.factories import PostFactory, StaffFactory, UserFactory

pytestmark = [pytest.mark.browser]

PHONE_390 = {"width": 390, "height": 844}


@dataclass
class Chat:
    group: CommandGroup
    mayor: User
    ward_head: User

    @property
    def url(self) -> str:
        return f"/messages/g/{self.group.pk}/"


def _member(username: str, family: str, given: str) -> User:
    user = UserFactory(username=username, role=User.Role.HQ_MEMBER)
    StaffFactory(user=user, employee_number=username, family_name=family, given_name=given)
    return user


@pytest.fixture
def chat(transactional_db) -> Chat:
    """Committed (Daphne must see it): 本部長 commands, 北区長 is a member."""
    mayor = _member("100001", "大阪", "市長")
    ward_head = _member("100002", "北野", "区長")
    group = services.group_create(
        name="大阪市災害対策本部", kind=CommandGroup.Kind.HEADQUARTERS, actor=None
    )
    for name, user, role in [("本部長", mayor, "commander"), ("北区長", ward_head, "member")]:
        post = PostFactory(name=name, holder=user.staff)
        services.group_add_member(group=group, post=post, role=role, actor=None)
    yield Chat(group, mayor, ward_head)
    for att in Attachment.objects.all():  # the Daphne process stored them under MEDIA_ROOT
        att.file.delete(save=False)
        if att.thumbnail:
            att.thumbnail.delete(save=False)


def open_chat(asgi_phone, user: User, chat: Chat) -> Page:
    page = asgi_phone(user=user)
    page.set_viewport_size(PHONE_390)
    page.goto(chat.url)
    expect(page.locator("#chat")).to_have_attribute("data-conn", "online")
    return page


def picture(path: Path, size: tuple[int, int], fmt: str, color=(30, 90, 200)) -> Path:
    """A real photo file: a coloured picture with a white stripe, made with Pillow."""
    image = Image.new("RGB", size, color)
    image.paste((255, 255, 255), (0, size[1] // 3, size[0], size[1] // 2))
    image.save(path, fmt)
    return path


def attach_through_the_file_chooser(page: Page, path: Path) -> None:
    """The way a person does it: tap the camera button, pick the file in the chooser."""
    with page.expect_file_chooser() as chooser:
        page.locator("#composer label.attach").tap()
    chooser.value.set_files(str(path))
    expect(page.locator("#attach-name")).to_have_text(path.name)


def shot(page: Page, name: str) -> None:
    """Screenshots to look at, when HONBU_SCREENSHOTS names a directory (not in normal runs)."""
    folder = os.environ.get("HONBU_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"))


def loaded_size(page: Page, img) -> tuple[int, int]:
    expect(img).to_be_visible()
    page.wait_for_function("(i) => i.complete && i.naturalWidth > 0", arg=img.element_handle())
    return tuple(img.evaluate("(i) => [i.naturalWidth, i.naturalHeight]"))


def test_a_photo_from_the_chat_page_as_a_message_and_as_a_reply_reaches_the_mayor_live(
    asgi_phone, chat: Chat, tmp_path: Path
):
    # Given the mayor's request for photos, the mayor's and the ward head's phones on the chat
    request = services.message_send(
        group=chat.group,
        sender=chat.mayor,
        body="各区の状況を写真で送ってください",
        client_id="0b7f5f0e-5d2a-4a6e-9a51-1f3c2d4e5f60",
    ).message
    mayor = open_chat(asgi_phone, chat.mayor, chat)
    ward = open_chat(asgi_phone, chat.ward_head, chat)
    mayor.evaluate("window.__notReloaded = true")

    # When the ward head attaches a photo with the camera button and sends it as a message
    photo = picture(tmp_path / "kita.png", (1200, 900), "PNG")
    attach_through_the_file_chooser(ward, photo)
    ward.locator("#composer textarea[name=body]").fill("北区役所前の様子")
    ward.locator("#composer button[type=submit]").tap()

    # Then no error, and the mayor's phone shows the preview without reloading
    card = mayor.locator("#messages li.msg", has_text="北区役所前の様子")
    preview = card.locator("a.attachment img")
    assert loaded_size(mayor, preview) == (640, 480)  # the thumbnail, not the 1200×900 photo
    expect(ward.locator("#chat-error")).to_be_hidden()
    expect(ward.locator("#attach-name")).to_be_hidden()

    # When the ward head replies to the mayor's request with a second photo (a JPEG, no text)
    ward.locator("#messages li.msg", has_text="写真で送ってください").locator("[data-reply]").tap()
    expect(ward.locator("#reply-banner")).to_be_visible()
    attach_through_the_file_chooser(ward, picture(tmp_path / "river.jpg", (900, 1200), "JPEG"))
    ward.locator("#composer button[type=submit]").tap()

    # Then the mayor sees it live as a reply quoting the request, with its preview
    reply = mayor.locator("#messages li.msg").filter(has=mayor.locator("a.quote")).last
    expect(reply.locator("a.quote")).to_contain_text("各区の状況を写真で")
    assert loaded_size(mayor, reply.locator("a.attachment img")) == (480, 640)
    assert mayor.evaluate("window.__notReloaded === true")
    shot(mayor, "chat-photo")

    # And the database has both, as normal-priority messages from the ward head
    sent = list(
        Message.objects.filter(sender=chat.ward_head)
        .order_by("seq")
        .values_list("kind", "priority", "reply_to_id", "attachments__original_name")
    )
    assert sent == [
        ("message", "normal", None, "kita.png"),
        ("reply", "normal", request.pk, "river.jpg"),
    ]

    # When the mayor opens the first photo
    link = card.locator("a.attachment")
    full_url = link.get_attribute("href")
    response = mayor.request.get(full_url)
    link.tap()

    # Then the full-size image loads: 200, an image, the photo as sent
    assert response.status == 200
    assert response.headers["content-type"] == "image/png"
    with Image.open(io.BytesIO(response.body())) as image:
        assert (image.format, image.size) == ("PNG", (1200, 900))
    expect(mayor).to_have_url(re.compile(re.escape(full_url) + "$"))
    assert mayor.evaluate("document.contentType") == "image/png"
    assert loaded_size(mayor, mayor.locator("img").first) == (1200, 900)


def test_the_group_title_stays_visible_below_the_top_bar(asgi_phone, chat: Chat):
    # Given a chat long enough to scroll (the page opens at the newest message)
    for n in range(1, 31):
        services.message_send(
            group=chat.group,
            sender=chat.mayor,
            body=f"第{n}報：各区の状況を報告してください。",
            client_id=f"00000000-0000-4000-8000-{n:012d}",
        )

    # When the ward head opens it on a 390×844 phone
    ward = open_chat(asgi_phone, chat.ward_head, chat)
    expect(ward.locator("#messages li.msg", has_text="第30報")).to_be_in_viewport()
    assert ward.evaluate("window.scrollY") > 500

    # Then the group's name is on screen, below the top bar, not under it
    title = ward.locator("#chat h1")
    expect(title).to_have_text("大阪市災害対策本部")
    top_bar = ward.locator("header.topbar").bounding_box()
    box = title.bounding_box()
    assert box["y"] >= top_bar["y"] + top_bar["height"] - 1, (box, top_bar)
    assert box["y"] + box["height"] <= PHONE_390["height"]
    hit = ward.evaluate(
        "([x, y]) => document.elementFromPoint(x, y).closest('#chat h1') !== null",
        [box["x"] + 10, box["y"] + box["height"] / 2],
    )
    assert hit, "something covers the title"
    # and the back link is a full-size tap target
    back = ward.locator("#chat a.chat-back").bounding_box()
    assert back["height"] >= 44 and back["width"] >= 40, back
    shot(ward, "chat-title")


def test_the_reminder_override_is_a_control_that_says_what_it_does(asgi_phone, chat: Chat):
    mayor = open_chat(asgi_phone, chat.mayor, chat)
    mayor.locator("label:has(#as-instruction)").tap()

    # A button-like summary with its own name and an open/close mark, ≥ 44 px tall
    toggle = mayor.locator("#esc-override summary")
    expect(toggle).to_contain_text("督促の設定を変更")
    expect(toggle).to_contain_text("グループの督促ルール")  # what applies now
    box = toggle.bounding_box()
    assert box["height"] >= 44, box
    assert toggle.evaluate("(e) => getComputedStyle(e).borderTopStyle") == "solid"
    assert toggle.evaluate("(e) => getComputedStyle(e, '::after').content") == '""'
    expect(mayor.locator("select[name=esc_stop]")).to_be_hidden()

    # Tapping it opens the settings
    toggle.tap()
    expect(mayor.locator("select[name=esc_stop]")).to_be_visible()
    expect(mayor.locator("input[name=esc_first]")).to_be_visible()
    shot(mayor, "chat-composer-instruction")


def test_instruction_mode_stays_on_for_a_series_of_instructions(asgi_phone, chat: Chat):
    # Given the mayor on the chat, 「指示として送る」 ticked, 重要, no 了解, and a chase of its
    # own for the first instruction (first reminder after 30 minutes)
    mayor = open_chat(asgi_phone, chat.mayor, chat)
    mayor.locator("label:has(#as-instruction)").tap()
    mayor.locator("select[name=priority]").select_option("important")
    mayor.locator("input[name=requires_ack]").uncheck()
    mayor.locator("#esc-override summary").tap()
    mayor.locator("input[name=esc_first]").fill("30")
    expect(mayor.locator("#esc-summary")).to_have_text("30 分")

    # When the mayor sends an instruction, then a second one without touching the controls
    for text in ("第1指示：避難所を開設してください", "第2指示：開設状況を報告してください"):
        mayor.locator("#composer textarea[name=body]").fill(text)
        mayor.locator("#composer button[type=submit]").tap()
        expect(mayor.locator("#messages li.msg.instruction", has_text=text)).to_be_visible()

    # Then both are instructions with the same priority and no 了解; the override was for the
    # first one only; the composer still shows the instruction mode
    rows = list(
        Message.objects.filter(group=chat.group)
        .order_by("seq")
        .values_list("kind", "priority", "requires_ack", "escalation__first_after")
    )
    assert rows == [
        ("instruction", "important", False, 1800),
        ("instruction", "important", False, 300),
    ]
    expect(mayor.locator("#as-instruction")).to_be_checked()
    expect(mayor.locator("#instruction-options")).to_be_visible()
    expect(mayor.locator("select[name=priority]")).to_have_value("important")
    expect(mayor.locator("input[name=requires_ack]")).not_to_be_checked()
    expect(mayor.locator("#esc-summary")).to_have_text("グループの督促ルール")
    expect(mayor.locator("#composer textarea[name=body]")).to_have_value("")
