"""Fault drill in a real browser (issue 13): the app server dies (kill -9) while phones sit on the
chat page and on Home; instructions are sent while it is down; a new server starts where the old
one was. Each page reconnects by itself with jittered exponential backoff (static/js/honbu.js:
honbuBackoff) — the phones do not come back in the same instant — and the chat page shows every
instruction it missed (caught up by sequence number), once."""

from __future__ import annotations

import os
import re
import signal
import time
import uuid

import pytest
from django.conf import settings
from playwright.sync_api import Browser, expect

from messaging.models import Message
from messaging.services import message_send
from tests.browser.conftest import _CSP_WATCH, PHONE
from tests.conftest import _free_port, serve_test_database
from tests.realtime.wsclients import make_group, session_cookies

pytestmark = pytest.mark.django_db(transaction=True)
PAGES = 4


def _wait(condition, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def _delays(page) -> list[int]:
    raw = page.evaluate("document.body.dataset.reconnectDelays || ''")
    return [int(d) for d in raw.split()]


def test_pages_reconnect_jittered_after_the_server_dies_and_catch_up(
    browser: Browser, django_db_blocker
):
    drill = make_group(PAGES)
    cookies = session_cookies(drill.members)
    chat_url = f"/messages/g/{drill.group.pk}/"
    port = _free_port()
    violations: list[str] = []
    contexts = []
    try:
        with serve_test_database(django_db_blocker, port=port) as base:
            pages = []
            for n, cookie in enumerate(cookies):
                context = browser.new_context(base_url=base, **PHONE)
                context.set_default_timeout(15_000)
                context.expose_binding("__honbuCsp", lambda _s, text: violations.append(text))
                context.add_init_script(_CSP_WATCH)
                context.add_cookies(
                    [{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": base}]
                )
                contexts.append(context)
                page = context.new_page()
                page.goto(chat_url if n else "/")  # the first on Home (honbu.js's own socket)
                pages.append(page)
            home, chats = pages[0], pages[1:]
            for page in chats:
                expect(page.locator("#chat")).to_have_attribute("data-conn", "online")
            _wait(lambda: home.evaluate("() => !!window.honbuLive"))

            # When the server process is killed
            os.kill(base.pid, signal.SIGKILL)
            for page in chats:
                expect(page.locator("#chat")).to_have_attribute("data-conn", "connecting")

            # and three instructions are sent while it is down (another server would take them)
            for n in range(1, 4):
                message_send(
                    group=drill.group,
                    sender=drill.commander,
                    body=f"停電中の指示 {n}: 非常用電源の稼働状況を報告",
                    client_id=uuid.uuid4(),
                    kind=Message.Kind.INSTRUCTION,
                    priority=Message.Priority.IMPORTANT,
                )
            # Every page has tried at least twice against the dead server.
            for page in pages:
                expect(page.locator("body")).to_have_attribute(
                    "data-reconnect-delays", re.compile(r"^\d+ \d+")
                )

        # When a new server starts where the old one was
        with serve_test_database(django_db_blocker, port=port):
            # Then every chat page is back and shows each missed instruction once
            for page in chats:
                expect(page.locator("#chat")).to_have_attribute(
                    "data-conn", "online", timeout=20_000
                )
                for n in range(1, 4):
                    expect(
                        page.locator("#messages li.msg", has_text=f"停電中の指示 {n}")
                    ).to_have_count(1)
            # Home's socket is open again too (it sends)
            _wait(lambda: home.evaluate("() => window.honbuLive.send({type: 'ping'})"), 20)

            # and the delays were drawn at random within the doubling ceilings: attempt n waits
            # between 0 and 2^n seconds, not the fixed 1 s, 2 s, 4 s of every phone at once
            delays = [_delays(page) for page in pages]
            for seen in delays:
                assert len(seen) >= 2, delays
                for attempt, delay in enumerate(seen[:4]):
                    assert 0 <= delay <= 1000 * 2**attempt, delays
            firsts = [seen[0] for seen in delays]
            assert len(set(firsts)) > 1, firsts  # four phones, four different first delays
            assert not all(seen[:2] == [1000, 2000] for seen in delays), delays
    finally:
        for context in contexts:
            context.close()
    assert violations == [], violations


def test_a_page_notices_a_dead_link_by_its_heartbeat_and_comes_back(
    browser: Browser, django_db_blocker
):
    """A frozen server (SIGSTOP: no reset, no close, nothing — like a cut link) is noticed by the
    page's heartbeat (HONBU_WS_HEARTBEAT_SECONDS, 1 s here), not minutes later by TCP."""
    drill = make_group(1)
    (cookie,) = session_cookies(drill.members)
    violations: list[str] = []
    with serve_test_database(django_db_blocker, HONBU_WS_HEARTBEAT_SECONDS="1") as base:
        context = browser.new_context(base_url=base, **PHONE)
        context.set_default_timeout(15_000)
        context.expose_binding("__honbuCsp", lambda _s, text: violations.append(text))
        context.add_init_script(_CSP_WATCH)
        context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": base}])
        try:
            page = context.new_page()
            page.goto(f"/messages/g/{drill.group.pk}/")
            chat = page.locator("#chat")
            expect(chat).to_have_attribute("data-conn", "online")
            page.wait_for_timeout(2500)  # quiet for longer than the heartbeat: the pings answered
            expect(chat).to_have_attribute("data-conn", "online")

            # When the server freezes
            os.kill(base.pid, signal.SIGSTOP)
            try:
                # Then the page notices within seconds and tries again
                expect(chat).to_have_attribute("data-conn", "connecting", timeout=8_000)
                message_send(
                    group=drill.group,
                    sender=drill.commander,
                    body="凍結中の指示: 参集状況を報告",
                    client_id=uuid.uuid4(),
                    kind=Message.Kind.INSTRUCTION,
                    priority=Message.Priority.IMPORTANT,
                )
            finally:
                os.kill(base.pid, signal.SIGCONT)

            # and when it answers again, the page is back and shows what it missed
            expect(chat).to_have_attribute("data-conn", "online", timeout=20_000)
            expect(page.locator("#messages li.msg", has_text="凍結中の指示")).to_have_count(1)
        finally:
            context.close()
    assert violations == [], violations
