"""Notification kinds: each app that notifies people registers its kinds here (in its
``AppConfig.ready()``) with how a notification of that kind reads and where a tap leads. The
notifications app never imports the apps above it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .models import Notification


@dataclass(frozen=True)
class Texts:
    title: str
    body: str
    link: str  # a path (or a full URL) that a tap on the notification opens


@dataclass(frozen=True)
class Kind:
    name: str
    # Called in the recipient's language when the notification goes out (push, e-mail) or is
    # opened (in the app); reads whatever it needs through the notification's subject/data.
    render: Callable[[Notification], Texts]
    # Where the in-app banner leads (default: the rendered link), asked when it is tapped.
    open: Callable[[Notification], str] | None = None
    # Called once per delivery batch with the batch's notifications of this kind, before any
    # is rendered: load in one query what render would read one notification at a time.
    prefetch: Callable[[list[Notification]], None] | None = None

    def open_link(self, note: Notification) -> str:
        return self.open(note) if self.open else self.render(note).link


_kinds: dict[str, Kind] = {}


def register(kind: Kind) -> None:
    current = _kinds.get(kind.name)
    if current is not None and current != kind:
        raise ValueError(f"notification kind {kind.name!r} is already registered")
    _kinds[kind.name] = kind


def get(name: str) -> Kind:
    try:
        return _kinds[name]
    except KeyError:
        raise LookupError(f"unregistered notification kind {name!r}") from None


def names() -> list[str]:
    return sorted(_kinds)
