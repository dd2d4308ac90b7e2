"""Every page holds under the strict Content-Security-Policy in Chromium (issue 13, item 8).

The demo city is loaded and each demo sign-in walks the site the way a curious person would:
every same-site link it can see, a couple of each kind of page, plus the public answer page,
the error pages and the sign-in page. The browser fixtures fail the test on any violation
(tests/browser/conftest.py: every page is watched); this test makes sure every page is seen, and
that the policy is really there and strict while it happens."""

from __future__ import annotations

import re
from collections import Counter
from urllib.parse import urlsplit

import pytest
from django.core.management import call_command

from demo.data import SIGNIN_LABELS
from directory.models import User
from safety.links import link_token
from safety.models import SafetyRequest

pytestmark = pytest.mark.django_db(transaction=True)

# Links not to follow: they sign out, download files, or are the admin's forms for changing or
# deleting things (one of each admin list is enough).
SKIP = re.compile(
    r"^/(accounts/logout|i18n/)|/(export|download)|\.(csv|xlsx|pdf|json)$|^/messages/attachments/"
    r"|^/admin/.+/(add|delete|history)/|^/admin/logout|/action/$"
)
PER_KIND = 2  # pages per kind of page (same path with the numbers taken out)
MAX_PAGES = 90  # per person


def _kind(path: str) -> str:
    return re.sub(r"\d+", "N", path)


def _walk(page, start: str = "/") -> list[str]:
    seen_kinds: Counter[str] = Counter()
    visited: list[str] = []
    queue = [start]
    while queue and len(visited) < MAX_PAGES:
        path = queue.pop(0)
        kind = _kind(path)
        enough = 1 if path.startswith("/admin/") else PER_KIND  # the admin's pages are alike
        if path in visited or seen_kinds[kind] >= enough or SKIP.search(path):
            continue
        seen_kinds[kind] += 1
        response = page.goto(path, timeout=30_000)  # some admin pages are large
        assert response is not None
        policy = response.headers.get("content-security-policy", "")
        if response.headers.get("content-type", "").startswith("text/html"):
            assert (
                "script-src 'self'" in policy
                and "unsafe-inline" not in policy.split("style-src")[0]
            ), (path, policy)
        page.wait_for_load_state("networkidle")
        visited.append(path)
        for href in page.eval_on_selector_all("a[href]", "as => as.map(a => a.href)"):
            url = urlsplit(href)
            if url.netloc == urlsplit(page.url).netloc and url.path not in visited:
                queue.append(url.path + (f"?{url.query}" if url.query else ""))
    return visited


def test_every_page_holds_under_the_policy(asgi_phone):
    call_command("seed_demo", "--staff", "300")
    walked = {}
    for number, _label in SIGNIN_LABELS:
        user = User.objects.get(username=number)
        phone = asgi_phone(user=user)
        # The live channel connects under connect-src 'self' and the server talks over it.
        with phone.expect_websocket() as socket_info:
            phone.goto("/")
        socket_info.value.wait_for_event("framereceived")
        walked[number] = _walk(phone)

    everything = {p for pages in walked.values() for p in pages}
    for must in [
        "/",
        "/directory/",
        "/messages/",
        "/notifications/",
        "/safety/",
        "/admin/",
        "/drills/",
        "/messages/records/",
    ]:
        assert must in everything, f"{must} was never reached"
    assert any(p.startswith("/messages/g/") for p in everything)
    assert any(p.startswith("/drills/") for p in everything)
    assert len(everything) >= 30, sorted(everything)

    # The pages nobody signed in sees: sign-in, an answer link (the demo's past round, closed),
    # a broken one, the password reset.
    request = SafetyRequest.objects.order_by("pk").first()
    answer = "/s/" + link_token(request_id=request.pk, nonce=request.nonce) + "/"
    stranger = asgi_phone()
    for path in ["/accounts/login/", answer, "/s/not-a-real-link/", "/accounts/password/reset/"]:
        stranger.goto(path)
        stranger.wait_for_load_state("networkidle")
    assert stranger.get_by_role("button").count() >= 1
