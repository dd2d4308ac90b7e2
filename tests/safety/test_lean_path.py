"""The answer links over the real server (uvicorn, config.asgi): served by the lean handler
(config/lean.py: a short middleware chain in one thread hop), they must still carry every
security header the full handler sends, be Japanese by default, set and check the CSRF cookie
and token, refuse a cross-site POST, and give the same clear pages for wrong links."""

from __future__ import annotations

import re

import pytest
import requests

from config.lean import LEAN_PATH_PREFIXES
from safety import rounds
from safety.links import link_token
from safety.models import SafetyAnswer, SafetyRequest
from tests.safety.conftest import SAFE

pytestmark = pytest.mark.django_db(transaction=True)
SECURITY_HEADERS = [
    "Content-Security-Policy",
    "X-Frame-Options",
    "X-Content-Type-Options",
    "Referrer-Policy",
    "Cross-Origin-Opener-Policy",
]


@pytest.fixture
def link(city, asgi_server) -> tuple[str, SafetyRequest]:
    round_ = rounds.round_start(actor=city.mayor, title="北部地震 安否確認", target={"all": True})
    request = SafetyRequest.objects.get(round=round_, staff=city.kita_staff[0])
    token = link_token(request_id=request.pk, nonce=request.nonce)
    return f"{asgi_server}/s/{token}/", request


def test_the_answer_page_is_on_the_lean_path_with_every_security_header(link, asgi_server):
    url, _request = link
    assert "/s/" in LEAN_PATH_PREFIXES
    page = requests.get(url, timeout=30)
    full = requests.get(f"{asgi_server}/accounts/login/", timeout=30)  # the full handler

    assert page.status_code == 200 and full.status_code == 200
    for header in SECURITY_HEADERS:
        assert page.headers.get(header) and page.headers.get(header) == full.headers.get(header)
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["Cache-Control"].startswith("max-age=0")
    # No session, no sign-in machinery: only the CSRF cookie the form needs.
    assert set(page.cookies.keys()) == {"csrftoken"}
    assert 'lang="ja"' in page.text and "本人の状況" in page.text


def test_the_answer_page_follows_the_browser_language(link):
    url, _request = link

    english = requests.get(url, headers={"Accept-Language": "en"}, timeout=30)

    assert 'lang="en"' in english.text and "Send my answer" in english.text


def test_a_post_needs_the_csrf_cookie_and_token_and_a_same_site_origin(link, asgi_server):
    url, request = link
    phone = requests.Session()
    page = phone.get(url, timeout=30)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)

    bare = requests.post(url, data=SAFE, headers={"Origin": asgi_server}, timeout=30)
    cross = phone.post(
        url,
        data={**SAFE, "csrfmiddlewaretoken": token},
        headers={"Origin": "https://evil.example"},
        timeout=30,
    )
    assert (bare.status_code, cross.status_code) == (403, 403)
    assert SafetyAnswer.objects.count() == 0

    ok = phone.post(
        url, data={**SAFE, "csrfmiddlewaretoken": token}, headers={"Origin": asgi_server}
    )
    assert ok.status_code == 200 and "回答を受け付けました" in ok.text
    assert SafetyAnswer.objects.filter(request=request, via="link").count() == 1


def test_a_wrong_link_gets_the_clear_page_and_a_mangled_path_too(link, asgi_server):
    url, _request = link
    tampered = url[:-3] + ("aa/" if not url.endswith("aa/") else "bb/")

    for bad in (tampered, f"{asgi_server}/s/not/a/link/"):
        page = requests.get(bad, timeout=30)
        assert page.status_code == 404 and "このリンクは使えません" in page.text
        assert page.headers.get("Content-Security-Policy")
    # Without the trailing slash: CommonMiddleware's redirect, as on the full handler.
    bare = requests.get(url.rstrip("/"), allow_redirects=False, timeout=30)
    assert bare.status_code == 301 and bare.headers["Location"].endswith("/")
