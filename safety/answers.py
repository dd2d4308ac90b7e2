"""Answers to a safety round: by the person (from the e-mailed link without signing in, or in
the app), or on their behalf (代理回答) by a unit head or an administrator, tagged with who,
when and how. Every answer is a new row; the request keeps the time of the first one for good
and points at the current one: the person's latest own answer, or, until they give one, the
latest given on their behalf."""

from __future__ import annotations

import time
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy

from directory.models import User
from directory.services import audit_record
from messaging import services as messaging_services
from messaging.models import Receipt
from realtime import clock

from . import selectors
from .events import round_changed
from .models import SafetyAnswer, SafetyRequest, SafetyRound
from .questions import answer_clean

ERR_CLOSED = gettext_lazy("This safety confirmation has been closed; answers are no longer taken.")
ERR_NOT_YOURS = gettext_lazy("You cannot answer for this person.")
ERR_VIA = gettext_lazy("Say how you learned the answer.")

OWN = (SafetyAnswer.Via.LINK, SafetyAnswer.Via.APP)
SUBMISSION_MAX = 32  # the answer form's once-key (views_answer.py), [A-Za-z0-9_-]
ON_BEHALF = (SafetyAnswer.Via.PHONE, SafetyAnswer.Via.IN_PERSON, SafetyAnswer.Via.OTHER)


class AnswerInvalid(ValidationError):
    """The answer's errors by question key (translated), for the form to show."""

    def __init__(self, errors: dict[str, str]):
        super().__init__(errors)
        self.errors = errors


def _store(
    *,
    request: SafetyRequest,
    data: dict[str, Any],
    via: str,
    entered_by: User | None,
    note: str = "",
    places: dict[int, str] | None = None,
    submission: str = "",
) -> SafetyAnswer:
    if SafetyRequest.round.is_cached(request):  # the caller's lookup has just read it
        round_ = request.round
    else:
        round_ = SafetyRound.objects.only("id", "status", "questions", "hq_message_id").get(
            pk=request.round_id
        )
    if round_.status != SafetyRound.Status.OPEN:
        raise ValidationError(ERR_CLOSED)
    if places is None:
        places = selectors.round_places()
    values, errors = answer_clean(template=round_.questions, data=data, place_ids=set(places))
    if errors:
        raise AnswerInvalid(errors)
    now = clock.now()
    try:
        with transaction.atomic():
            answer = SafetyAnswer.objects.create(
                request_id=request.pk,
                round_id=round_.pk,
                at=now,
                values=values,
                via=via,
                entered_by=entered_by,
                note=note[:300],
                submission=submission,
            )
            # Conditional UPDATEs: the first answer time is set once and never moved
            # (COALESCE keeps a time already there); an answer on someone's behalf becomes
            # current only while they have none of their own.
            current = SafetyRequest.objects.filter(pk=request.pk)
            if via in OWN:
                current.update(answer=answer, first_answer_at=Coalesce("first_answer_at", now))
            else:
                current.filter(first_answer_at__isnull=True).update(first_answer_at=now)
                current.exclude(answer__via__in=OWN).update(answer=answer)
            # Stamped once committed: a screen that reads totals computed after ``at`` sees it.
            rid = round_.pk
            transaction.on_commit(lambda: round_changed(rid, at=time.time()), robust=True)
            staff = request.staff if SafetyRequest.staff.is_cached(request) else None
            if round_.hq_message_id and (staff is None or staff.user_id):
                transaction.on_commit(
                    lambda: _acknowledge_hq(request.pk, round_.hq_message_id), robust=True
                )
    except IntegrityError:
        # The same form sent again (a phone that got no reply and retried): the answer it
        # already stored, not a second one.
        stored = submission and (
            SafetyAnswer.objects.filter(request_id=request.pk, submission=submission).first()
        )
        if not stored:
            raise
        return stored
    return answer


def _acknowledge_hq(request_id: int, message_id: int) -> None:
    """A headquarters member who answered has answered the round's announcement too: their
    chase (reminders, then their deputies) stops."""
    user_id = (
        SafetyRequest.objects.filter(pk=request_id).values_list("staff__user_id", flat=True).first()
    )
    if not user_id:
        return
    receipt = Receipt.objects.filter(message_id=message_id, user_id=user_id).first()
    if receipt is not None and receipt.acked_at is None and not receipt.observer:
        messaging_services.receipt_acknowledge(user=receipt.user, message=receipt.message)


def submission_clean(value: str) -> str:
    """The form's once-key if it looks like one, else none (then no replay protection)."""
    value = value or ""
    ok = 0 < len(value) <= SUBMISSION_MAX and all(c.isalnum() or c in "-_" for c in value)
    return value if ok and value.isascii() else ""


def answer_from_link(
    *,
    request: SafetyRequest,
    data: dict[str, Any],
    places: dict[int, str] | None = None,
    submission: str = "",
) -> SafetyAnswer:
    """The person, from their personal link (no sign-in: the link is the proof). The form's
    ``submission`` key makes a repeated POST of the same form (a retry after a lost reply)
    return the answer it stored instead of storing it twice. ``places``: the active assembly
    places, if the caller has read them already."""
    return _store(
        request=request,
        data=data,
        via=SafetyAnswer.Via.LINK,
        entered_by=None,
        places=places,
        submission=submission_clean(submission),
    )


def answer_in_app(*, user: User, round_: SafetyRound, data: dict[str, Any]) -> SafetyAnswer:
    """The person, signed in."""
    request = SafetyRequest.objects.filter(round=round_, staff__user=user).first()
    if request is None:
        raise PermissionDenied(ERR_NOT_YOURS)
    return _store(
        request=request,
        data=data,
        via=SafetyAnswer.Via.APP,
        entered_by=None,
        submission=submission_clean(data.get("once", "")),
    )


def answer_on_behalf(
    *, actor: User, request: SafetyRequest, data: dict[str, Any], via: str, note: str = ""
) -> SafetyAnswer:
    """代理回答: a unit head (for their unit) or an administrator records an answer for
    someone, e.g. after a phone call. Tagged with who, when and how; audited."""
    if not selectors.user_can_proxy(user=actor, staff=request.staff):
        raise PermissionDenied(ERR_NOT_YOURS)
    if via not in ON_BEHALF:
        raise AnswerInvalid({"via": str(ERR_VIA)})
    answer = _store(request=request, data=data, via=via, entered_by=actor, note=note)
    audit_record(
        actor=actor,
        action="safety.answer_on_behalf",
        target=request.round,
        data={"staff": request.staff_id, "answer": answer.pk, "via": via},
    )
    return answer
