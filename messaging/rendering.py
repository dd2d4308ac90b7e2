"""Message text → safe HTML, and messages → the JSON the pages receive.

Text is plain text: everything is escaped, http(s) links become links, newlines become <br>.
nh3 then re-sanitises the result as a second line of defence. Bidirectional override and
isolate controls (U+202A–202E, U+2066–2069) are dropped from what is shown, so a "right-to-left
override" cannot disguise text; the stored record keeps them.
"""

from __future__ import annotations

import html
import re
from typing import Any

import nh3

from directory.text import strip_bidi

from .models import Message

_URL = re.compile(r"https?://[^\s<>\"'　]+")


def render_body(text: str) -> str:
    text = strip_bidi(text)  # the same rule as every other page (directory/text.py)
    out: list[str] = []
    pos = 0
    for m in _URL.finditer(text):
        out.append(html.escape(text[pos : m.start()]))
        url = m.group(0)
        out.append(f'<a href="{html.escape(url)}">{html.escape(url)}</a>')
        pos = m.end()
    out.append(html.escape(text[pos:]))
    rendered = "".join(out).replace("\r\n", "\n").replace("\n", "<br>")
    return nh3.clean(
        rendered,
        tags={"a", "br"},
        attributes={"a": {"href"}},
        url_schemes={"http", "https"},
        link_rel="noopener noreferrer nofollow",
    )


def message_dict(message: Message, attachments: list | None = None) -> dict[str, Any]:
    """What every member may see of a message (JSON-serialisable). ``attachments``: the
    message's, when the caller has loaded them (else ``message.attachments.all()``)."""
    deleted = message.deleted_at is not None
    reply = message.reply_to
    return {
        "id": message.pk,
        "group": message.group_id,
        "seq": message.seq,
        "client_id": str(message.client_id),
        "sender_id": message.sender_id,
        "sender_name": message.sender_name,
        "sender_post": message.sender_post_name,
        "kind": message.kind,
        "priority": message.priority,
        "exercise": message.exercise,
        "requires_ack": message.requires_ack,
        "html": "" if deleted else render_body(message.body),
        "text": "" if deleted else message.body,  # raw text, for the sender's edit box only
        "created_at": message.created_at.isoformat(),
        "edited": message.edited_at is not None,
        "deleted": deleted,
        "recipient_count": message.recipient_count,
        "reply_to": None
        if reply is None
        else {
            "id": reply.pk,
            "seq": reply.seq,
            "sender_name": reply.sender_name,
            "excerpt": "" if reply.deleted_at else strip_bidi(reply.body[:80]),
        },
        "attachments": []
        if deleted
        else [
            {
                "id": a.pk,
                "name": a.original_name,
                "size": a.size,
                "is_image": a.is_image,
                "url": f"/messages/attachments/{a.pk}/",
                "thumb": f"/messages/attachments/{a.pk}/?thumb=1" if a.thumbnail else "",
            }
            for a in (message.attachments.all() if attachments is None else attachments)
        ],
    }
