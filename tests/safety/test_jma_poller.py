"""The poller against a real HTTP server on 127.0.0.1: conditional GET, entries seen once, bad
documents refused and logged while the others are processed, network errors retried on the next
tick, two polls at once starting one round, the beat task off unless a feed is set."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading

import pytest
from django.conf import settings as django_settings
from django.db import connection

from safety.jma.models import JmaFeed, JmaReport, JmaStep
from safety.jma.poller import MAX_ATTEMPTS, jma_poll
from safety.models import Incident, SafetyRound
from safety.tasks import safety_jma_poll_task

pytestmark = pytest.mark.django_db

BAD = (
    "VXSE53_malformed.xml",
    "VXSE53_xxe.xml",
    "VXSE53_billion_laughs.xml",
    "VXSE53_huge.xml",
)


def rows() -> dict[str, JmaReport]:
    return {r.url.rsplit("/", 1)[1]: r for r in JmaReport.objects.all()}


def jma_warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "safety.jma"]


# --- conditional GET and entries seen once ---------------------------------------------------
def test_an_unchanged_feed_is_not_downloaded_again(city, jma):
    jma.publish("VXSE53_elsewhere.xml")
    first = jma_poll()

    second = jma_poll()

    assert first.not_modified is False and len(first.done) == 1
    assert second.not_modified is True and second.done == []
    (_p1, h1), (_p2, h2) = [r for r in jma.requests if r[0] == "/feed.xml"]
    assert "If-None-Match" not in h1 and "If-Modified-Since" not in h1
    assert h2["If-None-Match"] == jma.etag and h2["If-Modified-Since"] == jma.last_modified
    assert jma.documents_requested() == ["VXSE53_elsewhere.xml"]
    feed = JmaFeed.objects.get(url=jma.feed_url)
    assert (feed.etag, feed.last_modified, feed.error) == (jma.etag, jma.last_modified, "")


def test_entries_already_seen_are_never_downloaded_again(city, jma):
    jma.publish("VXSE53_elsewhere.xml", "VXSE53_5minus_osaka.xml")
    jma_poll()

    jma.publish("VXSE53_elsewhere.xml", "VXSE53_5minus_osaka.xml", "VXSE53_unreceived.xml")
    result = jma_poll()

    assert result.new == 1 and len(result.done) == 1
    assert jma.documents_requested() == [
        "VXSE53_5minus_osaka.xml",  # oldest first
        "VXSE53_elsewhere.xml",
        "VXSE53_unreceived.xml",
    ]


def test_kinds_we_do_not_act_on_are_neither_downloaded_nor_recorded(city, jma):
    jma.publish("VXSE52_osaka.xml", "VXSE53_elsewhere.xml")

    result = jma_poll()

    assert result.new == 1
    assert list(rows()) == ["VXSE53_elsewhere.xml"]
    assert jma.documents_requested() == ["VXSE53_elsewhere.xml"]


# --- bad input -------------------------------------------------------------------------------
def test_bad_documents_are_refused_and_logged_and_the_others_still_processed(city, jma, caplog):
    caplog.set_level("INFO", logger="safety.jma")
    jma.publish(*BAD, "VXSE53_5minus_osaka.xml")

    result = jma_poll()

    found = rows()
    assert {name: found[name].state for name in BAD} == dict.fromkeys(BAD, "refused")
    assert found["VXSE53_malformed.xml"].error.startswith("malformed XML")
    assert found["VXSE53_xxe.xml"].error == "forbidden XML (DTDForbidden)"
    assert found["VXSE53_billion_laughs.xml"].error == "forbidden XML (DTDForbidden)"
    assert found["VXSE53_huge.xml"].error == f"too large: over {5 * 1024 * 1024} bytes"
    assert sorted(result.refused) == sorted(found[name].pk for name in BAD)
    logged = jma_warnings(caplog)
    for name in BAD:
        assert any("refused" in m and name in m for m in logged), name
    # the good one, published before them, still started its round
    assert found["VXSE53_5minus_osaka.xml"].outcome == "started"
    assert SafetyRound.objects.count() == 1


def test_refused_documents_are_not_downloaded_again(city, jma):
    jma.publish(*BAD)
    jma_poll()
    asked = len(jma.documents_requested())

    jma.publish(*BAD, "VXSE53_elsewhere.xml")  # the feed changes: a new ETag
    jma_poll()

    assert jma.documents_requested()[asked:] == ["VXSE53_elsewhere.xml"]


def test_a_link_to_another_site_is_refused_without_being_fetched(city, jma):
    foreign = (
        "<entry>\n<title>震源・震度に関する情報</title>\n"
        "<id>https://www.data.jma.go.jp/developer/xml/data/elsewhere_VXSE53.xml</id>\n"
        "<updated>2024-06-01T05:00:00Z</updated>\n"
        '<link type="application/xml" href="http://127.0.0.2:9/data/VXSE53_x.xml"/>\n'
        "</entry>\n"
    )
    jma.publish("VXSE53_elsewhere.xml", raw_entries=(foreign,))

    result = jma_poll()

    [row] = JmaReport.objects.filter(pk__in=result.refused)
    assert (row.state, row.error) == ("refused", "the link leaves the feed's site")
    assert len(result.done) == 1


# --- network errors: retried on the next tick ------------------------------------------------
def test_an_unreachable_feed_is_logged_and_read_on_the_next_tick(city, jma, settings, caplog):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    settings.HONBU_JMA_FEED_URL = f"http://127.0.0.1:{port}/feed.xml"

    down = jma_poll()

    assert down.error.startswith("ConnectionError") and JmaReport.objects.count() == 0
    assert JmaFeed.objects.get(url=settings.HONBU_JMA_FEED_URL).error == down.error
    assert any("not read (trying again on the next tick)" in m for m in jma_warnings(caplog))
    settings.HONBU_JMA_FEED_URL = jma.feed_url
    jma.publish("VXSE53_5minus_osaka.xml")
    assert len(jma_poll().done) == 1


def test_a_slow_or_missing_document_is_tried_again_on_the_next_tick(city, jma, settings, caplog):
    settings.HONBU_JMA_TIMEOUT_SECONDS = 0.5
    jma.delays["/data/VXSE53_5minus_osaka.xml"] = 1.5
    jma.publish("VXSE53_5minus_osaka.xml", "VXSE53_elsewhere.xml")

    first = jma_poll()

    slow = rows()["VXSE53_5minus_osaka.xml"]
    assert (slow.state, slow.attempts) == ("pending", 1) and "ReadTimeout" in slow.error
    assert first.retry == [slow.pk] and len(first.done) == 1  # the other one was processed
    assert any("trying again on the next tick" in m for m in jma_warnings(caplog))
    assert JmaFeed.objects.get(url=jma.feed_url).etag == ""  # not settled: no 304 next time
    del jma.delays["/data/VXSE53_5minus_osaka.xml"]

    second = jma_poll()

    assert second.not_modified is False and second.done == [slow.pk]
    assert SafetyRound.objects.count() == 1
    assert JmaFeed.objects.get(url=jma.feed_url).etag == jma.etag


def test_a_document_failing_every_time_is_given_up_after_a_few_ticks(city, jma):
    missing = (
        "<entry>\n<title>震源・震度に関する情報</title>\n<id>urn:missing</id>\n"
        "<updated>2024-06-01T05:00:00Z</updated>\n"
        '<link type="application/xml" href="data/VXSE53_gone.xml"/>\n</entry>\n'
    )
    jma.publish(raw_entries=(missing,))

    for _ in range(MAX_ATTEMPTS + 2):
        jma_poll()

    row = JmaReport.objects.get(entry_id="urn:missing")
    assert (row.state, row.attempts, row.error) == ("failed", MAX_ATTEMPTS, "HTTP 404")
    assert jma.hits("/data/VXSE53_gone.xml") == MAX_ATTEMPTS


# --- two workers -----------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_two_polls_at_once_start_one_round(city, jma):
    # The 震度速報 is slow, so the second worker reaches the 震源・震度情報 of the same quake
    # while the first still reads it: both reports are applied at about the same time.
    jma.delays["/data/VXSE51_5minus_osaka.xml"] = 0.3
    jma.publish("VXSE51_5minus_osaka.xml", "VXSE53_5minus_osaka.xml", "VXSE53_5plus_osaka.xml")
    start = threading.Barrier(2)
    results, errors = [], []

    def worker():
        try:
            start.wait()
            results.append(jma_poll())
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)

    assert errors == []
    assert sorted(pk for r in results for pk in r.done) == sorted(
        JmaReport.objects.values_list("pk", flat=True)
    )  # each report applied by exactly one of them
    assert jma.hits("/data/VXSE53_5plus_osaka.xml") == 1
    assert SafetyRound.objects.filter(jma_event_id="20240601100048").count() == 1
    assert SafetyRound.objects.filter(jma_event_id="20240601143012").count() == 1
    assert Incident.objects.count() == 1
    assert JmaStep.objects.filter(step="round").count() == 2


# --- the beat task ---------------------------------------------------------------------------
def test_the_task_returns_at_once_when_no_feed_is_set(city, settings):
    settings.HONBU_JMA_FEED_URL = ""

    assert safety_jma_poll_task() is None
    assert JmaFeed.objects.count() == 0


def test_the_task_polls_the_configured_feed(city, jma):
    jma.publish("VXSE53_5minus_osaka.xml")

    result = safety_jma_poll_task()

    assert result["url"] == jma.feed_url and len(result["done"]) == 1
    assert SafetyRound.objects.count() == 1


@pytest.mark.parametrize(
    ("url", "scheduled"),
    [("", None), ("https://www.data.jma.go.jp/developer/xml/feed/eqvol.xml", 30.0)],
)
def test_beat_polls_every_30_seconds_only_when_a_feed_is_set(url, scheduled):
    env = {
        **os.environ,
        "HONBU_JMA_FEED_URL": url,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
    }
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings as s; "
            "e = s.CELERY_BEAT_SCHEDULE.get('jma-poll'); "
            "print(e and (e['task'], e['schedule']))",
        ],
        cwd=django_settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()

    assert out == (str(("safety.jma_poll_task", scheduled)) if scheduled else "None")
