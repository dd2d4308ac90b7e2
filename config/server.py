"""How Honbu's ASGI server is started, in one place: `make run`, the production script, the
browser tests and the benchmarks all use this command line.

uvicorn, chosen by measurement (docs/servers.md): it streams request bodies with flow control,
so the body limit (config/bodylimit.py) refuses a 50 MB POST without buffering it (Daphne first
buffered it all: +550 MB), and an idle websocket costs about as much as under Daphne once
per-message compression is off. Options:

- ``--no-proxy-headers``: X-Forwarded-For is judged by Django (HONBU_TRUSTED_PROXIES), not by
  the server's own rule;
- ``--ws-per-message-deflate false``: a zlib context per socket roughly doubles the memory of
  an idle socket, for frames of a few hundred bytes;
- ``--ws-max-size``: a frame larger than this closes the socket (1009) before it is buffered;
  frames up to realtime's own limit get a translated error frame instead;
- ``--lifespan off``: Django has no startup or shutdown events.
"""

from __future__ import annotations

import sys

WS_MAX_BYTES = 64 * 1024  # four times realtime.consumers.MAX_FRAME_BYTES


def server_command(
    host: str, port: int | str, *, log_level: str = "warning", access_log: bool = False
) -> list[str]:
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "config.asgi:application",
        "--host",
        host,
        "--port",
        str(port),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--ws",
        "websockets-sansio",
        "--no-proxy-headers",
        "--ws-per-message-deflate",
        "false",
        "--ws-max-size",
        str(WS_MAX_BYTES),
        "--lifespan",
        "off",
        "--timeout-graceful-shutdown",
        "5",
    ]
    command += ["--log-level", log_level]
    if not access_log:
        command.append("--no-access-log")
    return command


def main() -> None:
    """``python -m config.server --port 8001``: one app server with exactly these options."""
    import argparse
    import os

    parser = argparse.ArgumentParser(description="Start one Honbu ASGI server (uvicorn).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--access-log", action="store_true")
    args = parser.parse_args()
    command = server_command(
        args.host, args.port, log_level=args.log_level, access_log=args.access_log
    )
    os.execv(command[0], command)  # noqa: S606 - replace this process with the server


if __name__ == "__main__":
    main()
