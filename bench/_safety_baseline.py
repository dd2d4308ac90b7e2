"""Baseline for bench/safety.py: a bare ASGI application, no Django, no database, no Redis,
served by Daphne exactly like Honbu (``daphne bench._safety_baseline:application``).

``GET /s/<token>/`` answers a page of about the size of Honbu's answer form, with a CSRF-like
cookie and hidden field; ``POST /s/<token>/`` reads the form and answers a page of about the
size of Honbu's thank-you page. Anything else: 404. What is left of a request's cost here is
the server's and the client's own (HTTP parsing, Twisted, the asyncio client)."""

from __future__ import annotations

import secrets

FORM = (
    "<!doctype html><html lang=ja><head><meta charset=utf-8><title>安否確認</title></head><body>"
    "<h1>安否確認</h1><form method=post>"
    '<input type="hidden" name="csrfmiddlewaretoken" value="{token}">'
    + "".join(
        f'<fieldset><legend>質問 {i}</legend><label><input type="radio" name="q{i}" value="a">'
        f'はい</label><label><input type="radio" name="q{i}" value="b"> いいえ</label></fieldset>'
        for i in range(12)
    )
    + "<button type=submit>回答する</button></form></body></html>"
)
THANKS = (
    "<!doctype html><html lang=ja><head><meta charset=utf-8><title>回答しました</title></head>"
    "<body><h1>回答を受け付けました</h1><dl>"
    + "".join(f"<dt>質問 {i}</dt><dd>はい</dd>" for i in range(8))
    + "</dl></body></html>"
).encode()


async def _body(receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def application(scope, receive, send) -> None:
    if scope["type"] != "http":
        return
    headers = [(b"content-type", b"text/html; charset=utf-8"), (b"cache-control", b"no-store")]
    if scope["path"].startswith("/s/") and scope["method"] == "GET":
        token = secrets.token_urlsafe(48)
        body = FORM.format(token=token).encode()
        headers.append((b"set-cookie", f"csrftoken={token}; Path=/; SameSite=Lax".encode()))
        status = 200
    elif scope["path"].startswith("/s/") and scope["method"] == "POST":
        await _body(receive)
        body, status = THANKS, 200
    else:
        body, status = b"not found", 404
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
