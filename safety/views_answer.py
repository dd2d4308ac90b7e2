"""Answering a safety round: from the personal e-mailed link, without signing in, on any phone
(no JavaScript, a few KB), Japanese by default; and in the app, signed in. A link that is
wrong, tampered with, revoked, for another round or for a closed round gets a clear page and
changes nothing; each link and each address may post only so often."""

from __future__ import annotations

import json
import secrets

from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

from . import answers, assembly_board, selectors
from .links import link_matches, link_parse
from .models import SafetyRequest, SafetyRound
from .prepared import Prepared
from .questions import answer_labels, question_list
from .ratelimit import rate_allow_all

LINK_POSTS_PER_10_MIN = 20
ADDRESS_POSTS_PER_MIN = 600  # one office's NAT can carry many people answering at once


def _client_address(request: HttpRequest) -> str:
    return request.META.get("REMOTE_ADDR", "")


# The request with everything its pages show, by primary key: compiled once per process
# (safety/prepared.py; compiling its five joins was a quarter of the page's CPU).
_REQUEST_WITH_ALL = Prepared(
    lambda pk: SafetyRequest.objects.select_related(
        "round", "staff", "staff__unit", "unit", "answer"
    ).filter(pk=pk)
)


def _request_for(token: str) -> SafetyRequest | None:
    parsed = link_parse(token)
    if parsed is None:
        return None
    request_id, tag = parsed
    found = _REQUEST_WITH_ALL.first(request_id)
    if found is None or not link_matches(request_id=found.pk, nonce=found.nonce, tag=tag):
        return None
    return found


def _fields(template: dict, data: dict, errors: dict, places: dict[int, str]) -> list[dict]:
    """What the form shows for each question (the values as given, or the current answer)."""
    out = []
    for q in question_list(template):
        key, kind = q["key"], q.get("type", "choice")
        value = str(data.get(key, "") or "")
        field = {
            "key": key,
            "label": q["label"],
            "type": kind,
            "when": q.get("when"),
            "value": value,
            "error": errors.get(key, ""),
            "max": q.get("max", 500),
        }
        if kind == "choice":
            field["choices"] = [(v, label, v == value) for v, label in q["choices"]]
        elif kind == "place":
            office = str(data.get(f"{key}_place", "") or "")
            if value.isdigit():  # a stored answer names the office itself
                office, value = value, "office"
            field.update(
                choice=value,
                other=str(data.get(f"{key}_other", "") or ""),
                places=[
                    (str(pid), name, str(pid) == office)
                    for pid, name in sorted(places.items(), key=lambda p: p[1])
                ],
            )
        out.append(field)
    return out


def arrive_context(
    sr: SafetyRequest,
    *,
    url: str,
    values: dict | None = None,
    places: dict | None = None,
    index: assembly_board.Places | None = None,
) -> dict | None:
    """The "I have arrived" form for someone whose answer says they will come (or who has
    already checked in): the places, theirs chosen. ``index``: all places, if read already."""
    mine = assembly_board.my_assembly(request=sr, values=values, index=index)
    if not mine.coming and mine.arrived_at is None:
        return None
    chosen = mine.place.pk if mine.place else None
    if places is None:
        places = index.active if index else selectors.round_places()
    return {
        "url": url,
        "places": [(pid, name, pid == chosen) for pid, name in sorted(places.items(), key=_name)],
        "arrived_at": mine.arrived_at,
        "arrived_place": mine.arrived_place,
    }


def _name(item: tuple[int, str]) -> str:
    return item[1]


# The questions of a form with nothing filled in are the same for everyone of a round (in one
# language, with the same assembly places): rendered once per process and reused (they were
# most of the page's template time; bench/answer_cpu.py). Keyed by everything they show.
_BLANK_FIELDS: dict[tuple, str] = {}
_BLANK_FIELDS_MAX = 64


def _blank_fields_html(questions: dict | list, places: dict[int, str]) -> str:
    key = (
        translation.get_language(),
        json.dumps(questions, sort_keys=True, ensure_ascii=False),
        tuple(sorted(places.items())),
    )
    html = _BLANK_FIELDS.get(key)
    if html is None:
        fields = _fields(questions, {}, {}, places)
        html = mark_safe(  # noqa: S308 - rendered by the template engine (escaped there)
            render_to_string("safety/_answer_fields.html", {"fields": fields})
        )
        if len(_BLANK_FIELDS) >= _BLANK_FIELDS_MAX:
            _BLANK_FIELDS.clear()
        _BLANK_FIELDS[key] = html
    return html


def _form_context(
    sr: SafetyRequest,
    *,
    data=None,
    errors=None,
    saved=None,
    arrive_url: str = "",
    index: assembly_board.Places | None = None,
) -> dict:
    """``index``: all assembly places (one query for the form, the validation and the arrival
    form), if the caller has read them; else read here."""
    places = index.active if index else selectors.round_places()
    if data is None and sr.answer_id:
        data = dict(sr.answer.values)
    labels = []
    if saved:
        labels = answer_labels(template=sr.round.questions, values=saved.values, places=places)
    arrive = None
    if arrive_url and not errors:
        arrive = arrive_context(
            sr,
            url=arrive_url,
            values=saved.values if saved else None,
            places=places,
            index=index,
        )
    # The form's once-key: sending the same form again (a retry after a lost reply) stores
    # it once. A form shown again with errors keeps the one it was sent with.
    submission = answers.submission_clean((data or {}).get("once", "")) if errors else ""
    blank = not data and not errors
    return {
        "once": submission or secrets.token_urlsafe(12),
        "sr": sr,
        "round": sr.round,
        "fields_html": _blank_fields_html(sr.round.questions, places) if blank else "",
        "fields": [] if blank else _fields(sr.round.questions, data or {}, errors or {}, places),
        "errors": errors or {},
        "saved": saved,
        "saved_labels": labels,
        "arrive": arrive,
    }


@login_not_required
@never_cache
def answer_by_link(request: HttpRequest, token: str) -> HttpResponse:
    sr = _request_for(token)
    if sr is None:
        return render(request, "safety/answer_invalid.html", status=404)
    if sr.round.status != SafetyRound.Status.OPEN:
        return render(request, "safety/answer_closed.html", {"round": sr.round}, status=410)
    arrive = reverse("safety:arrived", args=[token])
    if request.method == "POST":
        if not rate_allow_all(  # both limits in one round trip to Redis
            [
                (f"link:{sr.pk}", LINK_POSTS_PER_10_MIN, 600),
                (f"addr:{_client_address(request)}", ADDRESS_POSTS_PER_MIN, 60),
            ]
        ):
            return render(request, "safety/answer_slow_down.html", status=429)
        # All places in one query, once per request: the validation, both forms, the arrival.
        index = assembly_board.places()
        data = request.POST.dict()
        try:
            saved = answers.answer_from_link(
                request=sr, data=data, places=index.active, submission=data.get("once", "")
            )
        except answers.AnswerInvalid as exc:
            context = _form_context(sr, data=data, errors=exc.errors, index=index)
            return render(request, "safety/answer.html", context, status=400)
        except ValidationError:
            return render(request, "safety/answer_closed.html", {"round": sr.round}, status=410)
        context = _form_context(sr, saved=saved, arrive_url=arrive, index=index)
        return render(request, "safety/answer_thanks.html", context)
    context = _form_context(sr, arrive_url=arrive, index=assembly_board.places())
    return render(request, "safety/answer.html", context)


def answer_in_app(request: HttpRequest, round_id: int) -> HttpResponse:
    round_ = get_object_or_404(SafetyRound, pk=round_id)
    sr = (
        SafetyRequest.objects.select_related("round", "staff", "staff__unit", "answer")
        .filter(round=round_, staff__user=request.user)
        .first()
    )
    if sr is None:
        raise PermissionDenied(_("This safety confirmation was not sent to you."))
    if round_.status != SafetyRound.Status.OPEN:
        return render(request, "safety/answer_closed.html", {"round": round_}, status=410)
    arrive = reverse("safety:arrived_in_app", args=[round_.pk])
    if request.method == "POST":
        try:
            saved = answers.answer_in_app(
                user=request.user, round_=round_, data=request.POST.dict()
            )
        except answers.AnswerInvalid as exc:
            return render(
                request,
                "safety/answer.html",
                _form_context(sr, data=request.POST.dict(), errors=exc.errors) | {"in_app": True},
                status=400,
            )
        context = _form_context(sr, saved=saved, arrive_url=arrive)
        return render(request, "safety/answer_thanks.html", context | {"in_app": True})
    context = _form_context(sr, arrive_url=arrive)
    return render(request, "safety/answer.html", context | {"in_app": True})


def my_round(request: HttpRequest) -> HttpResponse:
    """The newest open round sent to me (Home's "answer the safety confirmation")."""
    sr = (
        SafetyRequest.objects.filter(
            staff__user=request.user, round__status=SafetyRound.Status.OPEN
        )
        .order_by("-round__started_at")
        .first()
    )
    if sr is None:
        return redirect("home")
    return redirect("safety:answer_in_app", round_id=sr.round_id)
