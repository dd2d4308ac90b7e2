"""Real-browser fixtures: Debian's Chromium driven by Playwright's sync API, phone-sized.

Playwright's sync API runs an asyncio event loop in this thread, so Django's "you are in an
async context" guard must be relaxed for the ORM calls the tests make to build their data. Both
the loop and the relaxed guard last only as long as one browser test module, so they never leak
into the websocket tests (which need the guard and their own event loop).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {
    "viewport": {"width": 360, "height": 740},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
    "locale": "ja-JP",
    "timezone_id": "Asia/Tokyo",
}
BASE_DIR = Path(__file__).resolve().parents[2]
RESULTS_DIR = BASE_DIR / "test-results"
PASSWORD = "correct-horse-battery"  # tests.factories.UserFactory's password


# Every page a browser test opens is watched for Content-Security-Policy violations (issue 13,
# item 8): the browser reports each blocked script, style or connection to a binding, and the
# test fails if anything was blocked, so every flow the suite drives shows the policy holds.
_CSP_WATCH = """
document.addEventListener("securitypolicyviolation", function (e) {
  window.__honbuCsp(e.violatedDirective + " blocked " + (e.blockedURI || "inline") +
    " at " + e.sourceFile + ":" + e.lineNumber + " on " + e.documentURI);
});
"""


def watch_csp(context: BrowserContext) -> list[str]:
    seen: list[str] = []
    context.expose_binding("__honbuCsp", lambda _source, text: seen.append(text))
    context.add_init_script(_CSP_WATCH)
    return seen


def _no_csp_violations(request, seen: list[str]) -> None:
    report = getattr(request.node, "report_call", None)
    if report is not None and report.passed:
        assert seen == [], "Content-Security-Policy violations:\n" + "\n".join(seen)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    # Keep each phase's report on the item so fixtures can see whether the test failed.
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: browser tests need Debian's Chromium "
            "(apt-get install chromium). They are never skipped.",
            pytrace=False,
        )
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def phone_context(browser: Browser, live_server) -> Iterator[BrowserContext]:
    """A 360×740 touch phone with a Japanese browser, pointed at the live server."""
    context = browser.new_context(base_url=live_server.url, **PHONE)
    context.set_default_timeout(10_000)
    context.csp_violations = watch_csp(context)
    yield context
    context.close()


@pytest.fixture
def phone(phone_context: BrowserContext, request) -> Iterator[Page]:
    page = phone_context.new_page()
    yield page
    _no_csp_violations(request, phone_context.csp_violations)
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        RESULTS_DIR.mkdir(exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid)
        page.screenshot(path=str(RESULTS_DIR / f"{name}.png"), full_page=True)


def _screenshot_on_failure(request, pages: list[Page]) -> None:
    report = getattr(request.node, "report_call", None)
    if report is None or not report.failed:
        return
    RESULTS_DIR.mkdir(exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid)
    for i, page in enumerate(pages):
        try:
            page.screenshot(path=str(RESULTS_DIR / f"{name}-{i}.png"), full_page=True)
        except Exception:  # noqa: S110 - a closed page must not hide the real failure
            pass


# The ASGI server itself (`asgi_server`) is in tests/conftest.py: other tests use it too.


@pytest.fixture
def asgi_phone(
    browser: Browser, asgi_server: str, transactional_db, request
) -> Iterator[Callable[..., Page]]:
    """Open phones (each its own browser context: own cookies, own network) on the ASGI server.

    ``asgi_phone()`` gives a page; ``asgi_phone(user=u)`` one already signed in as ``u``
    (session cookie made with SessionStore, like a sign-in would)."""
    contexts: list[BrowserContext] = []
    pages: list[Page] = []
    violations: list[str] = []

    def open_phone(user=None) -> Page:
        context = browser.new_context(base_url=asgi_server, **PHONE)
        context.set_default_timeout(10_000)
        context.expose_binding("__honbuCsp", lambda _source, text: violations.append(text))
        context.add_init_script(_CSP_WATCH)
        contexts.append(context)
        if user is not None:
            context.add_cookies(
                [
                    {
                        "name": settings.SESSION_COOKIE_NAME,
                        "value": session_for(user),
                        "url": asgi_server,
                    }
                ]
            )
        page = context.new_page()
        pages.append(page)
        return page

    yield open_phone
    _screenshot_on_failure(request, pages)
    for context in contexts:
        context.close()
    _no_csp_violations(request, violations)


def session_for(user) -> str:
    """A signed-in session for ``user`` in the database; returns the cookie value."""
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return session.session_key


def sign_in(page: Page, username: str, password: str = PASSWORD, next_url: str = "/") -> None:
    """Through the real sign-in page, the way a person does it."""
    page.goto(f"/accounts/login/?next={next_url}")
    page.locator("input[name=login]").fill(username)
    page.locator("#id_password").fill(password)
    page.locator("form.form button[type=submit]").tap()
    page.wait_for_url(re.compile(re.escape(next_url) + r"$"))
