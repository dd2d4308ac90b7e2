"""Template filters of the scenario pages: a time from the start as ``mm:ss`` / ``hh:mm:ss``
and expected actions in their compact form, in the page's language."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.translation import get_language

from drills import msel

register = template.Library()


@register.filter
def offset(seconds: int | None) -> str:
    return msel.offset_format(seconds or 0)


@register.filter
def expectations(specs: list[dict[str, Any]] | None) -> str:
    return msel.expectations_format(
        specs or [], english=not (get_language() or "ja").startswith("ja")
    )
