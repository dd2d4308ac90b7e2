"""Friendly, translated 403/404/500 pages; a refusal is logged as one line, never a traceback."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from django.conf import settings
from django.test import RequestFactory
from django.utils import translation
from django.views.defaults import server_error

from tests.factories import StaffFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_a_signed_in_non_administrator_gets_the_403_page_and_no_traceback(client, caplog):
    staff = UserFactory(role="staff")
    StaffFactory(user=staff)
    client.force_login(staff)
    caplog.set_level(logging.INFO)

    response = client.get("/admin/", follow=True)

    assert response.redirect_chain == [("/admin/login/?next=/admin/", 302)]
    assert response.status_code == 403
    page = response.content.decode()
    assert '<html lang="ja">' in page
    assert "このページを開く権限がありません" in page
    assert "Forbidden" not in page
    records = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [(r.name, r.levelname, r.getMessage()) for r in records] == [
        ("django.request", "WARNING", "Forbidden (Permission denied): /admin/login/")
    ]
    assert [r for r in caplog.records if r.exc_info or r.exc_text] == []
    assert "Traceback" not in caplog.text


def test_a_django_request_record_reaches_one_console_handler():
    """Django's own "django" console handler plus the root's printed every 403 twice."""
    reached = []
    logger = logging.getLogger("django.request")
    while logger:
        reached += [
            h
            for h in logger.handlers
            if type(h) is logging.StreamHandler and h.level <= logging.WARNING
        ]
        logger = logger.parent if logger.propagate else None
    assert len(reached) == 1


def test_a_missing_page_is_the_translated_404_page(client):
    staff = UserFactory(role="staff")
    StaffFactory(user=staff)
    client.force_login(staff)

    response = client.get("/no-such-page/")

    assert response.status_code == 404
    page = response.content.decode()
    assert "ページが見つかりません" in page and 'href="/"' in page


def test_the_500_page_needs_no_request_context_nor_the_database(django_assert_num_queries):
    source = (Path(settings.BASE_DIR) / "templates" / "500.html").read_text()
    assert "{% url" not in source and "{% static" not in source and "{% extends" not in source

    with translation.override("ja"), django_assert_num_queries(0):
        response = server_error(RequestFactory().get("/"))

    assert response.status_code == 500
    page = response.content.decode()
    assert '<html lang="ja">' in page
    assert "サーバーでエラーが発生しました" in page and 'href="/"' in page


def test_a_database_away_is_a_translated_503_that_retries_not_a_500(client, monkeypatch):
    """PostgreSQL restarting: the page says what happened, in Japanese, and reloads itself; the
    composer's send gets JSON it can show and retry (tests/faults/test_postgres.py drills it
    against a real PostgreSQL that is stopped)."""
    from django.db import OperationalError

    staff = UserFactory(role="staff")
    StaffFactory(user=staff)
    client.force_login(staff)
    client.raise_request_exception = False

    def away(*args, **kwargs):
        raise OperationalError("connection failed: server closed the connection unexpectedly")

    # every request reads its session from the database first
    monkeypatch.setattr("django.contrib.sessions.backends.db.SessionStore.load", away)
    page = client.get("/")
    send = client.post("/messages/g/1/send/", {"body": "x"}, HTTP_ACCEPT="application/json")

    assert page.status_code == 503 and page["Retry-After"] == "10"
    html = page.content.decode()
    assert "データベースに接続できません" in html and 'http-equiv="refresh"' in html
    assert "500" not in html.split("<main", 1)[1][:200]
    assert send.status_code == 503
    assert "データベースに接続できません" in send.json()["error"]
