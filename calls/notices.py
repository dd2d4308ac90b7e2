"""How calls' notifications read (registered in apps.py), in the recipient's language. A tap
opens the call's page: the ringing screen while it rings, the conference room, or (after a
missed call) the call's outcome with a "call back" button."""

from __future__ import annotations

from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from notifications import kinds
from notifications.models import Notification

from .models import Call

KIND_RING = "call_ring"  # Web Push: the phone rings (a page shows the ringing screen itself)
KIND_MISSED = "call_missed"
KIND_CONFERENCE = "call_conference"  # a commander started the group's conference call


def _call(note: Notification) -> Call:
    return Call.objects.select_related("group").get(pk=note.subject_id)


def _who(call: Call) -> str:
    return f"{call.caller_post_name} {call.caller_name}".strip()


def ring_texts(note: Notification) -> kinds.Texts:
    call = _call(note)
    return kinds.Texts(
        _("Incoming call: %(name)s") % {"name": call.caller_name},
        (call.caller_post_name + " · " if call.caller_post_name else "")
        + _("Tap to answer. Calls are not recorded."),
        reverse("calls:call_detail", args=[call.pk]),
    )


def missed_texts(note: Notification) -> kinds.Texts:
    call = _call(note)
    when = timezone.localtime(call.started_at).strftime("%H:%M")
    if call.outcome == Call.Outcome.BUSY:
        detail = _("%(time)s, while you were in another call") % {"time": when}
    else:
        detail = when
    return kinds.Texts(
        _("Missed call: %(name)s") % {"name": _who(call)},
        detail,
        reverse("calls:call_detail", args=[call.pk]),
    )


def conference_texts(note: Notification) -> kinds.Texts:
    call = _call(note)
    return kinds.Texts(
        _("Conference call: %(group)s") % {"group": call.group.name},
        _("%(name)s started a conference call. Tap to join.") % {"name": _who(call)},
        reverse("calls:call_detail", args=[call.pk]),
    )


def register() -> None:
    kinds.register(kinds.Kind(KIND_RING, render=ring_texts))
    kinds.register(kinds.Kind(KIND_MISSED, render=missed_texts))
    kinds.register(kinds.Kind(KIND_CONFERENCE, render=conference_texts))
