"""Drill: PostgreSQL stopped hard (``pg_ctl stop -m immediate``: a crash, transactions in flight
lost) under the stack, then started again. Its own cluster (initdb under a temp dir, as the
postgres user, on a free port), so the shared server is never touched — and so the drill runs
the same on the embedded default.

While it is away, pages and sends get a translated 503 (the page reloads itself, the composer
gets JSON) within HONBU_DB_POOL_TIMEOUT instead of a 500; when it is back the app recovers by
itself (the pool checks each connection it hands out), the mayor's retried send is stored once,
and nothing is half-written: sequence numbers gap-free, every message with all its receipts and
its one version (docs/reliability.md)."""

from __future__ import annotations

import contextlib
import glob
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import psycopg
import pytest
from django.conf import settings

from deploy.stack import free_port

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(300)]

MEMBERS = 30
POOL_TIMEOUT = 3  # seconds a request waits for a connection before the 503
CSRF = "drillcsrftoken0123456789abcdefgh"  # any 32 characters serve as the CSRF cookie


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}")) or [shutil.which(name)]
    assert found[-1], f"PostgreSQL's {name} is not installed"
    return found[-1]


@dataclass
class Cluster:
    """A PostgreSQL cluster of the drill's own: its data and socket in a temp dir."""

    root: Path
    port: int

    def _as_postgres(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        run_as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        return subprocess.run(
            [*run_as, *args], capture_output=True, text=True, check=check, timeout=120
        )

    def init(self) -> None:
        self._as_postgres(
            _pg_bin("initdb"), "-D", str(self.root / "data"), "-A", "trust", "-U", "postgres",
            "-E", "UTF8", "--locale=C.UTF-8",
        )  # fmt: skip

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c full_page_writes=off"
        )
        self._as_postgres(
            _pg_bin("pg_ctl"), "-D", str(self.root / "data"), "-l", str(self.root / "log"),
            "-w", "-o", options, "start",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self._as_postgres(
            _pg_bin("pg_ctl"), "-D", str(self.root / "data"), "-m", mode, "-w", "stop",
            check=False,
        )  # fmt: skip

    def url(self, db: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{db}"


@contextlib.contextmanager
def own_cluster() -> Iterator[Cluster]:
    root = Path(tempfile.mkdtemp(prefix="honbu-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
    cluster = Cluster(root, free_port())
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        cluster.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


SEED = """
import json, sys
import django
django.setup()
from tests.faults.conftest import make_city
city = make_city(int(sys.argv[1]))
print("SEEDED " + json.dumps({"group": city.group.pk, "mayor": city.sessions[city.mayor.pk]}))
"""


def _prepare(url: str) -> dict:
    """Migrate the drill's database and seed a headquarters group (as a subprocess: this test
    process's ORM is on the test database)."""
    env = dict(os.environ, DATABASE_URL=url, DJANGO_SETTINGS_MODULE="config.settings.test")
    env.pop("HONBU_TEST_SERVE_DB", None)
    run = {"cwd": settings.BASE_DIR, "env": env, "check": True, "timeout": 240}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], **run)
    out = subprocess.run(
        [sys.executable, "-c", SEED, str(MEMBERS)], capture_output=True, text=True, **run
    ).stdout
    return json.loads(out.split("SEEDED ", 1)[1])


class Browser:
    """The mayor over HTTP through nginx, signed in (session and CSRF cookies)."""

    def __init__(self, base: str, session: str) -> None:
        parts = urlsplit(base)
        self.host, self.port = parts.hostname, parts.port
        self.cookie = f"sessionid={session}; csrftoken={CSRF}"

    def request(self, method: str, path: str, body: dict | None = None, **headers):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        data = urlencode(body) if body is not None else None
        headers = {"Cookie": self.cookie, "Accept-Language": "ja", **headers}
        if data is not None:
            headers |= {
                "Content-Type": "application/x-www-form-urlencoded",
                "X-CSRFToken": CSRF,
            }
        started = time.monotonic()
        try:
            conn.request(method, path, body=data, headers=headers)
            response = conn.getresponse()
            return (
                response.status,
                response.read().decode(),
                dict(response.getheaders()),
                (time.monotonic() - started),
            )
        finally:
            conn.close()

    def declare_upload(self, group: int, size: int) -> int:
        """A send that declares a ``size``-byte body and sends none of it: nginx's
        client_max_body_size answers from the headers alone."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            conn.putrequest("POST", f"/messages/g/{group}/send/")
            for name, value in {
                "Cookie": self.cookie,
                "X-CSRFToken": CSRF,
                "Content-Type": "multipart/form-data; boundary=x",
                "Content-Length": str(size),
            }.items():
                conn.putheader(name, value)
            conn.endheaders()
            return conn.getresponse().status
        finally:
            conn.close()

    def send(self, group: int, client_id: str, n: int):
        return self.request(
            "POST",
            f"/messages/g/{group}/send/",
            {
                "client_id": client_id,
                "body": f"【指示{n:02d}】職員の参集状況を報告してください",
                "kind": "instruction",
                "priority": "normal",
            },
            Accept="application/json",
        )


def _consistency(url: str, group: int, intended: list[str]) -> dict:
    """What the database holds after the drill (read straight from the drill's cluster)."""
    with psycopg.connect(url.replace("postgres://", "postgresql://")) as db:
        rows = db.execute(
            "SELECT m.seq, m.client_id::text, m.recipient_count, "
            "(SELECT count(*) FROM messaging_receipt r WHERE r.message_id = m.id), "
            "(SELECT count(*) FROM messaging_messageversion v WHERE v.message_id = m.id) "
            "FROM messaging_message m WHERE m.group_id = %s ORDER BY m.seq",
            [group],
        ).fetchall()
        last_seq = db.execute(
            "SELECT last_seq FROM messaging_commandgroup WHERE id = %s", [group]
        ).fetchone()[0]
    stored = [r[1] for r in rows]
    return {
        "messages": len(rows),
        "lost": len(set(intended) - set(stored)),
        "twice": len(stored) - len(set(stored)),
        "seqs_gap_free": [r[0] for r in rows]
        == list(range(1, len(rows) + 1))
        == list(range(1, last_seq + 1)),
        "receipts_short": sum(1 for r in rows if r[3] != r[2] or r[2] != MEMBERS),
        "versions_wrong": sum(1 for r in rows if r[4] != 1),
    }


def test_postgres_restarted_gives_a_clear_503_recovers_by_itself_and_half_writes_nothing(
    stack_factory, capsys
):
    notes: list[str] = []
    with own_cluster() as cluster:
        admin = psycopg.connect(cluster.url("postgres").replace("postgres://", "postgresql://"))
        admin.autocommit = True
        admin.execute("CREATE DATABASE honbu_fault_pg")
        admin.close()
        url = cluster.url("honbu_fault_pg")
        seeded = _prepare(url)
        group = seeded["group"]
        env = {"HONBU_DB_POOL_TIMEOUT": str(POOL_TIMEOUT)}
        with stack_factory(database_url=url, env=env, workers=1) as stack:
            mayor = Browser(stack.url, seeded["mayor"])
            intended: list[str] = []

            def send_until_stored(n: int) -> tuple[int, float]:
                client_id = str(uuid.uuid4())
                intended.append(client_id)
                tries, started = 0, time.monotonic()
                while True:  # as the composer's outbox: the same client id until it is stored
                    tries += 1
                    status, body, _h, _t = mayor.send(group, client_id, n)
                    if status == 200:
                        return tries, time.monotonic() - started
                    assert status == 503, (status, body[:300])
                    assert time.monotonic() - started < 90, "the app never recovered"
                    time.sleep(0.5)

            for n in range(1, 6):
                assert send_until_stored(n)[0] == 1
            assert mayor.request("GET", "/")[0] == 200
            # the README's proxy lines: nginx refuses a body over client_max_body_size (12m)
            assert mayor.declare_upload(group, 13 * 1024 * 1024) == 413

            # PostgreSQL crashes (immediate stop: no checkpoint, connections cut)
            cluster.stop("immediate")
            down = time.monotonic()
            status, page, headers, took = mayor.request("GET", "/")
            assert status == 503, page[:300]
            headers = {k.lower(): v for k, v in headers.items()}
            assert "データベースに接続できません" in page, page[-1200:]
            assert headers.get("retry-after") == "10"
            assert 'http-equiv="refresh"' in page
            status, body, _h, took_send = mayor.send(group, str(uuid.uuid4()), 99)
            assert status == 503
            assert "データベースに接続できません" in json.loads(body)["error"]
            notes.append(
                f"PostgreSQL stopped (-m immediate): a page got 503 in {took:.1f} s, a send "
                f"503 (JSON) in {took_send:.1f} s (pool timeout {POOL_TIMEOUT} s)"
            )
            time.sleep(max(0.0, 4 - (time.monotonic() - down)))

            # ... and comes back: the next sends and pages work with nobody restarting anything
            cluster.start()
            up = time.monotonic()
            tries, waited = send_until_stored(6)
            notes.append(
                f"PostgreSQL back after {up - down:.1f} s; the mayor's next send stored after "
                f"{tries} tries, {waited:.1f} s"
            )
            for n in range(7, 11):
                assert send_until_stored(n)[0] == 1, "a send failed after the recovery"
            assert mayor.request("GET", "/")[0] == 200
            assert all(p.alive() for p in stack.processes.values()), "a process died"

        held = _consistency(url, group, intended)
    notes.append(f"database after the drill: {held}")
    with capsys.disabled():
        print("\n" + "\n".join(notes))
    assert held == {
        "messages": 10,
        "lost": 0,
        "twice": 0,
        "seqs_gap_free": True,
        "receipts_short": 0,
        "versions_wrong": 0,
    }
