"""The call buttons other apps' pages show: on a staff profile, and on a group's chat page (a
one-to-one conversation: call the other person; a command group: start or join its
conference). Template tags, so those pages' views need not know about calls."""

from __future__ import annotations

from typing import Any

from django import template

from directory.models import Staff
from messaging.models import CommandGroup

from .. import selectors
from ..missed import duration_text

register = template.Library()


@register.inclusion_tag("calls/_call_button.html", takes_context=True)
def call_button(context: dict, staff: Staff) -> dict[str, Any]:
    user = context["user"]
    request = context.get("request")
    return {
        "staff": staff,
        "can_call": selectors.user_can_call(user=user, staff=staff),
        "next": request.get_full_path() if request else "",
        "csrf_token": context.get("csrf_token"),
    }


@register.inclusion_tag("calls/_group_buttons.html", takes_context=True)
def group_call_buttons(context: dict, group: CommandGroup) -> dict[str, Any]:
    user = context["user"]
    request = context.get("request")
    out: dict[str, Any] = {
        "group": group,
        "next": request.get_full_path() if request else "",
        "csrf_token": context.get("csrf_token"),
        "other": None,
        "conference": None,
        "can_start": False,
    }
    if group.kind == CommandGroup.Kind.DIRECT:
        other = Staff.objects.filter(group_memberships__group=group).exclude(user=user).first()
        if other is not None and selectors.user_can_call(user=user, staff=other):
            out["other"] = other
    else:
        out["conference"] = selectors.live_conference(group=group)
        out["can_start"] = selectors.user_can_start_conference(user=user, group=group)
    return out


@register.filter
def call_duration(seconds: int | None) -> str:
    """3:12 (or 1:02:03)."""
    return duration_text(seconds)
