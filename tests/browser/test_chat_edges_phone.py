"""The chat page's rough edges (issue 9), on 390×844 phones on the real websocket (Daphne):
a photo sent from the composer as a message and as a reply reaches the mayor live.
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
