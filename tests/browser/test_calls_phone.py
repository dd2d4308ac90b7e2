"""Voice calls between phones (issue 12): separate Chromium instances with fake microphones
(--use-fake-device-for-media-stream, --use-fake-ui-for-media-stream), uvicorn on 127.0.0.1 and
host ICE candidates only (no STUN). The mayor calls the ward head from the profile; the ward
head's phone rings on whatever page is open; answer, and both sides show the call connected
while RTCPeerConnection.getStats() counts audio bytes arriving on both; decline; no answer; a
brief network loss that the call survives (ICE restart); and a three-person conference from
the headquarters chat with the commander muting one and another leaving.

The server here is this module's own ASGI server (``calls_server``), started with a 5-second ring
time and reconnect grace so "no answer" and "network failure" do not take 30 seconds."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings
from PIL import Image
from playwright.sync_api import Browser, Page, expect, sync_playwright

from calls.models import Call
from directory.models import User
from messaging import services
from messaging.models import CommandGroup, Message
from tests.browser.conftest import (
    CHROMIUM,
    CHROMIUM_ARGS,
    RESULTS_DIR,
    _no_csp_violations,
    session_for,
    watch_csp,
)
from tests.conftest import serve_test_database
from tests.factories import OrgUnitFactory, PostFactory, StaffFactory, UserFactory

pytestmark = pytest.mark.browser
MEDIA_ARGS = [
    *CHROMIUM_ARGS,
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
]
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
    "locale": "ja-JP",
    "timezone_id": "Asia/Tokyo",
}
RING_SECONDS = 5
RECONNECT_SECONDS = 8
SCREENSHOTS = Path(settings.BASE_DIR) / "docs" / "screenshots"
# The page's websockets, kept where a test can drop them: Chromium's offline emulation blocks
# new connections but leaves an open websocket alone, unlike a real change of network.
KEEP_SOCKETS = """
(() => {
  const Native = window.WebSocket;
  window.__sockets = [];
  function Kept(url, protocols) {
    const ws = protocols === undefined ? new Native(url) : new Native(url, protocols);
    window.__sockets.push(ws);
    return ws;
  }
  Kept.prototype = Native.prototype;
  Object.assign(Kept, { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 });
  window.WebSocket = Kept;
})();
"""


# --- fixtures: the server, and phones that are separate Chromium instances --------------------
@pytest.fixture
def calls_server(django_db_setup, django_db_blocker) -> Iterator[str]:
    """The ASGI server on the test database (like conftest's asgi_server), short call timers; one
    per test: between tests the database is flushed and its content types made again with new
    ids, which a long-lived server would still have cached (notifications point at calls)."""
    with serve_test_database(
        django_db_blocker,
        HONBU_CALL_RING_SECONDS=str(RING_SECONDS),
        HONBU_CALL_RECONNECT_SECONDS=str(RECONNECT_SECONDS),
    ) as served:
        yield served


@pytest.fixture(scope="module")
def playwright_driver():
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing (apt-get install chromium)", pytrace=False)
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as p:
            yield p
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def phones(playwright_driver, calls_server, transactional_db, request) -> Iterator[Callable]:
    """``phones(user)``: a phone signed in as ``user``, its own Chromium with a fake mic;
    the test fails if the Content-Security-Policy blocked anything on any of them."""
    browsers: list[Browser] = []
    pages: list[Page] = []
    violations: list[list[str]] = []  # what the Content-Security-Policy blocked, per phone

    def open_phone(user: User) -> Page:
        browser = playwright_driver.chromium.launch(executable_path=str(CHROMIUM), args=MEDIA_ARGS)
        browsers.append(browser)
        context = browser.new_context(base_url=calls_server, **PHONE)
        context.set_default_timeout(15_000)
        violations.append(watch_csp(context))
        cookie = {"name": settings.SESSION_COOKIE_NAME, "value": session_for(user)}
        context.add_cookies([{**cookie, "url": calls_server}])
        context.add_init_script(KEEP_SOCKETS)
        page = context.new_page()
        page.on("dialog", lambda dialog: dialog.accept())
        pages.append(page)
        return page

    yield open_phone
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        RESULTS_DIR.mkdir(exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid)
        for i, page in enumerate(pages):
            try:
                page.screenshot(path=str(RESULTS_DIR / f"{name}-{i}.png"), full_page=True)
            except Exception:  # noqa: S110 - a closed page must not hide the real failure
                pass
    for browser in browsers:
        browser.close()
    _no_csp_violations(request, [v for seen in violations for v in seen])


@dataclass
class HQ:
    group: CommandGroup
    mayor: User
    ward_head: User
    bureau_head: User


def _person(unit, username: str, family: str, given: str) -> User:
    user = UserFactory(username=username, role=User.Role.HQ_MEMBER)
    StaffFactory(
        user=user, unit=unit, employee_number=username, family_name=family, given_name=given
    )
    return user


@pytest.fixture
def hq(transactional_db) -> HQ:
    root = OrgUnitFactory(name="大阪市", kind="city")
    mayor = _person(root, "400001", "大阪", "市長")
    ward_head = _person(root, "400002", "北野", "区長")
    bureau_head = _person(root, "400003", "建部", "局長")
    group = services.group_create(
        name="大阪市災害対策本部", kind=CommandGroup.Kind.HEADQUARTERS, actor=None
    )
    for name, user, role in (
        ("本部長", mayor, "commander"),
        ("北区長", ward_head, "member"),
        ("建設局長", bureau_head, "member"),
    ):
        post = PostFactory(name=name, holder=user.staff)
        services.group_add_member(group=group, post=post, role=role, actor=None)
    return HQ(group, mayor, ward_head, bureau_head)


# --- helpers ------------------------------------------------------------------------------------
def js_text(page: Page, msgid: str, *args) -> str:
    return page.evaluate("([s, a]) => interpolate(gettext(s), a)", [msgid, list(args)])


def live(page: Page) -> None:
    """Wait until the page's shared socket is open (the ring needs it)."""
    page.wait_for_function("() => window.honbuLive && honbuLive.send({type: 'ping'})")


def audio_flowing(page: Page, peers: int, timeout: float = 20) -> list[dict]:
    """Every peer connection of the page connected and receiving audio, more each time."""
    deadline = time.monotonic() + timeout
    first = None
    while time.monotonic() < deadline:
        stats = page.evaluate("honbuCall.stats()")
        ok = len(stats) == peers and all(
            s["connection"] == "connected" and s["bytesReceived"] > 0 and s["bytesSent"] > 0
            for s in stats
        )
        if ok and first is None:
            first = {s["leg"]: s["bytesReceived"] for s in stats}
        elif ok and all(s["bytesReceived"] > first[s["leg"]] for s in stats):
            return stats
        time.sleep(0.5)
    stats = page.evaluate("honbuCall.stats()")
    raise AssertionError(f"audio is not flowing on {page.url}: {stats}")


def lose_network(page: Page) -> None:
    """The phone loses its network: its websocket drops, and no new connection gets through
    (the socket is closed first: under offline emulation its closing handshake never ends)."""
    page.evaluate("window.__sockets.forEach((ws) => ws.close())")
    page.wait_for_function("() => window.__sockets.every((ws) => ws.readyState === 3)")
    page.context.set_offline(True)


def look(page: Page, name: str) -> None:
    """Screenshots to look at, when HONBU_SCREENSHOTS names a directory (not in normal runs)."""
    folder = os.environ.get("HONBU_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"calls-{name}.png"), full_page=True)


def shoot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / name
    page.screenshot(path=str(path), scale="css")
    with Image.open(path) as shot:
        shot.convert("RGB").quantize(colors=128).save(path, optimize=True)


def call_from_profile(caller: Page, callee: User) -> None:
    caller.goto(f"/directory/staff/{callee.staff.pk}/")
    caller.get_by_role("button", name="音声通話").tap()
    caller.wait_for_url(re.compile(r"/calls/\d+/$"))


def ring_screen(page: Page):
    ring = page.locator("#call-ring")
    expect(ring).to_be_visible()
    return ring


def status(page: Page):
    return page.locator("#call-status")


# --- one-to-one ----------------------------------------------------------------------------------
def test_a_call_is_answered_and_audio_flows_both_ways(phones, hq: HQ):
    # Given the ward head's phone open on the groups page
    mayor, ward = phones(hq.mayor), phones(hq.ward_head)
    ward.goto("/messages/")
    live(ward)

    # When the mayor taps "音声通話" on the ward head's profile
    mayor.goto(f"/directory/staff/{hq.ward_head.staff.pk}/")
    look(mayor, "profile")
    call_from_profile(mayor, hq.ward_head)
    expect(status(mayor)).to_have_text(js_text(mayor, "Calling…"))
    look(mayor, "calling")

    # Then the ward head's phone rings there, with who is calling, and answers in one tap
    ring = ring_screen(ward)
    expect(ring).to_contain_text("大阪 市長")
    expect(ring).to_contain_text("通話は録音されません")
    shoot(ward, "call-ringing.png")
    ward.locator("#ring-answer").tap()
    ward.wait_for_url(re.compile(r"/calls/\d+/\?answer=1$"))

    # Both pages say connected, and each receives the other's audio
    for page in (mayor, ward):
        expect(page.locator("#call")).to_have_attribute("data-connected", "1", timeout=20_000)
        expect(status(page)).to_have_text(js_text(page, "In the call"))
    for page in (mayor, ward):
        stats = audio_flowing(page, peers=1)
        assert stats[0]["bytesReceived"] > 1000
    expect(mayor.locator("#call-timer")).to_have_text(re.compile(r"^0:0\d$"))
    look(mayor, "connected")

    # A brief network loss on the ward head's phone: the socket drops, the call survives
    lose_network(ward)
    expect(mayor.locator("#call-status")).to_have_text(
        js_text(mayor, "The other side's connection dropped. Waiting for it…"), timeout=10_000
    )
    time.sleep(1)
    ward.context.set_offline(False)
    expect(status(mayor)).to_have_text(js_text(mayor, "In the call"), timeout=15_000)
    ward.evaluate("honbuCall.restartIce()")  # as a network change would
    audio_flowing(ward, peers=1)
    audio_flowing(mayor, peers=1)

    # The mayor hangs up: both see the call ended with its length; the conversation says so
    mayor.locator("#call-hangup").tap()
    for page in (mayor, ward):
        expect(page.locator("#call")).to_have_attribute("data-outcome", "completed")
        expect(status(page)).to_contain_text("通話を終了しました")
    call = Call.objects.get()
    assert (call.outcome, call.ended_by) == ("completed", hq.mayor)
    assert call.duration_seconds is not None and call.duration_seconds >= 1
    assert Message.objects.get(group=call.group).body.startswith("📞 音声通話（0:")


def test_a_declined_call(phones, hq: HQ):
    mayor, ward = phones(hq.mayor), phones(hq.ward_head)
    ward.goto("/")
    live(ward)
    call_from_profile(mayor, hq.ward_head)

    ring_screen(ward).locator("#ring-decline").tap()

    expect(ward.locator("#call-ring .ring-outcome")).to_have_text("通話を拒否しました。")
    expect(mayor.locator("#call")).to_have_attribute("data-outcome", "declined")
    expect(status(mayor)).to_have_text("通話は拒否されました。")
    expect(mayor.locator("#call-after")).to_be_visible()
    assert Call.objects.get().outcome == "declined"


def test_no_answer_is_a_missed_call_on_both_sides(phones, hq: HQ):
    mayor, ward = phones(hq.mayor), phones(hq.ward_head)
    ward.goto("/")
    live(ward)
    call_from_profile(mayor, hq.ward_head)
    ring_screen(ward)

    # Nobody answers for RING_SECONDS
    expect(mayor.locator("#call")).to_have_attribute(
        "data-outcome", "no_answer", timeout=(RING_SECONDS + 10) * 1000
    )
    expect(status(mayor)).to_have_text("応答がありませんでした。")
    expect(ward.locator("#call-ring .ring-outcome")).to_have_text("不在着信です。")
    expect(ward.locator("#reminder-banner")).to_contain_text("不在着信")  # the notification
    # The callee's conversation has the missed call, from the caller
    call = Call.objects.get()
    assert Message.objects.get(group=call.group).body == "📞 不在着信"
    # And the call page it leads to offers to call back
    ward.goto(f"/calls/{call.pk}/")
    expect(status(ward)).to_have_text("不在着信です。")
    expect(ward.locator("#call-back")).to_be_visible()
    look(ward, "missed")


def test_a_phone_that_stays_offline_ends_the_call_as_a_network_failure(phones, hq: HQ):
    mayor, ward = phones(hq.mayor), phones(hq.ward_head)
    ward.goto("/")
    live(ward)
    call_from_profile(mayor, hq.ward_head)
    ring_screen(ward).locator("#ring-answer").tap()
    expect(mayor.locator("#call")).to_have_attribute("data-connected", "1", timeout=20_000)

    lose_network(ward)

    expect(mayor.locator("#call")).to_have_attribute(
        "data-outcome", "failed", timeout=(RECONNECT_SECONDS + 10) * 1000
    )
    expect(status(mayor)).to_have_text("ネットワークの問題で通話が切れました。")
    call = Call.objects.get()
    assert (call.outcome, call.end_reason) == ("failed", "network")


# --- a conference of three ----------------------------------------------------------------------
def test_a_conference_of_three_with_a_mute_and_one_leaving(phones, hq: HQ):
    mayor, ward, bureau = phones(hq.mayor), phones(hq.ward_head), phones(hq.bureau_head)
    for page in (ward, bureau):
        page.goto("/")
        live(page)

    # The mayor starts it from the headquarters chat
    mayor.goto(f"/messages/g/{hq.group.pk}/")
    look(mayor, "hq-chat")
    mayor.locator("#conference-start").tap()
    mayor.wait_for_url(re.compile(r"/calls/\d+/\?join=1$"))
    expect(mayor.locator(".call-person")).to_have_count(1)

    # The others are told on whatever page they have open, and join
    for page in (ward, bureau):
        banner = page.locator(".call-banner a")
        expect(banner).to_contain_text("大阪市災害対策本部")
        look(page, "conference-banner")
        banner.tap()
        page.wait_for_url(re.compile(r"/calls/\d+/\?join=1$"))
    for page in (mayor, ward, bureau):
        expect(page.locator(".call-person")).to_have_count(3, timeout=15_000)
    for page in (mayor, ward, bureau):
        audio_flowing(page, peers=2)

    # Who speaks shows (the fake microphone beeps); the commander mutes the bureau head
    expect(mayor.locator(".call-person.speaking").first).to_be_visible(timeout=10_000)
    bureau_tile = mayor.locator(".call-person", has_text="建部 局長")
    bureau_tile.get_by_role("button").tap()
    expect(bureau.locator("#call-mute")).to_have_attribute("aria-pressed", "true")
    expect(bureau.locator("#call-error")).to_contain_text("大阪 市長")
    for page in (mayor, ward):
        expect(page.locator(".call-person", has_text="建部 局長")).to_contain_text(
            "大阪 市長 によりミュート"
        )
    assert bureau.evaluate("honbuCall.stats().then(() => true)")  # still connected, only silent
    shoot(mayor, "call-conference.png")

    # The ward head leaves; the other two go on
    ward.locator("#call-hangup").tap()
    for page in (mayor, bureau):
        expect(page.locator(".call-person")).to_have_count(2)
        audio_flowing(page, peers=1)
    expect(ward.locator("#call-join")).to_be_visible()  # may come back at will

    call = Call.objects.get()
    legs = list(call.participants.order_by("id").values_list("user_id", "left_reason"))
    assert legs == [
        (hq.mayor.pk, ""),
        (hq.ward_head.pk, "hangup"),
        (hq.bureau_head.pk, ""),
    ]
    assert call.participants.get(user=hq.bureau_head).muted_by == hq.mayor
