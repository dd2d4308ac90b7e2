"""Disaster mode pages: declare, the incident (timeline, level, end), its chronology export,
and the safety index. Thin: permission through a selector, one service, render."""

from __future__ import annotations

import json

from django.contrib import messages as flash
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from directory.services import audit_record
from messaging import selectors as messaging_selectors

from . import chronology, incidents, rounds, selectors
from .forms import DeclareForm, LevelForm
from .models import Incident, SafetyRequest, SafetyRound
from .views_answer import arrive_context


def safety_index(request: HttpRequest) -> HttpResponse:
    can_see = selectors.user_can_see_totals(user=request.user)
    mine = (
        SafetyRequest.objects.filter(staff__user=request.user, round__status="open")
        .select_related("round", "answer", "unit")
        .order_by("-round__started_at")
    )
    mine = [
        (
            sr,
            arrive_context(sr, url=reverse("safety:arrived_in_app", args=[sr.round_id])),
        )
        for sr in mine[:5]
    ]
    places = selectors.user_coordinated_places(user=request.user)
    coordinating = [
        (r, place)
        for r in (SafetyRound.objects.filter(status="open")[:5] if places else [])
        for place in places
    ]
    return render(
        request,
        "safety/index.html",
        {
            "incidents": Incident.objects.select_related("level")[:20] if can_see else [],
            "rounds": SafetyRound.objects.select_related("incident")[:20] if can_see else [],
            "mine": mine,
            "coordinating": coordinating,
            "can_declare": selectors.user_can_declare(user=request.user),
            "can_see": can_see,
        },
    )


def incident_declare(request: HttpRequest) -> HttpResponse:
    if not selectors.user_can_declare(user=request.user):
        raise PermissionDenied
    form = DeclareForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            incident = incidents.incident_declare(
                actor=request.user,
                title=data["title"],
                kind=data["kind"],
                level=data["level"],
                affected_units=list(data["affected_units"]),
                started_at=data["started_at"],
            )
            if data["start_round"]:
                area = [u.pk for u in data["affected_units"]]
                target = (
                    {"workplace_units": area}
                    if data["round_target"] == "affected" and area
                    else {"all": True}
                )
                rounds.round_start(
                    actor=request.user, incident=incident, title=incident.title, target=target
                )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            flash.success(request, _("Disaster mode is declared."))
            return redirect("safety:incident_detail", incident_id=incident.pk)
    return render(request, "safety/declare.html", {"form": form})


def incident_detail(request: HttpRequest, incident_id: int) -> HttpResponse:
    if not selectors.user_can_see_totals(user=request.user):
        raise PermissionDenied
    incident = get_object_or_404(Incident.objects.select_related("level"), pk=incident_id)
    can_declare = selectors.user_can_declare(user=request.user)
    level_form = LevelForm(request.POST or None, initial={"level": incident.level})
    if request.method == "POST":
        if not can_declare:
            raise PermissionDenied
        try:
            if "end" in request.POST:
                incidents.incident_end(incident=incident, actor=request.user)
                flash.success(request, _("Disaster mode has ended."))
            elif level_form.is_valid():
                incidents.incident_set_level(
                    incident=incident, level=level_form.cleaned_data["level"], actor=request.user
                )
                flash.success(request, _("The level was changed."))
        except ValidationError as exc:
            flash.error(request, " ".join(exc.messages))
        return redirect("safety:incident_detail", incident_id=incident.pk)
    return render(
        request,
        "safety/incident.html",
        {
            "incident": incident,
            "entries": incident.entries.select_related("actor__staff"),
            "rounds": incident.rounds.all(),
            "can_declare": can_declare,
            "level_form": level_form,
            "is_admin": messaging_selectors.user_is_records_admin(user=request.user),
        },
    )


def incident_chronology(request: HttpRequest, incident_id: int, fmt: str = "") -> HttpResponse:
    """The incident's chronology as the public record: a page (headquarters) or, for
    administrators, CSV/JSON. Viewing and exporting are audited."""
    incident = get_object_or_404(Incident, pk=incident_id)
    if fmt:
        if not messaging_selectors.user_is_records_admin(user=request.user):
            raise PermissionDenied
    elif not selectors.user_can_see_totals(user=request.user):
        raise PermissionDenied
    audit_record(
        actor=request.user,
        action="incident.chronology_export" if fmt else "incident.chronology_view",
        target=incident,
        data={"format": fmt or "page"},
    )
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
    exercise = request.GET.get("exercise", "all")  # exclude: leave drills out; only: drills
    exercise = exercise if exercise in ("all", "exclude", "only") else "all"
    if fmt == "csv":
        response = StreamingHttpResponse(
            chronology.chronology_csv(incident=incident, exercise=exercise),
            content_type="text/csv; charset=utf-8",
        )
    elif fmt == "json":
        response = HttpResponse(
            json.dumps(
                {
                    "incident": {"id": incident.pk, "title": incident.title},
                    "exported_at": timezone.localtime().isoformat(),
                    "exported_by": request.user.get_username(),
                    "entries": list(
                        chronology.chronology_entries(incident=incident, exercise=exercise)
                    ),
                },
                ensure_ascii=False,
                indent=1,
            ),
            content_type="application/json; charset=utf-8",
        )
    else:
        entries = chronology.chronology_page(incident=incident, exercise=exercise)
        return render(request, "safety/chronology.html", {"incident": incident, "entries": entries})
    response["Content-Disposition"] = f'attachment; filename="incident-{incident.pk}-{stamp}.{fmt}"'
    return response


@require_POST
def round_close(request: HttpRequest, round_id: int) -> HttpResponse:
    round_ = get_object_or_404(SafetyRound, pk=round_id)
    rounds.round_close(round_=round_, actor=request.user)
    flash.success(request, _("The safety confirmation is closed."))
    return redirect("safety:round_detail", round_id=round_.pk)


@require_POST
def round_resend(request: HttpRequest, round_id: int) -> HttpResponse:
    round_ = get_object_or_404(SafetyRound, pk=round_id)
    try:
        sent = rounds.round_resend_now(round_=round_, actor=request.user)
    except ValidationError as exc:
        flash.error(request, " ".join(exc.messages))
    else:
        flash.success(request, _("Sent again to %(n)d people.") % {"n": sent})
    return redirect("safety:round_detail", round_id=round_.pk)
