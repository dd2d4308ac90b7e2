"""Search normalisation for Japanese names.

Users type names every way a phone keyboard allows: hiragana or katakana, full- or half-width,
with or without a space between family and given name. We store one normalised ``search_key``
per row and normalise the query the same way, so a plain substring match finds them all.
"""

from __future__ import annotations

import re
import unicodedata

import jaconv

_SPACES = re.compile(r"[\s\u3000・･]+")


def normalize(text: str) -> str:
    """NFKC (half-width kana and full-width ASCII fold), katakana→hiragana, lower, no spaces."""
    if not text:
        return ""
    text = unicodedata.normalize("NFKC", text)
    text = jaconv.kata2hira(text)
    return _SPACES.sub("", text.lower())


def join_key(*parts: str) -> str:
    """A search key: normalised parts separated by a character no query can contain."""
    return "\x1f".join(normalize(p) for p in parts if p)


BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")


def strip_bidi(text: str) -> str:
    """Drop the characters that reorder text on screen (right-to-left overrides, isolates)."""
    return BIDI_CONTROLS.sub("", text)


def mark_bidi(text: str) -> str:
    """Show them instead, as visible markers like <U+202E> (exports keep the information)."""
    return BIDI_CONTROLS.sub(lambda m: f"<U+{ord(m.group()):04X}>", text)
