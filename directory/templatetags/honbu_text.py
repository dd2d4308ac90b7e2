"""Text people wrote, shown on any page: the one rendering outside the chat page (which uses
messaging/rendering.py on the same rule). Bidirectional override and isolate controls
(U+202A–202E, U+2066–2069) are dropped from what is shown, so "‮exe.lave‬" cannot disguise
itself; the stored record keeps them (exports show them as visible markers,
directory/exports.py). Loaded on every template (settings: TEMPLATES builtins)."""

from __future__ import annotations

from django import template

from directory.text import strip_bidi

register = template.Library()


@register.filter(is_safe=False)
def plain(value) -> str:
    """Person-written text for display: bidi controls removed (Django escapes it as usual)."""
    return strip_bidi(str(value)) if value is not None else ""
