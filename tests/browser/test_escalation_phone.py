"""Escalation, end to end on phones: a real Celery worker and Celery beat, Daphne, Chromium.

The issue's test: a ward head ignores an instruction; after the (shortened) policy delay the
mayor's page shows "reminded", then "escalated to deputy", without reloading. The first deputy
follows the red banner to the stand-in page and presses 了解; the mayor's page shows the post as
covered, again without reloading. The ward head's phone, left on the home page, shows the
reminder banner.

Nothing moves the clock here: beat sweeps every second (HONBU_SWEEP_SECONDS=1) and the group's
urgent policy is seconds long, so the chase runs in real time, the way it runs in production.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from playwright.sync_api import Page, expect

from directory import services as directory_services
from directory.models import User
from directory.tasks import healthcheck_task
from messaging import policies, services
from messaging.models import Chase, CommandGroup, Message, StandIn
from notifications.models import Notification
from realtime import clock
from tests.factories import PostFactory, StaffFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

INSTRUCTION = "北区の住民を3階以上へ避難させてください"
# The group's urgent policy, shortened: the first reminder after 2 s, no repeat, then deputy 1
# 5 s later (long enough for the page to show "reminded"), deputy 2 only after 60 s (never here).
POLICY = {
    "enabled": True,
    "stop_on": "ack",
    "first_after": 2,
    "repeat_every": 5,
    "repeat_count": 0,
    "use_deputies": True,
    "deputy_wait": 60,
}
LIVE = 30_000  # ms to wait for a step of the chase to reach a page

# Run before Celery in each subprocess: a watchdog kills the process group if the test process
# goes away (timeout, ^C), so no worker or beat is left behind on the shared Redis.
MAIN = """
import os, signal, sys, threading, time

def _die_with_the_test_process(parent=int(os.environ["HONBU_TEST_PARENT_PID"])):
    while os.getppid() == parent:
        time.sleep(0.5)
    os.killpg(0, signal.SIGKILL)

threading.Thread(target=_die_with_the_test_process, daemon=True).start()
from celery.__main__ import main
sys.argv = ["celery"] + sys.argv[1:]
main()
"""


class Service:
    """``celery -A config <args>`` in its own process group, on the test database and Redis."""

    def __init__(self, name: str, args: list[str], *, log_dir: Path) -> None:
        env = dict(
            os.environ,
            DJANGO_SETTINGS_MODULE="config.settings.test",
            REDIS_URL=settings.REDIS_URL,
            HONBU_TEST_SERVE_DB=str(connection.settings_dict["NAME"]),
            HONBU_TEST_QUEUE=settings.CELERY_TASK_DEFAULT_QUEUE,
            HONBU_SWEEP_SECONDS="1",
            HONBU_TEST_PARENT_PID=str(os.getpid()),
            PYTHONUNBUFFERED="1",
        )
        env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self.log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-c", MAIN, "-A", "config", *args],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=20)
        self.log.close()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


@pytest.fixture
def celery_services(transactional_db, tmp_path, request) -> Iterator[list[Service]]:
    """A real worker (prefork, 2 processes) and beat (file scheduler, a sweep every second),
    both on this run's own queue. Always stopped in teardown; their logs print if a test failed."""
    clock.reset()  # real time: no offset left by another test
    started: list[Service] = []
    try:
        queue = settings.CELERY_TASK_DEFAULT_QUEUE
        started.append(
            Service(
                "worker",
                [
                    "worker",
                    "--pool",
                    "prefork",
                    "--concurrency",
                    "2",
                    "-Q",
                    queue,
                    "--without-gossip",
                    "--without-mingle",
                    "--without-heartbeat",
                    "--loglevel",
                    "WARNING",
                ],
                log_dir=tmp_path,
            )
        )
        token = uuid.uuid4().hex
        healthcheck_task.delay(token)
        deadline = time.monotonic() + 60
        while cache.get(f"healthcheck:{token}") != "ok":
            assert started[0].alive(), f"the Celery worker exited:\n{started[0].output()}"
            assert time.monotonic() < deadline, f"no Celery worker:\n{started[0].output()}"
            time.sleep(0.1)
        started.append(
            Service(
                "beat",
                [
                    "beat",
                    "-s",
                    str(tmp_path / "beat-schedule"),
                    "--scheduler",
                    "celery.beat.PersistentScheduler",
                    "--loglevel",
                    "WARNING",
                ],
                log_dir=tmp_path,
            )
        )
        yield started
    finally:
        for service in started:
            service.stop()
        report = getattr(request.node, "report_call", None)
        if report is not None and report.failed:
            for service in started:
                print(f"--- celery {service.name} ---\n{service.output()}")  # noqa: T201
        clock.reset()


@dataclass
class HQ:
    group: CommandGroup
    mayor: User
    ward_head: User
    deputy1: User
    deputy2: User

    @property
    def chat_url(self) -> str:
        return f"/messages/g/{self.group.pk}/"


def _person(username: str, family: str, given: str) -> User:
    user = UserFactory(username=username, role=User.Role.HQ_MEMBER)
    StaffFactory(user=user, employee_number=username, family_name=family, given_name=given)
    return user


@pytest.fixture
def hq(transactional_db) -> HQ:
    """本部長 (the mayor) commands; 北区長 (the ward head) is a member, and the post has two
    deputies with accounts: 北区副区長 first, then 北区総務課長. The urgent policy is shortened."""
    mayor = _person("200001", "大阪", "市長")
    ward_head = _person("200002", "北野", "区長")
    deputy1 = _person("200003", "副島", "副区長")
    deputy2 = _person("200004", "総田", "課長")
    group = services.group_create(
        name="大阪市災害対策本部", kind=CommandGroup.Kind.HEADQUARTERS, actor=None
    )
    mayor_post = PostFactory(name="本部長", holder=mayor.staff)
    ward_post = PostFactory(name="北区長", holder=ward_head.staff)
    directory_services.post_set_deputies(
        post=ward_post, deputies=[deputy1.staff, deputy2.staff], actor=None
    )
    services.group_add_member(group=group, post=mayor_post, role="commander", actor=None)
    services.group_add_member(group=group, post=ward_post, role="member", actor=None)
    policies.policy_update(group=group, priority="urgent", actor=mayor, **POLICY)
    return HQ(group, mayor, ward_head, deputy1, deputy2)


def assert_no_horizontal_scroll(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, (page.url, width)


def mark_loaded(page: Page) -> None:
    """A flag that only survives if the page is never reloaded."""
    page.evaluate("window.__notReloaded = true")


def assert_not_reloaded(page: Page) -> None:
    assert page.evaluate("window.__notReloaded === true"), f"{page.url} was reloaded"


def shot(page: Page, name: str) -> None:
    """Screenshots to look at, when HONBU_SCREENSHOTS names a directory (not in normal runs)."""
    folder = os.environ.get("HONBU_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"escalation-{name}.png"), full_page=True)


def js_text(page: Page, msgid: str, *args) -> str:
    """What the page's JavaScript catalogue makes of a string (Japanese once translated)."""
    return page.evaluate("([s, a]) => interpolate(gettext(s), a)", [msgid, list(args)])


def test_unanswered_instruction_is_reminded_then_escalated_to_deputy_live(
    asgi_phone, hq: HQ, celery_services
):
    # Given the ward head's and the first deputy's phones left open on their home pages
    ward = asgi_phone(user=hq.ward_head)
    ward.goto("/")
    deputy = asgi_phone(user=hq.deputy1)
    deputy.goto("/")
    # and the mayor on the headquarters chat, connected
    mayor = asgi_phone(user=hq.mayor)
    mayor.goto(hq.chat_url)
    expect(mayor.locator("#chat")).to_have_attribute("data-conn", "online")
    expect(mayor.locator("#policy-link")).to_have_attribute(
        "href", f"/messages/g/{hq.group.pk}/policy/"
    )
    mark_loaded(mayor)

    # When the mayor sends an urgent instruction asking for 了解, chasing until 了解 (the
    # composer's 督促 override; the rest follows the group's shortened policy)
    mayor.locator("label:has(#as-instruction)").tap()
    mayor.locator("select[name=priority]").select_option("urgent")
    mayor.locator("input[name=requires_ack]").check()
    mayor.locator("#esc-override summary").tap()
    mayor.locator("select[name=esc_stop]").select_option("ack")
    expect(mayor.locator("#esc-override")).to_have_class(re.compile(r"\bchanged\b"))
    assert_no_horizontal_scroll(mayor)
    mayor.locator("textarea[name=body]").fill(INSTRUCTION)
    shot(mayor, "1-composer")
    mayor.locator("#composer button[type=submit]").tap()

    # Then the card shows the escalation summary next to the counters, nobody chased yet
    card = mayor.locator("#messages li.msg.instruction", has_text=INSTRUCTION)
    expect(card).to_be_visible()
    message = Message.objects.get(group=hq.group, body=INSTRUCTION)
    assert message.escalation == POLICY
    summary = card.locator("a.esc-summary")
    expect(summary).to_be_visible()
    expect(summary).to_have_attribute("href", f"/messages/m/{message.pk}/chase/")
    expect(summary).to_have_attribute("data-escalated", "0")
    expect(summary).to_have_attribute("data-unreached", "0")

    # When the mayor opens the per-member status (a second tab; the chat stays open)
    status = mayor.context.new_page()
    status.goto(f"/messages/m/{message.pk}/chase/")
    mark_loaded(status)
    row = status.locator(".chase-row[data-post='北区長']")
    expect(row).to_contain_text("北野 区長")

    # Then, without reloading, the ward head's row goes to "reminded" …
    expect(row).to_have_attribute("data-status", "reminded", timeout=LIVE)
    expect(row).to_contain_text("督促 ×1")
    # … and their phone, left on the home page, shows the red reminder banner
    banner = ward.locator("#reminder-banner")
    expect(banner).to_be_visible(timeout=LIVE)
    expect(banner).to_have_attribute("data-kind", "reminder")
    expect(banner).to_contain_text("督促")
    assert_no_horizontal_scroll(ward)
    shot(status, "2-reminded")
    shot(ward, "3-ward-banner")

    # Then "escalated to deputy", naming the first deputy
    expect(row).to_have_attribute("data-status", "escalated", timeout=LIVE)
    expect(row).to_contain_text("第1代行者へ引き継ぎ")
    expect(row).to_contain_text("副島 副区長")
    assert_no_horizontal_scroll(status)
    # and the chat card's summary says one post is with a deputy
    expect(summary).to_have_attribute("data-escalated", "1", timeout=LIVE)
    expect(summary).to_have_text(
        " · ".join(
            [
                js_text(mayor, "Reminding %s", 0),
                js_text(mayor, "Deputy %s", 1),
                js_text(mayor, "Unreached %s", 0),
            ]
        )
    )
    shot(status, "4-escalated")
    shot(mayor, "5-chat-card")

    # When the deputy follows the banner on their phone to the stand-in page and presses 了解
    deputy_banner = deputy.locator("#reminder-banner")
    expect(deputy_banner).to_be_visible(timeout=LIVE)
    expect(deputy_banner).to_have_attribute("data-kind", "escalation")
    deputy_banner.locator("a").tap()
    expect(deputy).to_have_url(re.compile(r"/messages/standin/\d+/$"))
    expect(deputy.locator(".standin-banner")).to_contain_text("北野 区長")
    expect(deputy.locator("#standin-message")).to_contain_text(INSTRUCTION)
    ack = deputy.locator("#standin-ack")
    box = ack.bounding_box()
    assert box["height"] >= 56 and box["width"] >= 300, box  # one thumb, the screen's width
    assert_no_horizontal_scroll(deputy)
    shot(deputy, "6-standin")
    ack.tap()
    expect(deputy.locator("#standin-state")).to_be_visible()

    # Then the mayor's status page shows the post as covered by the deputy, without reloading
    expect(row).to_have_attribute("data-status", "covered", timeout=LIVE)
    expect(row).to_contain_text("副島 副区長 さんが対応済み")
    expect(row).to_contain_text("第1代行者")
    expect(summary).to_have_attribute("data-escalated", "0", timeout=LIVE)
    assert_not_reloaded(status)
    assert_not_reloaded(mayor)
    status.locator("details.timeline summary").tap()
    shot(status, "7-covered")
    shot(deputy, "8-standin-done")
    for page in (mayor, status, ward, deputy):
        assert_no_horizontal_scroll(page)

    # And the database agrees: one reminder to the ward head, the first deputy only, covered
    chase = Chase.objects.get(message=message)
    assert (chase.state, chase.reminders, chase.deputy_rank, chase.covered_by_id) == (
        "covered",
        1,
        1,
        hq.deputy1.pk,
    )
    assert list(StandIn.objects.filter(chase=chase).values_list("deputy_id", "rank")) == [
        (hq.deputy1.pk, 1)
    ]
    in_app = Notification.objects.filter(message=message, channel="inapp")
    assert sorted(in_app.values_list("kind", "user_id")) == sorted(
        [("reminder", hq.ward_head.pk), ("escalation", hq.deputy1.pk)]
    )

    # When the mayor taps the chat card's summary, it opens the per-member status
    summary.tap()
    expect(mayor).to_have_url(re.compile(rf"/messages/m/{message.pk}/chase/$"))
    expect(mayor.locator(".chase-row[data-post='北区長']")).to_have_attribute(
        "data-status", "covered"
    )
