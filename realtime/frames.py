"""Client frames: the error every handler raises, and the field readers that raise it.

A handler that finds something wrong raises ``FrameError``; the consumer core answers it with
one ``{"type": "error", "code", "message", "ref"}`` frame and the socket stays open."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.translation import gettext_lazy

from .db import database_sync_to_async

ERR_MALFORMED = gettext_lazy("The frame is not valid JSON.")
ERR_TOO_LARGE = gettext_lazy("The frame is too large.")
ERR_UNKNOWN = gettext_lazy("Unknown frame type.")
ERR_BAD_FIELD = gettext_lazy("A field is missing or has the wrong type: %(field)s")
ERR_FORBIDDEN = gettext_lazy("You are not allowed to do that.")
ERR_SERVER = gettext_lazy("Something went wrong. Please try again.")
ERR_TEXT = gettext_lazy(
    "The text contains characters that cannot be stored (a NUL or a broken character)."
)
ERR_NESTED = gettext_lazy("The frame is nested too deeply.")
MAX_DEPTH = 8  # frames are flat objects with a small policy dict at most
_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")  # NUL; lone surrogates (JSON "\\ud800")


def text_ok(value: str) -> bool:
    """Whether text can be stored and shown: no NUL, no lone surrogate (PostgreSQL refuses
    both, and a surrogate cannot even be encoded)."""
    return _BAD_TEXT.search(value) is None


def frame_check(value: Any, depth: int = 0) -> None:
    """Every string in a parsed frame is storable text, and the frame is shallow; else a
    specific error (a client must not retry it: it will never be accepted)."""
    if depth > MAX_DEPTH:
        raise FrameError("too_deep", str(ERR_NESTED))
    if isinstance(value, str):
        if not text_ok(value):
            raise FrameError("invalid_text", str(ERR_TEXT))
    elif isinstance(value, dict):
        for key, item in value.items():
            frame_check(key, depth + 1)
            frame_check(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            frame_check(item, depth + 1)


class FrameError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def bad_field(name: str) -> FrameError:
    return FrameError("bad_request", str(ERR_BAD_FIELD) % {"field": name})


def int_field(frame: dict, name: str, *, required: bool = True) -> int | None:
    """A non-negative integer (ids, sequence numbers)."""
    value = frame.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise bad_field(name)
    return value


def str_field(frame: dict, name: str, *, default: str | None = None) -> str:
    value = frame.get(name, default)
    if not isinstance(value, str):
        raise bad_field(name)
    return value


def uuid_field(frame: dict, name: str) -> uuid.UUID:
    try:
        return uuid.UUID(str_field(frame, name))
    except ValueError:
        raise bad_field(name) from None


def dict_field(frame: dict, name: str, *, max_keys: int = 10) -> dict | None:
    value = frame.get(name)
    if value is None:
        return None
    if not isinstance(value, dict) or len(value) > max_keys:
        raise bad_field(name)
    return value


async def call_service(fn: Callable[..., Any], **kwargs: Any) -> Any:
    """Run a service on the thread pool; its refusals become error frames."""
    try:
        return await database_sync_to_async(fn)(**kwargs)
    except PermissionDenied as exc:
        raise FrameError("forbidden", str(exc) or str(ERR_FORBIDDEN)) from None
    except ValidationError as exc:
        raise FrameError("invalid", " ".join(str(m) for m in exc.messages)) from None
