"""Filters for the after-action report: durations in seconds written for people."""

from __future__ import annotations

import math

from django import template
from django.utils.translation import gettext as _

register = template.Library()


@register.filter
def duration(seconds: float | None) -> str:
    """42 → "42 s", 185.4 → "3 min 05 s", None → "—" (no response)."""
    if seconds is None or (isinstance(seconds, float) and not math.isfinite(seconds)):
        return "—"
    total = round(seconds)
    if total < 60:
        return _("%(s)d s") % {"s": total}
    minutes, rest = divmod(total, 60)
    if minutes < 60:
        return _("%(m)d min %(s)02d s") % {"m": minutes, "s": rest}
    hours, minutes = divmod(minutes, 60)
    return _("%(h)d h %(m)02d min") % {"h": hours, "m": minutes}


@register.filter
def abs_duration(seconds: float | None) -> str:
    return duration(abs(seconds) if seconds is not None else None)


@register.filter
def minutes(value: float | None) -> str:
    """Minutes with one decimal (the safety curve), or "—"."""
    if value is None:
        return "—"
    return _("%(m)s min") % {"m": f"{value:.1f}"}
