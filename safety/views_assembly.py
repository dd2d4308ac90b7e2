"""Assembly pages: the board (expected / arrived / late / missing per place and per unit) for
headquarters and the places' coordinators, one place's list with a big 到着 button per person
for its coordinator, and "I have arrived" for the person (signed in, or from their answer
link). Thin: permission through a selector, one service, render."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages as flash
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from directory.importing import norm_code
from directory.models import OrgUnit, Staff

from . import assembly, selectors
from . import assembly_board as boards
from .models import AssemblyPlace, SafetyRequest, SafetyRound
from .ratelimit import rate_allow
from .views_answer import LINK_POSTS_PER_10_MIN, _request_for

SHOW = ("waiting", "arrived", "all")


def _wants_json(request: HttpRequest) -> bool:
    return request.headers.get("X-Requested-With") == "fetch"


def _arrived_label(at) -> str:
    return _("Arrived %(time)s") % {"time": timezone.localtime(at).strftime("%H:%M")}


def assembly_board(request: HttpRequest, round_id: int) -> HttpResponse:
    if not selectors.user_can_see_assembly(user=request.user):
        raise PermissionDenied
    round_ = get_object_or_404(SafetyRound.objects.select_related("incident"), pk=round_id)
    board = _board_for(request, round_)
    headquarters = selectors.user_can_see_totals(user=request.user)
    unit = None
    if headquarters and request.GET.get("unit", "").isdigit():
        unit = OrgUnit.objects.filter(pk=int(request.GET["unit"])).first()
    depth = unit.depth + 1 if unit else 1
    units = [
        u
        for u in (board.units if headquarters else [])
        if u.depth <= depth and (unit is None or u.path.startswith(unit.path))
    ]
    context = {
        "round": round_,
        "board": board,
        "places": board.places,
        "units": units,
        "unit": unit,
        "headquarters": headquarters,
        "late_minutes": settings.HONBU_ASSEMBLY_LATE_MINUTES,
        "grace_minutes": settings.HONBU_ASSEMBLY_GRACE_MINUTES,
    }
    template = "safety/_assembly.html" if request.GET.get("partial") else "safety/assembly.html"
    return render(request, template, context)


def _board_for(request: HttpRequest, round_: SafetyRound) -> boards.Board:
    """Headquarters see every place; a coordinator only the places they coordinate."""
    board = boards.assembly_board(round_=round_)
    if selectors.user_can_see_totals(user=request.user):
        return board
    mine = {p.pk for p in selectors.user_coordinated_places(user=request.user)}
    return boards.Board(
        round_id=board.round_id,
        closed=board.closed,
        counts=board.counts,
        places=[row for row in board.places if row.place_id in mine],
        units=[],
        computed_at=board.computed_at,
    )


def _place_or_404(round_id: int, place_id: int) -> tuple[SafetyRound, AssemblyPlace]:
    round_ = get_object_or_404(SafetyRound.objects.select_related("incident"), pk=round_id)
    place = get_object_or_404(AssemblyPlace, pk=place_id)
    return round_, place


def assembly_place(request: HttpRequest, round_id: int, place_id: int) -> HttpResponse:
    round_, place = _place_or_404(round_id, place_id)
    if not selectors.user_can_see_place(user=request.user, place=place):
        raise PermissionDenied
    people = boards.place_people(round_=round_, place=place)
    counts = boards.place_counts(people)
    show = request.GET.get("show", "waiting")
    show = show if show in SHOW else "waiting"
    if show == "waiting":
        shown = [p for p in people if p.status != boards.ARRIVED]
    elif show == "arrived":
        shown = [p for p in people if p.status == boards.ARRIVED]
    else:
        shown = people
    context = {
        "round": round_,
        "place": place,
        "people": shown,
        "counts": counts,
        "show": show,
        "waiting": sum(1 for p in people if p.status != boards.ARRIVED),
        "arrived": sum(1 for p in people if p.status == boards.ARRIVED),
        "everyone": len(people),
        "can_check_in": round_.status == SafetyRound.Status.OPEN
        and selectors.user_can_check_in_others(user=request.user, place=place),
        "headquarters": selectors.user_can_see_totals(user=request.user),
    }
    template = "safety/_assembly_place.html" if request.GET.get("partial") else None
    return render(request, template or "safety/assembly_place.html", context)


@require_POST
def assembly_check_in(request: HttpRequest, round_id: int, place_id: int) -> HttpResponse:
    """The coordinator's 到着 button (one person by request id) or the walk-in form (an
    employee number): records the arrival here, now."""
    round_, place = _place_or_404(round_id, place_id)
    if not selectors.user_can_check_in_others(user=request.user, place=place):
        raise PermissionDenied
    sr = _request_in_round(round_, request.POST)
    back = reverse("safety:assembly_place", args=[round_.pk, place.pk])
    if sr is None:
        message = _("Nobody with this employee number was asked in this safety confirmation.")
        if _wants_json(request):
            return JsonResponse({"ok": False, "error": message}, status=404)
        flash.error(request, message)
        return redirect(back)
    try:
        checkin = assembly.checkin_record(actor=request.user, request=sr, place=place)
    except ValidationError as exc:
        if _wants_json(request):
            return JsonResponse({"ok": False, "error": " ".join(exc.messages)}, status=409)
        flash.error(request, " ".join(exc.messages))
        return redirect(back)
    if _wants_json(request):
        return JsonResponse({"ok": True, "label": _arrived_label(checkin.at)})
    if "employee_number" in request.POST:
        flash.success(
            request,
            _("%(name)s: arrival recorded at %(time)s.")
            % {
                "name": sr.staff.full_name,
                "time": timezone.localtime(checkin.at).strftime("%H:%M"),
            },
        )
    return redirect(f"{back}#r{sr.pk}")


def _request_in_round(round_: SafetyRound, data) -> SafetyRequest | None:
    qs = SafetyRequest.objects.filter(round=round_).select_related("staff")
    if str(data.get("request", "")).isdigit():
        return qs.filter(pk=int(data["request"])).first()
    number = norm_code(str(data.get("employee_number", "")))  # full-width digits, spaces
    if not number:
        return None
    staff = Staff.objects.filter(employee_number=number).first()
    return qs.filter(staff=staff).first() if staff else None


def _place_from(data) -> AssemblyPlace:
    value = str(data.get("place", ""))
    place = AssemblyPlace.objects.filter(pk=int(value)).first() if value.isdigit() else None
    if place is None:
        raise Http404
    return place


@require_POST
def arrived_in_app(request: HttpRequest, round_id: int) -> HttpResponse:
    """The person, signed in: "I have arrived" at the place they choose."""
    sr = (
        SafetyRequest.objects.select_related("staff")
        .filter(round_id=round_id, staff__user=request.user)
        .first()
    )
    if sr is None:
        raise PermissionDenied(_("This safety confirmation was not sent to you."))
    place = _place_from(request.POST)
    try:
        checkin = assembly.checkin_record(actor=request.user, request=sr, place=place)
    except ValidationError as exc:
        flash.error(request, " ".join(exc.messages))
    else:
        flash.success(
            request,
            _("Your arrival at %(place)s is recorded (%(time)s).")
            % {"place": place.name, "time": timezone.localtime(checkin.at).strftime("%H:%M")},
        )
    return redirect("safety:index")


@login_not_required
@never_cache
@require_POST
def arrived_by_link(request: HttpRequest, token: str) -> HttpResponse:
    """The person, from their answer link: "I have arrived" (no sign-in)."""
    sr = _request_for(token)
    if sr is None:
        return render(request, "safety/answer_invalid.html", status=404)
    if sr.round.status != SafetyRound.Status.OPEN:
        return render(request, "safety/answer_closed.html", {"round": sr.round}, status=410)
    if not rate_allow(key=f"link:{sr.pk}", limit=LINK_POSTS_PER_10_MIN, seconds=600):
        return render(request, "safety/answer_slow_down.html", status=429)
    place = _place_from(request.POST)
    try:
        checkin = assembly.checkin_from_link(request=sr, place=place)
    except ValidationError:
        return render(request, "safety/answer_closed.html", {"round": sr.round}, status=410)
    return render(
        request,
        "safety/arrived.html",
        {"round": sr.round, "sr": sr, "place": place, "checkin": checkin, "token": token},
    )
