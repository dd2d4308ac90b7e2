"""Headers (issue 13, item 8): a strict Content-Security-Policy on every page, reports of what it
blocked, and HTTPS-only in production (redirect and HSTS). That the pages actually hold under the
policy in Chromium is shown by tests/browser/test_csp.py and by every browser test."""

import json
import logging
import os
import subprocess
import sys

import pytest
from csp.middleware import CSPMiddleware
from django.conf import settings
from django.test import RequestFactory
from django.urls import reverse

from config.security import server_error

pytestmark = pytest.mark.django_db


def _directives(response) -> dict[str, list[str]]:
    policy = response["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()}


def test_every_page_has_a_strict_policy(client, staff_user):
    client.force_login(staff_user)
    for url in ["/", reverse("directory:search"), reverse("messaging:group_list")]:
        policy = _directives(client.get(url))
        assert policy["script-src"] == ["'self'"], url
        assert policy["style-src"] == ["'self'"], url
        assert policy["object-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"]
        assert policy["report-uri"] == ["/csp-report/"]
    # The sign-in page too, before anyone is known.
    client.logout()
    assert _directives(client.get(reverse("account_login")))["script-src"] == ["'self'"]


def test_no_template_has_inline_script_or_style_attributes():
    """The policy would block them; catch one before a browser test has to."""
    offenders = []
    for root, _dirs, files in os.walk(os.path.join(settings.BASE_DIR, "templates")):
        for name in files:
            path = os.path.join(root, name)
            text = open(path, encoding="utf-8").read()
            if name in ("500.html", "503.html"):  # their own styles, allowed for them alone
                continue
            if name.endswith("_pdf.html"):  # rendered by WeasyPrint into a PDF, never served
                continue
            for bad in ("<script>", " onclick=", " onload=", " onerror=", ' style="', "<style"):
                if bad in text:
                    offenders.append(f"{path}: {bad.strip()}")
    assert offenders == []


def test_the_browser_reports_what_it_blocked(client, caplog):
    report = {
        "csp-report": {
            "document-uri": "https://honbu.example.jp/messages/",
            "violated-directive": "script-src-elem",
            "blocked-uri": "inline",
        }
    }
    with caplog.at_level(logging.WARNING, logger="honbu.csp"):
        response = client.post(
            "/csp-report/", json.dumps(report), content_type="application/csp-report"
        )
    assert response.status_code == 204
    assert "script-src-elem" in caplog.text and "/messages/" in caplog.text

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="honbu.csp"):
        big = client.post("/csp-report/", "x" * 100_000, content_type="application/csp-report")
        junk = client.post("/csp-report/", "{not json", content_type="application/csp-report")
    assert big.status_code == junk.status_code == 204 and caplog.text == ""
    assert client.get("/csp-report/").status_code == 405


def test_the_server_error_page_keeps_its_own_styles_and_no_script():
    request = RequestFactory().get("/")
    response = server_error(request)
    # The decorator marks the response; the middleware writes the header from it.
    response = CSPMiddleware(lambda r: response).process_response(request, response)
    policy = _directives(response)
    assert "'unsafe-inline'" in policy["style-src"] and policy["script-src"] == ["'self'"]


PRODUCTION_CHECK = """
import django
django.setup()
from django.test import Client
c = Client(SERVER_NAME="honbu.example.jp")
plain = c.get("/accounts/login/")
print(plain.status_code, plain.get("Location"))
secure = c.get("/csp-report/", HTTP_X_FORWARDED_PROTO="https")
print(secure.status_code, secure.get("Strict-Transport-Security"))
"""


def test_production_is_https_only():
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DJANGO_SECRET_KEY": "x" * 50,
        "DJANGO_ALLOWED_HOSTS": "honbu.example.jp",
        "HONBU_PUBLIC_URL": "https://honbu.example.jp",
        # The suite's own Redis: production settings must not start an embedded one.
        "REDIS_URL": settings.REDIS_URL,
    }
    result = subprocess.run(
        [sys.executable, "-c", PRODUCTION_CHECK],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    plain, secure = result.stdout.strip().splitlines()[-2:]
    assert plain == "301 https://honbu.example.jp/accounts/login/"
    assert secure == "405 max-age=31536000"
