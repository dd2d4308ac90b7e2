"""What a signalling frame may carry between two pages, checked before it is relayed: a session
description (an offer or an answer) or one ICE candidate, rebuilt from the checked fields only,
so nothing else a page puts in a frame ever reaches another page.

The core already refuses frames over 16 KB; a description must also be a string that looks
like SDP (``v=0`` first, ``<letter>=`` lines only, audio or video sections) and stay under
MAX_SDP_BYTES."""

from __future__ import annotations

import re
from typing import Any

from django.utils.translation import gettext_lazy

from realtime.frames import FrameError, bad_field

MAX_SDP_BYTES = 12 * 1024  # an audio offer from Chrome or Safari is 2–5 KB
MAX_CANDIDATE_BYTES = 1024
MEDIA = ("audio", "video")

ERR_BAD_SDP = gettext_lazy("The session description is not valid.")
ERR_BAD_CANDIDATE = gettext_lazy("The network candidate is not valid.")

_LINE = re.compile(r"[a-z]=[\x20-\x7e]*")  # SDP is ASCII: <type>=<value>
_MEDIA_LINE = re.compile(r"m=([a-z]+) ")
_CANDIDATE = re.compile(r"(candidate:[\x20-\x7e]*)?")
_MID = re.compile(r"[\x21-\x7e]{1,32}")
_UFRAG = re.compile(r"[\x21-\x7e]{1,256}")
_SESSION = re.compile(r"[A-Za-z0-9_-]{1,32}")


def bad_sdp() -> FrameError:
    return FrameError("bad_sdp", str(ERR_BAD_SDP))


def bad_candidate() -> FrameError:
    return FrameError("bad_candidate", str(ERR_BAD_CANDIDATE))


def description_clean(value: Any) -> dict[str, str]:
    """{"type": "offer" | "answer", "sdp": "..."} or FrameError."""
    if not isinstance(value, dict) or set(value) - {"type", "sdp"}:
        raise bad_sdp()
    kind, sdp = value.get("type"), value.get("sdp")
    if kind not in ("offer", "answer") or not isinstance(sdp, str):
        raise bad_sdp()
    if len(sdp.encode("utf-8")) > MAX_SDP_BYTES:
        raise bad_sdp()
    lines = sdp.replace("\r\n", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines or lines[0] != "v=0" or not all(_LINE.fullmatch(line) for line in lines):
        raise bad_sdp()
    media = [m.group(1) for line in lines if (m := _MEDIA_LINE.match(line))]
    if not media or any(kind not in MEDIA for kind in media):
        raise bad_sdp()  # audio (and video) only: no data channels through a call
    return {"type": kind, "sdp": sdp}


def candidate_clean(value: Any) -> dict[str, Any]:
    """An RTCIceCandidateInit: {"candidate", "sdpMid", "sdpMLineIndex", "usernameFragment"};
    an empty candidate string is the end of candidates."""
    if not isinstance(value, dict) or set(value) - {
        "candidate",
        "sdpMid",
        "sdpMLineIndex",
        "usernameFragment",
    }:
        raise bad_candidate()
    text = value.get("candidate", "")
    mid = value.get("sdpMid")
    index = value.get("sdpMLineIndex")
    ufrag = value.get("usernameFragment")
    if (
        not isinstance(text, str)
        or len(text) > MAX_CANDIDATE_BYTES
        or not _CANDIDATE.fullmatch(text)
        or (mid is not None and (not isinstance(mid, str) or not _MID.fullmatch(mid)))
        or (
            index is not None
            and (not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < 64)
        )
        or (ufrag is not None and (not isinstance(ufrag, str) or not _UFRAG.fullmatch(ufrag)))
    ):
        raise bad_candidate()
    out: dict[str, Any] = {"candidate": text, "sdpMid": mid, "sdpMLineIndex": index}
    if ufrag is not None:
        out["usernameFragment"] = ufrag
    return out


def session_clean(value: Any) -> str:
    """Which peer connection a frame belongs to: chosen by the offering page, repeated by both
    sides, so a page drops what was meant for a connection it has replaced."""
    if not isinstance(value, str) or not _SESSION.fullmatch(value):
        raise bad_field("session")
    return value
