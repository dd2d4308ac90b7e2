"""Assembly (参集), the writes: a check-in records that someone arrived at an assembly place,
with the time. The person checks in themselves (from their answer link, or signed in), or the
place's coordinator ticks them off the list. One per person and place; asking again returns the
first (idempotent: a double tap, a retry after a lost connection). The board follows live:
``safety.changed`` on the round's channel after commit. Reads: ``safety.assembly_board``."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy

from directory.models import User
from realtime import clock
from realtime.events import channel_group, send_event_on_commit

from . import selectors
from .events import SafetyChanged
from .models import AssemblyPlace, CheckIn, SafetyRequest, SafetyRound

ERR_CLOSED = gettext_lazy("This safety confirmation is closed; arrivals are no longer recorded.")
ERR_PLACE = gettext_lazy("This assembly place is not in use.")
ERR_NOT_YOURS = gettext_lazy("Only the place's coordinators can record someone else's arrival.")


def _record(*, request: SafetyRequest, place: AssemblyPlace, entered_by: User | None) -> CheckIn:
    round_ = SafetyRound.objects.only("id", "status").get(pk=request.round_id)
    if round_.status != SafetyRound.Status.OPEN:
        raise ValidationError(ERR_CLOSED)
    if not place.is_active:
        raise ValidationError(ERR_PLACE)
    found = CheckIn.objects.filter(request_id=request.pk, place=place).first()
    if found is not None:
        return found
    try:
        with transaction.atomic():
            checkin = CheckIn.objects.create(
                round_id=round_.pk,
                request_id=request.pk,
                place=place,
                at=clock.now(),
                entered_by=entered_by,
            )
            send_event_on_commit(
                SafetyChanged(round=round_.pk), groups=[channel_group("sround", round_.pk)]
            )
    except IntegrityError:  # the same arrival, recorded a moment earlier by another tap
        return CheckIn.objects.get(request_id=request.pk, place=place)
    return checkin


def checkin_record(*, actor: User, request: SafetyRequest, place: AssemblyPlace) -> CheckIn:
    """Signed in: the person themselves (the app's "I have arrived"), or the place's coordinator
    (or an administrator) ticking them off. The coordinator's name is kept with the check-in."""
    own = request.staff.user_id is not None and request.staff.user_id == actor.pk
    if not own and not selectors.user_can_check_in_others(user=actor, place=place):
        raise PermissionDenied(ERR_NOT_YOURS)
    return _record(request=request, place=place, entered_by=None if own else actor)


def checkin_from_link(*, request: SafetyRequest, place: AssemblyPlace) -> CheckIn:
    """The person, from their personal answer link (no sign-in: the link is the proof)."""
    return _record(request=request, place=place, entered_by=None)
