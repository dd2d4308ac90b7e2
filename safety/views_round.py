"""A round as headquarters sees it (live totals per unit rolled up the org tree, counts per
answer, the answer curve, who has not answered with their contact) and answering on someone's
behalf (代理回答)."""

from __future__ import annotations

import math
import time

from django.contrib import messages as flash
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _

from directory.models import OrgUnit

from . import answers, selectors
from .models import SafetyAnswer, SafetyRequest, SafetyRound
from .questions import CHOICE, question_list
from .views_answer import _fields

PAGE = 100


def _answer_counts(round_: SafetyRound, scope) -> list[tuple[str, list[tuple[str, int]]]]:
    """(question, [(answer, how many)]) for the unit in view (its whole subtree)."""
    if scope is None:
        return []
    return [
        (
            q["label"],
            [(label, scope.answers.get(q["key"], {}).get(v, 0)) for v, label in q["choices"]],
        )
        for q in question_list(round_.questions)
        if q.get("type", CHOICE) == CHOICE
    ]


def round_detail(request: HttpRequest, round_id: int) -> HttpResponse:
    if not selectors.user_can_see_totals(user=request.user):
        raise PermissionDenied
    round_ = get_object_or_404(SafetyRound.objects.select_related("incident"), pk=round_id)
    try:  # the change the live page was told of (its safety.changed frame), never the future
        since = min(float(request.GET.get("since", "0")), time.time())
    except ValueError:
        since = 0.0
    totals = selectors.round_totals(round_=round_, since=since if math.isfinite(since) else 0.0)
    unit = None
    if request.GET.get("unit", "").isdigit():
        unit = OrgUnit.objects.filter(pk=int(request.GET["unit"])).first()
    depth = unit.depth + 1 if unit else 1
    rows = [
        u
        for u in totals.units
        if (u.depth <= depth if unit is None else u.path.startswith(unit.path) and u.depth <= depth)
    ]
    try:
        page = max(1, int(request.GET.get("page", "1")))
    except ValueError:
        page = 1
    unanswered, unanswered_count = selectors.round_unanswered(
        round_=round_, unit=unit, offset=(page - 1) * PAGE, limit=PAGE
    )
    city = next((u for u in totals.units if u.depth == 0), None)
    scope = next((u for u in totals.units if unit and u.unit_id == unit.pk), city)
    context = {
        "round": round_,
        "totals": totals,
        "city": city,
        "rows": rows,
        "unit": unit,
        "scope": scope,
        "answer_counts": _answer_counts(round_, scope),
        "unanswered": unanswered,
        "recent": selectors.round_recent_answers(round_=round_, unit=unit),
        "unanswered_count": unanswered_count,
        "page": page,
        "pages": max(1, (unanswered_count + PAGE - 1) // PAGE),
        "can_run": selectors.user_can_run_rounds(user=request.user),
        "can_proxy_all": selectors.user_can_proxy_all(user=request.user),
        "private": selectors.user_sees_private_contacts(user=request.user),
    }
    template = "safety/_round.html" if request.GET.get("partial") else "safety/round.html"
    return render(request, template, context)


def answer_on_behalf(request: HttpRequest, round_id: int, request_id: int) -> HttpResponse:
    sr = (
        SafetyRequest.objects.select_related("round", "staff", "staff__unit", "answer")
        .filter(pk=request_id, round_id=round_id)
        .first()
    )
    if sr is None:
        raise Http404
    if not selectors.user_can_proxy(user=request.user, staff=sr.staff):
        raise PermissionDenied
    errors: dict[str, str] = {}
    data = None
    if request.method == "POST":
        data = request.POST.dict()
        try:
            answers.answer_on_behalf(
                actor=request.user,
                request=sr,
                data=data,
                via=data.get("via", ""),
                note=data.get("note", ""),
            )
        except answers.AnswerInvalid as exc:
            errors = exc.errors
        except ValidationError as exc:
            flash.error(request, " ".join(exc.messages))
            return redirect("safety:round_detail", round_id=round_id)
        else:
            flash.success(
                request,
                _("The answer for %(name)s was recorded as given on their behalf.")
                % {"name": sr.staff.full_name},
            )
            return redirect("safety:round_detail", round_id=round_id)
    places = selectors.round_places()
    return render(
        request,
        "safety/on_behalf.html",
        {
            "sr": sr,
            "round": sr.round,
            "fields": _fields(sr.round.questions, data or {}, errors, places),
            "errors": errors,
            "vias": [
                (v, label)
                for v, label in SafetyAnswer.Via.choices
                if v in (SafetyAnswer.Via.PHONE, SafetyAnswer.Via.IN_PERSON, SafetyAnswer.Via.OTHER)
            ],
            "via": (data or {}).get("via", SafetyAnswer.Via.PHONE),
            "note": (data or {}).get("note", ""),
        },
        status=400 if errors else 200,
    )
