"""Fault drill: more than one machine (issue 13). Two app servers (and a Celery worker on host
B) on two test hosts — Linux network namespaces with a veth link each, made by the test — and
the database host (the root namespace) with the Redis they share, bound to the links'
addresses, PostgreSQL behind a small TCP forwarder on the same addresses (the shared cluster
listens on 127.0.0.1 only), and nginx (deploy/nginx.conf, the production proxy lines) in front
of the app servers. With the embedded default the servers open the same SQLite file. Clients
hold sockets on both hosts, through nginx: one nginx front per app host, so that the drill knows
which host holds which socket (nginx balancing two servers and failing over is drilled in
tests/faults/, deploy/stack.py).

A message sent through host A reaches the sockets held on host B (through Redis on the database
host); host B's link is cut (``ip link set … down``) while instructions go on, then restored: B's
clients notice, reconnect with backoff and catch up by sequence number, and live delivery between
the hosts resumes — nothing lost, nothing twice. This is how "grows past one machine" is shown.

Needs root and iproute2 (``ip netns``); it fails, never skips, without them."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import string
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.conf import settings
from django.db import connection

from messaging.models import Message
from notifications.models import Notification
from tests.conftest import _free_port, serve_test_database
from tests.realtime.wsclients import (
    Member,
    instruction_frame,
    make_group,
    session_cookie,
    session_cookies,
    wait_until,
    ws_url,
)

pytestmark = pytest.mark.django_db(transaction=True)

PER_HOST = 8  # member sockets held on each host


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


class Hosts:
    """Two namespaces ("hosts" a and b), each linked to the root namespace by a veth pair:
    10.248.N.1 (root) — 10.248.N.2 (a), 10.248.N.5 (root) — 10.248.N.6 (b)."""

    def __init__(self) -> None:
        tag = os.getpid() % 100000
        net = f"10.248.{os.getpid() % 250}"
        self.ns = {"a": f"honbu{tag}a", "b": f"honbu{tag}b"}
        self.root_end = {"a": f"hb{tag}a0", "b": f"hb{tag}b0"}
        self.db_addr = {"a": f"{net}.1", "b": f"{net}.5"}  # the database host, per link
        self.addr = {"a": f"{net}.2", "b": f"{net}.6"}

    def up(self) -> None:
        for host in ("a", "b"):
            ns, root_end, inner = self.ns[host], self.root_end[host], f"{self.root_end[host][:-1]}1"
            _ip("netns", "add", ns)
            _ip("link", "add", root_end, "type", "veth", "peer", "name", inner)
            _ip("link", "set", inner, "netns", ns)
            _ip("addr", "add", f"{self.db_addr[host]}/30", "dev", root_end)
            _ip("link", "set", root_end, "up")
            _ip("-n", ns, "addr", "add", f"{self.addr[host]}/30", "dev", inner)
            _ip("-n", ns, "link", "set", inner, "up")
            _ip("-n", ns, "link", "set", "lo", "up")

    def cut(self, host: str) -> None:
        _ip("link", "set", self.root_end[host], "down")

    def restore(self, host: str) -> None:
        _ip("link", "set", self.root_end[host], "up")

    def down(self) -> None:
        for host in ("a", "b"):  # deleting a namespace deletes its end of the pair, and the pair
            subprocess.run(["ip", "netns", "del", self.ns[host]], capture_output=True)
            subprocess.run(["ip", "link", "del", self.root_end[host]], capture_output=True)

    def wrap(self, host: str) -> tuple[str, ...]:
        return ("ip", "netns", "exec", self.ns[host])


@contextlib.contextmanager
def nginx_front(upstream: str) -> Iterator[str]:
    """nginx on the database host (here: the root namespace) from deploy/nginx.conf, in front
    of one app server across its link; yields its base URL."""
    from deploy.stack import NGINX_TEMPLATE, nginx_binary

    port = _free_port()
    prefix = Path(tempfile.mkdtemp(prefix="honbu-hosts-nginx-"))
    text = string.Template(NGINX_TEMPLATE.read_text()).safe_substitute(
        prefix=str(prefix),
        user="user root;" if os.geteuid() == 0 else "",
        worker_connections="1024",
        servers=f"        server {upstream} max_fails=1 fail_timeout=2s;",
        listen=f"127.0.0.1:{port}",
        max_body="12m",
    )
    assert "${" not in text
    (prefix / "nginx.conf").write_text(text)
    command = [nginx_binary(), "-p", str(prefix), "-e", str(prefix / "error.log")]
    proc = subprocess.Popen(
        [*command, "-c", str(prefix / "nginx.conf"), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert asyncio.run(_poll(lambda: _listens(port), 10)), "nginx did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGQUIT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(prefix, ignore_errors=True)


def _listens(port: int) -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def made_hosts() -> Iterator[Hosts]:
    if shutil.which("ip") is None:
        pytest.fail("iproute2 is missing (apt-get install iproute2)", pytrace=False)
    hosts = Hosts()
    try:
        try:
            hosts.up()
        except subprocess.CalledProcessError as exc:
            pytest.fail(f"cannot make test hosts ({exc.cmd}): {exc.stderr}", pytrace=False)
        yield hosts
    finally:
        hosts.down()


@contextlib.contextmanager
def redis_on(addresses: list[str]) -> Iterator[int]:
    """A redis-server of the test's own, listening on the database host's link addresses."""
    binary = shutil.which("redis-server")
    if binary is None:
        from config.embedded import _redis_server_binary

        binary = _redis_server_binary()
    port = _free_port()
    workdir = tempfile.mkdtemp(prefix="honbu-hosts-redis-")
    command = [binary, "--port", str(port), "--bind", *addresses, "--save", "", "--appendonly"]
    proc = subprocess.Popen(
        [*command, "no", "--protected-mode", "no", "--dir", workdir],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        import redis

        client = redis.Redis(host=addresses[0], port=port)
        assert asyncio.run(_poll(lambda: _pings(client), 10)), "redis-server did not start"
        client.close()
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


def _pings(client) -> bool:
    try:
        return bool(client.ping())
    except Exception:
        return False


async def _poll(condition, timeout: float) -> bool:
    return await wait_until(condition, timeout, step=0.1)


class Forwarder(threading.Thread):
    """TCP forwarder on the database host: ``addresses``:port → PostgreSQL on 127.0.0.1."""

    def __init__(self, addresses: list[str], target: tuple[str, int]) -> None:
        super().__init__(daemon=True)
        self.addresses, self.target = addresses, target
        self.port = _free_port()
        self.ready = threading.Event()
        self.loop = asyncio.new_event_loop()

    def run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._start())
        self.ready.set()
        self.loop.run_forever()

    async def _start(self) -> None:
        self.servers = [
            await asyncio.start_server(self._handle, address, self.port)
            for address in self.addresses
        ]

    async def _handle(self, reader, writer) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return

        async def pipe(src, dst) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except Exception:  # noqa: S110 - either side went away: close both
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def stop(self) -> None:
        async def close() -> None:
            for server in self.servers:
                server.close()
            pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in pending:  # the connections still open: end them
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            self.loop.stop()

        self.loop.call_soon_threadsafe(lambda: asyncio.ensure_future(close()))
        self.join(timeout=10)
        if not self.is_alive():
            self.loop.close()


@contextlib.contextmanager
def celery_worker(django_db_blocker, wrap: tuple[str, ...], **extra_env: str) -> Iterator[None]:
    """A real Celery worker (solo pool) on a test host, consuming this run's queue."""
    with django_db_blocker.unblock():
        db_name = str(connection.settings_dict["NAME"])
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.test", HONBU_TEST_SERVE_DB=db_name, **extra_env
    )
    log = tempfile.NamedTemporaryFile(prefix="honbu-hosts-worker-", suffix=".log", delete=False)
    command = [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo"]
    command += ["-Q", settings.CELERY_TASK_DEFAULT_QUEUE, "--without-gossip", "--without-mingle"]
    command += ["--without-heartbeat", "--loglevel", "WARNING"]
    proc = subprocess.Popen(
        [*wrap, *command],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
        os.unlink(log.name)


def _database_env(hosts: Hosts, host: str, forwarder: Forwarder | None) -> dict[str, str]:
    if forwarder is None:  # SQLite: the hosts share the file system
        return {}
    parts = urlsplit(os.environ["DATABASE_URL"])
    netloc = f"{parts.username or 'postgres'}@{hosts.db_addr[host]}:{forwarder.port}"
    return {"DATABASE_URL": urlunsplit(parts._replace(netloc=netloc))}


def test_a_message_through_host_a_reaches_host_b_and_a_cut_link_loses_nothing(
    django_db_blocker,
):
    drill = make_group(2 * PER_HOST + 1)
    gid = drill.group.pk
    away = drill.members[-1]  # no page open anywhere: the instruction's push is for them
    commander_cookie = session_cookie(drill.commander)
    cookies = session_cookies(drill.members[:-1])
    with django_db_blocker.unblock():
        postgres = connection.vendor == "postgresql"
        db = connection.settings_dict
        pg_target = (db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432)) if postgres else None

    with made_hosts() as hosts, redis_on([hosts.db_addr["a"], hosts.db_addr["b"]]) as redis_port:
        forwarder = None
        if postgres:
            forwarder = Forwarder([hosts.db_addr["a"], hosts.db_addr["b"]], pg_target)
            forwarder.start()
            assert forwarder.ready.wait(10)
        try:
            servers = {}
            with contextlib.ExitStack() as stack:
                for host in ("a", "b"):
                    env = {
                        "REDIS_URL": f"redis://{hosts.db_addr[host]}:{redis_port}/0",
                        **_database_env(hosts, host, forwarder),
                    }
                    servers[host] = stack.enter_context(
                        serve_test_database(
                            django_db_blocker,
                            host=hosts.addr[host],
                            wrap=hosts.wrap(host),
                            **env,
                        )
                    )
                # A Celery worker on host B runs what the servers queue (Redis on the db host).
                stack.enter_context(
                    celery_worker(
                        django_db_blocker,
                        hosts.wrap("b"),
                        REDIS_URL=f"redis://{hosts.db_addr['b']}:{redis_port}/0",
                        **_database_env(hosts, "b", forwarder),
                    )
                )
                # nginx on the database host in front of each app host, across its link.
                fronts = {
                    host: stack.enter_context(nginx_front(urlsplit(servers[host]).netloc))
                    for host in ("a", "b")
                }
                result = asyncio.run(_drill(hosts, fronts, gid, commander_cookie, cookies))
                # The first instruction (important, sent through A) was pushed by the worker on
                # B to the one member with no page open: presence is shared through Redis too.
                first = Message.objects.get(group_id=gid, seq=1)
                pushed = Notification.objects.filter(
                    subject_id=first.pk, channel=Notification.Channel.PUSH
                )
                assert _wait_for(lambda: pushed.exists(), 60), "the worker on host B ran nothing"
                pushed_to = set(pushed.values_list("user_id", flat=True))
        finally:
            if forwarder is not None:
                forwarder.stop()

    last = result["last"]
    on_a, on_b = result["a"], result["b"]
    # Before the cut: what the commander sent through A reached every socket on B, live.
    assert result["crossed"], [m.last_seq for m in on_b]
    # B's sockets noticed the cut and came back; everyone has every instruction, once.
    assert all(m.connects >= 2 for m in on_b), [m.connects for m in on_b]
    assert all(m.connects == 1 for m in on_a), [m.connects for m in on_a]
    for member in on_a + on_b:
        assert member.missing(last) == []
        assert member.live_dupes == 0
    # After the link came back, live delivery between the hosts works both ways.
    assert result["after"]
    assert pushed_to == {away.pk}


def _wait_for(condition, timeout: float) -> bool:
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


async def _drill(hosts: Hosts, fronts: dict, gid: int, commander_cookie: str, cookies: list[str]):
    def member(host: str, cookie: str) -> Member:
        # Pings notice a dead link in seconds (a phone's network stack does it its own way).
        return Member(ws_url(fronts[host]), cookie, gid, ping_interval=1, ping_timeout=2)

    commander = member("a", commander_cookie)
    on_a = [member("a", c) for c in cookies[:PER_HOST]]
    on_b = [member("b", c) for c in cookies[PER_HOST:]]
    clients = [commander, *on_a, *on_b]
    for client in clients:
        client.start()
    sent = 0

    async def instruct(via: Member, kind: str = "instruction") -> int:
        nonlocal sent
        sent += 1
        await via.ws.send(instruction_frame(gid, sent, str(uuid.uuid4()), kind=kind))
        return sent

    try:
        for client in clients:
            await asyncio.wait_for(client.connected.wait(), 30)
        n = await instruct(commander)  # through host A
        crossed = await wait_until(lambda: all(m.last_seq >= n for m in on_b), 20)

        hosts.cut("b")
        for _ in range(3):
            n = await instruct(commander)
        await wait_until(lambda: all(m.last_seq >= n for m in on_a), 20)
        await wait_until(lambda: all(m.ws is None for m in on_b), 20)  # B's clients noticed
        await asyncio.sleep(1)
        hosts.restore("b")
        back = await wait_until(lambda: all(m.connects >= 2 and m.last_seq >= n for m in on_b), 60)

        # Live both ways again: through A to B, and through B to A.
        n = await instruct(commander)
        after = await wait_until(lambda: all(m.last_seq >= n for m in on_b), 20)
        n = await instruct(on_b[0], kind="message")  # a member's report, through host B
        after = after and await wait_until(
            lambda: all(m.last_seq >= n for m in [commander, *on_a, *on_b]), 20
        )
        return {"crossed": crossed, "back": back, "after": after, "last": n, "a": on_a, "b": on_b}
    finally:
        await asyncio.gather(*(c.stop() for c in clients))
