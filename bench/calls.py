"""Call set-up time and the server's cost per call: ``.venv/bin/python bench/calls.py
[--calls 20] [--active 100]``.

1. Set-up time, real WebRTC: ``--calls`` one-to-one calls between two Chromium phones with
   fake microphones (separate browser instances, host candidates on this machine, the ASGI server
   serving ``config.asgi:application``). Per call: *ring* = the caller's tap on 音声通話 (on the
   callee's profile) → the ringing screen shown on the callee's open page; *connect* = the
   callee's tap on 応答 → both call pages connected (ICE connected on both sides; this includes
   loading the call page, its socket, the answer, offer/answer/candidates through Honbu and
   the ICE checks); *total* = ring + connect (an immediate answer). Times are taken in the
   pages (a MutationObserver stamps Date.now(); one machine, one clock). Baseline in the same
   run: two RTCPeerConnections in one page connected to each other directly (no server, no
   page load): what WebRTC itself costs here; ratio = connect / baseline (p50).
2. One at a time: ``--sequential`` whole calls in a row between websocket clients (set up as
   below, then hung up, which writes the conversation line): signalling latency and the
   server's CPU per call with nothing competing.
3. Signalling cost: ``--active`` calls set up at once between pairs of ``websockets`` clients
   (call.start, ring, call.answer, a 2.6 KB offer and answer and 8 candidates each way through
   call.signal; no media: the server never carries audio), then left active. Measured on the
   ASGI server process: CPU seconds for setting them up (per call), resident memory with them
   active minus the same sockets connected without calls (per call), and CPU while they sit
   active for ``--idle`` seconds. Signalling latency per call (call.start sent → the last
   candidate received) p50/p99.

Never touches your data: a SQLite file and an embedded Redis in a temporary directory; only
127.0.0.1 is contacted. Exits non-zero on errors."""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
]
# Stamps, in every page, when the ringing screen appears and when the call page connects.
STAMPS = """
(() => {
  const mark = () => {
    if (!window.__t_ring && document.getElementById("call-ring")) window.__t_ring = Date.now();
    const c = document.getElementById("call");
    if (c && c.dataset.connected === "1" && !window.__t_connected) {
      window.__t_connected = Date.now();
    }
  };
  new MutationObserver(mark).observe(document, {
    subtree: true, childList: true, attributes: true, attributeFilter: ["data-connected"],
  });
})();
"""
LOOPBACK = """
async () => {
  const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  const t0 = performance.now();
  const a = new RTCPeerConnection(), b = new RTCPeerConnection();
  a.onicecandidate = (e) => e.candidate && b.addIceCandidate(e.candidate);
  b.onicecandidate = (e) => e.candidate && a.addIceCandidate(e.candidate);
  stream.getTracks().forEach((t) => a.addTrack(t, stream));
  const up = (pc) => new Promise((resolve) => {
    const check = () => pc.connectionState === "connected" && resolve();
    pc.addEventListener("connectionstatechange", check); check();
  });
  await a.setLocalDescription(await a.createOffer());
  await b.setRemoteDescription(a.localDescription);
  await b.setLocalDescription(await b.createAnswer());
  await a.setRemoteDescription(b.localDescription);
  await Promise.all([up(a), up(b)]);
  const ms = performance.now() - t0;
  a.close(); b.close(); stream.getTracks().forEach((t) => t.stop());
  return ms;
}
"""
SDP = (
    "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
    "a=group:BUNDLE 0\r\na=extmap-allow-mixed\r\na=msid-semantic: WMS stream\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126\r\nc=IN IP4 0.0.0.0\r\n"
    "a=rtcp:9 IN IP4 0.0.0.0\r\na=ice-ufrag:Hk3b\r\na=ice-pwd:k2V9tn1z0Bq9Wm0xq2l3B3aG\r\n"
    "a=ice-options:trickle\r\na=fingerprint:sha-256 "
    + ":".join(["AB"] * 32)
    + "\r\na=setup:actpass\r\na=mid:0\r\n"
    + "".join(f"a=extmap:{i} urn:ietf:params:rtp-hdrext:ext-{i}\r\n" for i in range(1, 6))
    + "a=sendrecv\r\na=msid:stream track\r\na=rtcp-mux\r\na=rtcp-rsize\r\n"
    + "".join(
        f"a=rtpmap:{pt} {name}\r\na=fmtp:{pt} minptime=10;useinbandfec=1;stereo=0;x={'y' * 40}\r\n"
        for pt, name in [
            (111, "opus/48000/2"),
            (63, "red/48000/2"),
            (9, "G722/8000"),
            (0, "PCMU/8000"),
            (8, "PCMA/8000"),
            (13, "CN/8000"),
            (110, "telephone-event/48000"),
            (126, "telephone-event/8000"),
        ]
    )
    + "a=ssrc:1001 cname:abcdefghijklmnop\r\na=ssrc:1001 msid:stream track\r\n"
)


def candidate(n: int) -> dict:
    return {
        "candidate": f"candidate:{n} 1 udp {2122260223 - n} 192.0.2.2 {50000 + n} typ host "
        "generation 0 ufrag Hk3b network-id 1",
        "sdpMid": "0",
        "sdpMLineIndex": 0,
        "usernameFragment": "Hk3b",
    }


def pct(samples: list[float], p: float) -> float:
    if not samples:
        return math.nan
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


# --- seeding ---------------------------------------------------------------------------------
def seed(count: int) -> tuple[list[int], list[str]]:
    """``count`` people with accounts and signed-in sessions: (staff ids, session keys)."""
    from datetime import timedelta

    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.hashers import make_password
    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.models import Session
    from django.utils import timezone
    from django.utils.crypto import get_random_string

    from directory.models import OrgUnit, Staff, User
    from directory.services import staff_search_fields, unit_create

    unit = unit_create(
        code="CALLS", name="通話試験課", kana="つうわしけんか", kind=OrgUnit.Kind.SECTION
    )
    password = make_password("calls-bench-password")
    users = User.objects.bulk_create(
        [
            User(username=f"8{i:05d}", email=f"c{i:05d}@bench.example.jp", password=password)
            for i in range(count)
        ]
    )
    staff = []
    for i, user in enumerate(users):
        s = Staff(
            employee_number=user.username,
            family_name="試験",
            given_name=f"{i}号",
            family_kana="しけん",
            given_kana=f"{i}ごう",
            unit=unit,
            user=user,
        )
        s.search_key, s.kana_sort = staff_search_fields(s)
        staff.append(s)
    staff = Staff.objects.bulk_create(staff)
    store, expires = SessionStore(), timezone.now() + timedelta(days=1)
    sessions = [
        Session(
            session_key=get_random_string(32, "abcdefghijklmnopqrstuvwxyz0123456789"),
            session_data=store.encode(
                {
                    SESSION_KEY: str(u.pk),
                    BACKEND_SESSION_KEY: "django.contrib.auth.backends.ModelBackend",
                    HASH_SESSION_KEY: u.get_session_auth_hash(),
                }
            ),
            expire_date=expires,
        )
        for u in users
    ]
    Session.objects.bulk_create(sessions)
    return [s.pk for s in staff], [s.session_key for s in sessions]


# --- 1. set-up time in browsers --------------------------------------------------------------
def setup_times(base: str, staff_ids: list[int], cookies: list[str], calls: int) -> dict:
    from playwright.sync_api import sync_playwright

    phone = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
    rows, loopback = [], []
    with sync_playwright() as p:
        browsers = [p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS) for _ in (0, 1)]
        pages = []
        for browser, cookie in zip(browsers, cookies[:2], strict=True):
            context = browser.new_context(base_url=base, locale="ja-JP", **phone)
            context.set_default_timeout(30_000)
            context.add_cookies([{"name": "sessionid", "value": cookie, "url": base}])
            context.add_init_script(STAMPS)
            pages.append(context.new_page())
        caller, callee = pages
        for n in range(calls + 1):  # the first one warms up
            callee.goto("/")
            callee.wait_for_function("() => window.honbuLive && honbuLive.send({type: 'ping'})")
            caller.goto(f"/directory/staff/{staff_ids[1]}/")
            t_start = time.time() * 1000
            caller.locator(".call-start button").click()
            callee.wait_for_function("() => window.__t_ring")
            t_ring = callee.evaluate("window.__t_ring")
            t_answer = time.time() * 1000
            callee.locator("#ring-answer").click()
            caller.wait_for_function("() => window.__t_connected")
            callee.wait_for_function("() => window.__t_connected")
            t_connected = max(p.evaluate("window.__t_connected") for p in pages)
            caller.locator("#call-hangup").click()
            caller.wait_for_selector("#call[data-outcome]")
            if n:
                rows.append((t_ring - t_start, t_connected - t_answer))
        for _ in range(calls):
            loopback.append(callee.evaluate(LOOPBACK))
        for browser in browsers:
            browser.close()
    ring = [r for r, _c in rows]
    connect = [c for _r, c in rows]
    total = [r + c for r, c in rows]
    return {"ring": ring, "connect": connect, "total": total, "loopback": loopback}


# --- 2. signalling cost with websocket clients --------------------------------------------------
class Peer:
    def __init__(self, ws) -> None:
        self.ws = ws
        self.frames: asyncio.Queue = asyncio.Queue()
        self.last_call = 0

    async def pump(self) -> None:
        async for raw in self.ws:
            await self.frames.put(json.loads(raw))

    async def until(self, kind: str, test=lambda f: True) -> dict:
        while True:
            frame = await asyncio.wait_for(self.frames.get(), 60)
            if frame.get("type") == "error":
                raise RuntimeError(frame)
            if frame.get("type") == kind and test(frame):
                return frame


async def connect_peer(url: str, cookie: str) -> Peer:
    from websockets.asyncio.client import connect

    ws = await connect(
        url,
        origin="http://" + url.split("/")[2],
        additional_headers={"Cookie": f"sessionid={cookie}"},
        ping_interval=None,
        compression=None,
    )
    peer = Peer(ws)
    asyncio.ensure_future(peer.pump())
    await peer.until("hello")
    return peer


async def one_call(a: Peer, b: Peer, callee_staff: int) -> float:
    t0 = time.perf_counter()
    await a.ws.send(json.dumps({"type": "call.start", "to": callee_staff}))
    joined = await a.until("call.joined")
    call = a.last_call = joined["call"]
    await b.until("call.ring", lambda f: f["call"] == call)
    await b.ws.send(json.dumps({"type": "call.answer", "call": call}))
    answered = await b.until("call.joined")
    a_leg, b_leg = joined["leg"], answered["leg"]
    await a.until("call.state", lambda f: f["state"]["state"] == "active")

    def signal(to: int, **body) -> str:
        return json.dumps({"type": "call.signal", "call": call, "to": to, "session": "s", **body})

    await a.ws.send(signal(b_leg, description={"type": "offer", "sdp": SDP}))
    await b.until("call.signal", lambda f: "description" in f)
    await b.ws.send(signal(a_leg, description={"type": "answer", "sdp": SDP}))
    for n in range(8):
        await a.ws.send(signal(b_leg, candidate=candidate(n)))
        await b.ws.send(signal(a_leg, candidate=candidate(n)))
    await a.until("call.signal", lambda f: "description" in f)
    for peer in (a, b):
        for _ in range(8):
            await peer.until("call.signal", lambda f: "candidate" in f)
    return time.perf_counter() - t0


async def one_at_a_time(url: str, pid: int, staff_ids, cookies, count: int) -> dict:
    """``count`` whole calls in a row (set up as below, then hung up: the conversation line
    written), one pair each: the CPU of a call without others competing."""
    peers = await asyncio.gather(*(connect_peer(url, c) for c in cookies[: 2 * count]))
    await asyncio.sleep(1)
    cpu_before, latencies = cpu_seconds(pid), []
    for i in range(count):
        a, b = peers[2 * i], peers[2 * i + 1]
        latencies.append(await one_call(a, b, staff_ids[2 * i + 1]))
        await a.ws.send(json.dumps({"type": "call.hangup", "call": a.last_call}))
        await b.until("call.state", lambda f: f["state"]["state"] == "ended")
    cpu = cpu_seconds(pid) - cpu_before
    for peer in peers:
        await peer.ws.close()
    return {"latencies": latencies, "cpu": cpu}


async def signalling_cost(url: str, pid: int, staff_ids, cookies, active: int, idle: float):
    peers = await asyncio.gather(*(connect_peer(url, c) for c in cookies[: 2 * active]))
    await asyncio.sleep(2)
    rss_sockets, cpu_before = rss_kb(pid), cpu_seconds(pid)
    callers, callees = peers[:active], peers[active:]
    started = time.perf_counter()
    latencies = await asyncio.gather(
        *(
            one_call(a, b, staff_ids[active + i])
            for i, (a, b) in enumerate(zip(callers, callees, strict=True))
        )
    )
    wall = time.perf_counter() - started
    cpu_setup = cpu_seconds(pid) - cpu_before
    await asyncio.sleep(2)
    rss_calls = rss_kb(pid)
    cpu_idle_before = cpu_seconds(pid)
    await asyncio.sleep(idle)
    cpu_idle = cpu_seconds(pid) - cpu_idle_before
    for ws in (p.ws for p in peers):
        await ws.close()
    return {
        "latencies": list(latencies),
        "wall": wall,
        "cpu_setup": cpu_setup,
        "rss_sockets": rss_sockets,
        "rss_calls": rss_calls,
        "cpu_idle": cpu_idle,
    }


# --- the run ---------------------------------------------------------------------------------
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20, help="browser calls to time")
    parser.add_argument("--active", type=int, default=100, help="calls set up at once (sockets)")
    parser.add_argument("--sequential", type=int, default=20, help="whole calls one at a time")
    parser.add_argument("--idle", type=float, default=30.0, help="seconds to watch them active")
    args = parser.parse_args()

    var_dir = Path(tempfile.mkdtemp(prefix="honbu-calls-bench-"))
    os.environ.update(
        {
            "HONBU_VAR_DIR": str(var_dir),
            "DJANGO_SETTINGS_MODULE": "config.settings.local",
            "DJANGO_DEBUG": "0",
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DJANGO_LOG_LEVEL": "WARNING",
        }
    )
    for name in ("DATABASE_URL", "REDIS_URL"):
        os.environ.pop(name, None)
    proc = None
    try:
        import django

        django.setup()
        from django.conf import settings
        from django.core.management import call_command
        from django.db import connection

        load = os.getloadavg()[0]
        call_command("migrate", verbosity=0)
        staff_ids, cookies = seed(2 + 2 * args.active + 2 * args.sequential)
        connection.close()
        port = free_port()
        log = open(var_dir / "server.log", "wb")  # noqa: SIM115 (closed below)
        from config.server import server_command

        proc = subprocess.Popen(
            server_command("127.0.0.1", port),
            cwd=ROOT,
            env=dict(os.environ, REDIS_URL=settings.REDIS_URL),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        wait_port(port, proc)
        base = f"http://127.0.0.1:{port}"
        print(f"machine: {os.cpu_count()} cores; load average {load:.1f}; SQLite + embedded Redis")

        setup = setup_times(base, staff_ids[:2], cookies[:2], args.calls)
        base_p50 = pct(setup["loopback"], 50)
        print(f"\n1. set-up time over {args.calls} calls (two Chromium phones, fake microphones)")
        print("| step | p50 ms | p99 ms | max ms |\n|---|---:|---:|---:|")
        for name, key in (
            ("ring: tap 音声通話 → ringing screen", "ring"),
            ("connect: tap 応答 → both connected", "connect"),
            ("total (immediate answer)", "total"),
            ("baseline: two RTCPeerConnections, one page", "loopback"),
        ):
            values = setup[key]
            print(f"| {name} | {pct(values, 50):.0f} | {pct(values, 99):.0f} | {max(values):.0f} |")
        print(f"connect / baseline (p50): {pct(setup['connect'], 50) / base_p50:.1f}×")

        ws_url = f"ws://127.0.0.1:{port}/ws/"
        first = 2 + 2 * args.active
        alone = asyncio.run(
            one_at_a_time(ws_url, proc.pid, staff_ids[first:], cookies[first:], args.sequential)
        )
        lat = [x * 1000 for x in alone["latencies"]]
        print(f"\n2. {args.sequential} whole calls one at a time (websocket clients, no media)")
        print(
            f"signalling set-up (call.start → last candidate) p50 {pct(lat, 50):.0f} ms, "
            f"p99 {pct(lat, 99):.0f} ms; server CPU per call (set-up and hang-up, with the "
            f"conversation line) {alone['cpu'] / args.sequential * 1000:.1f} ms"
        )
        staff, keys = staff_ids[2:first], cookies[2:first]
        cost = asyncio.run(
            signalling_cost(
                f"ws://127.0.0.1:{port}/ws/", proc.pid, staff, keys, args.active, args.idle
            )
        )
        n = args.active
        lat = [x * 1000 for x in cost["latencies"]]
        print(f"\n3. signalling cost: {n} calls set up at once, {2 * n} sockets (one process)")
        print(
            f"set-up wall time {cost['wall']:.2f}s; per call p50 {pct(lat, 50):.0f} ms, "
            f"p99 {pct(lat, 99):.0f} ms"
        )
        print(
            f"CPU for the set-up: {cost['cpu_setup']:.2f}s = "
            f"{cost['cpu_setup'] / n * 1000:.1f} ms per call"
        )
        extra = cost["rss_calls"] - cost["rss_sockets"]
        print(
            f"RSS: {cost['rss_sockets'] / 1024:.1f} MB with the sockets, "
            f"{cost['rss_calls'] / 1024:.1f} MB with {n} calls active: "
            f"{extra / n:.1f} KB per active call"
        )
        print(
            f"CPU while {n} calls sat active for {args.idle:.0f}s: {cost['cpu_idle']:.2f}s "
            f"({cost['cpu_idle'] / n / args.idle * 1000:.3f} ms per call per second)"
        )
        print(f"load average after: {os.getloadavg()[0]:.1f}")
        return 0
    finally:
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        try:
            from django.conf import settings

            if settings.configured and getattr(settings, "REDIS_EMBEDDED", False):
                from config.embedded import stop

                stop(var_dir)
        except Exception:  # noqa: BLE001, S110 - cleanup must go on
            pass
        shutil.rmtree(var_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
