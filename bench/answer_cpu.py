"""Server CPU per answer on the real ASGI stack, in one process (issue 10): ``config.asgi``'s
application called directly with ASGI messages (no socket, no HTTP parsing: what uvicorn adds
is the same before and after), PostgreSQL through the server's pool, a real Redis.

    DATABASE_URL=postgres://…/honbu_x REDIS_URL=redis://127.0.0.1:PORT/0 \\
      .venv/bin/python bench/answer_cpu.py seed [--staff 3000]      # once: migrate, seed, round
    DATABASE_URL=… REDIS_URL=… .venv/bin/python bench/answer_cpu.py run [--answers 300]
      [--root /path/to/another/checkout] [--profile out.prof]

``seed`` migrates the database named by DATABASE_URL (use a database of your own: it is
written to), seeds staff in a unit tree (bench/safety.py's ``seed``), 8 assembly places and an
open round, and writes the answer links to ``var/answer_cpu_tokens.json``. ``run`` serves
``--answers`` phones, each a GET of its link and a POST of the form with the cookie, the CSRF
token and the once-key from it (as bench/safety.py's phones do), from many client addresses,
one at a time, and prints CPU ms (this process, all threads: ``time.process_time``) and wall
ms per GET and per POST, after ``--warmup`` answers not counted. ``--root`` imports the app
from another checkout (the code before a change), so two runs can be made back to back on the
same database. Every phone's link is used once per run (the next run takes the next ones);
the Redis database of REDIS_URL's cache is flushed first (the rate limits' counters).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TOKENS = HERE.parent / "var" / "answer_cpu_tokens.json"
SAFE = {"self": "safe", "family": "safe", "home": "ok", "attend": "yes", "place": "own"}


def setup(root: Path, *, pool: bool) -> None:
    sys.path.insert(0, str(root))
    os.chdir(root)
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.local"
    os.environ["DJANGO_DEBUG"] = "0"
    os.environ.setdefault("DJANGO_LOG_LEVEL", "WARNING")
    if not pool:
        os.environ["HONBU_DB_POOL"] = "0"


def do_seed(args: argparse.Namespace) -> int:
    setup(HERE.parent, pool=False)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from importlib.util import module_from_spec, spec_from_file_location

    spec = spec_from_file_location("bench_safety", HERE / "safety.py")
    bench = module_from_spec(spec)
    spec.loader.exec_module(bench)
    from safety.links import link_token
    from safety.models import AssemblyPlace, SafetyRequest
    from safety.rounds import round_start

    bench.seed(args.staff, args.units)
    for i in range(8):
        AssemblyPlace.objects.create(name=f"第{i + 1}区役所", is_ward_office=i < 4)
    round_ = round_start(actor=None, title="北部地震 安否確認", target={"all": True})
    tokens = [
        link_token(request_id=pk, nonce=nonce)
        for pk, nonce in SafetyRequest.objects.filter(round=round_)
        .order_by("pk")
        .values_list("pk", "nonce")
    ]
    TOKENS.parent.mkdir(exist_ok=True)
    TOKENS.write_text(json.dumps({"round": round_.pk, "tokens": tokens, "next": 0}))
    print(f"seeded {args.staff} staff, round {round_.pk}, {len(tokens)} links in {TOKENS}")
    return 0


class Phone:
    """One ASGI request at a time against the application object."""

    def __init__(self, app, address: str):
        self.app, self.address, self.cookies = app, address, {}

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        headers = [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"bench-phone")]
        if self.cookies:
            cookie = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
            headers.append((b"cookie", cookie.encode()))
        if method == "POST":
            headers += [
                (b"content-type", b"application/x-www-form-urlencoded"),
                (b"content-length", str(len(body)).encode()),
                (b"origin", b"http://127.0.0.1:8000"),
                (b"referer", f"http://127.0.0.1:8000{path}".encode()),
            ]
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": headers,
            "client": (self.address, 50000),
            "server": ("127.0.0.1", 8000),
        }
        sent = False
        never = asyncio.Event()

        async def receive():
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await never.wait()
            return {"type": "http.disconnect"}

        status, chunks = 0, []

        async def send(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                for k, v in message["headers"]:
                    if k.lower() == b"set-cookie":
                        name, _, rest = v.decode().partition("=")
                        self.cookies[name.strip()] = rest.split(";", 1)[0]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, send)
        return status, b"".join(chunks)


async def serve(app, tokens: list[str], warmup: int) -> dict:
    from urllib.parse import urlencode

    get_cpu, post_cpu, get_wall, post_wall, bad = [], [], [], [], 0
    for i, token in enumerate(tokens):
        phone = Phone(app, f"127.0.1.{i % 200 + 1}")
        path = f"/s/{token}/"
        c0, w0 = time.process_time(), time.perf_counter()
        status, page = await phone.request("GET", path)
        c1, w1 = time.process_time(), time.perf_counter()
        once = re.search(rb'name="once" value="([^"]+)"', page)
        csrf = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        form = {**SAFE, "once": once.group(1).decode() if once else ""}
        if csrf:
            form["csrfmiddlewaretoken"] = csrf.group(1).decode()
        body = urlencode(form).encode()
        c2, w2 = time.process_time(), time.perf_counter()
        status2, thanks = await phone.request("POST", path, body)
        c3, w3 = time.process_time(), time.perf_counter()
        if status != 200 or status2 != 200:
            bad += 1
            if bad <= 3:
                print(f"  unexpected: GET {status} POST {status2}: {thanks[:300]!r}")
        if i >= warmup:
            get_cpu.append(c1 - c0)
            post_cpu.append(c3 - c2)
            get_wall.append(w1 - w0)
            post_wall.append(w3 - w2)
    n = len(get_cpu)

    def ms(xs):
        return round(1000 * sum(xs) / max(1, len(xs)), 2)

    def med(xs):
        return round(1000 * sorted(xs)[len(xs) // 2], 2) if xs else 0

    return {
        "answers": n,
        "errors": bad,
        "cpu_ms_get": ms(get_cpu),
        "cpu_ms_post": ms(post_cpu),
        "cpu_ms_answer": round(ms(get_cpu) + ms(post_cpu), 2),
        "wall_ms_get_median": med(get_wall),
        "wall_ms_post_median": med(post_wall),
    }


def run(args: argparse.Namespace) -> int:
    root = (args.root or HERE.parent).resolve()
    state = json.loads(TOKENS.read_text())
    start = state["next"]
    count = args.answers + args.warmup
    tokens = state["tokens"][start : start + count]
    if len(tokens) < count:
        print("not enough unused links left: seed again")
        return 1
    state["next"] = start + count
    TOKENS.write_text(json.dumps(state))
    setup(root, pool=True)
    import redis
    from django.conf import settings

    from config.asgi import application  # noqa: E402 - after the environment is set

    redis.Redis.from_url(settings.CACHES["default"]["LOCATION"]).flushdb()
    load0 = os.getloadavg()[0]
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    result = asyncio.run(serve(application, tokens, args.warmup))
    if args.profile:
        profiler.disable()
        profiler.dump_stats(args.profile)
    result.update(root=str(root), load=f"{load0:.1f} → {os.getloadavg()[0]:.1f}")
    print(json.dumps(result))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("seed")
    s.add_argument("--staff", type=int, default=3000)
    s.add_argument("--units", type=int, default=60)
    r = sub.add_parser("run")
    r.add_argument("--answers", type=int, default=300)
    r.add_argument("--warmup", type=int, default=20)
    r.add_argument("--root", type=Path)
    r.add_argument("--profile")
    args = parser.parse_args()
    return do_seed(args) if args.cmd == "seed" else run(args)


if __name__ == "__main__":
    sys.exit(main())
