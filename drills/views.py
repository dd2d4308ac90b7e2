"""Drill pages for coordinators and administrators (players never see them): scenarios, starting
a run, the live control page and the after-action report."""

from __future__ import annotations

from django.contrib import messages as flash
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from . import report, runs
from .forms import AddInjectForm, RunStartForm
from .models import Run, RunInject, Scenario

# The after-action report lives in views_report.py; urls.py names it here.
from .views_report import run_report as run_report


def _coordinator(request: HttpRequest) -> None:
    if not runs.user_runs_drills(user=request.user):
        raise PermissionDenied


def scenario_list(request: HttpRequest) -> HttpResponse:
    _coordinator(request)
    return render(
        request,
        "drills/scenario_list.html",
        {
            "scenarios": Scenario.objects.all(),
            "runs": Run.objects.select_related("scenario")[:20],
        },
    )


def scenario_detail(request: HttpRequest, scenario_id: int) -> HttpResponse:
    _coordinator(request)
    scenario = get_object_or_404(Scenario, pk=scenario_id)
    form = RunStartForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            run = runs.run_start(
                scenario=scenario,
                actor=request.user,
                speed=form.cleaned_data["speed"],
                start_at=form.cleaned_data["start_at"],
                on_real_incident=form.cleaned_data["on_real_incident"],
                units=list(form.cleaned_data["units"]),
            )
        except ValidationError as exc:
            for message in exc.messages:
                form.add_error(None, message)
        else:
            flash.success(request, _("The drill has started."))
            return redirect("drills:run_control", run_id=run.pk)
    return render(
        request,
        "drills/scenario_detail.html",
        {
            "scenario": scenario,
            "injects": scenario.injects.select_related("from_post", "to_group", "contingency"),
            "form": form,
            "runs": scenario.runs.all()[:10],
        },
    )


def run_control(request: HttpRequest, run_id: int) -> HttpResponse:
    _coordinator(request)
    run = get_object_or_404(Run.objects.select_related("scenario"), pk=run_id)
    context = {
        "run": run,
        "timeline": report.control_timeline(run=run),
        "form": AddInjectForm(),
        "entries": run.entries.select_related("actor__staff").order_by("-at")[:20],
    }
    template = "drills/_control.html" if request.GET.get("partial") else "drills/control.html"
    return render(request, template, context)


@require_POST
def run_action(request: HttpRequest, run_id: int) -> HttpResponse:
    _coordinator(request)
    run = get_object_or_404(Run, pk=run_id)
    action = request.POST.get("action", "")
    try:
        if action == "pause":
            runs.run_pause(run=run, actor=request.user)
        elif action == "resume":
            runs.run_resume(run=run, actor=request.user)
        elif action == "stop":
            runs.run_stop(run=run, actor=request.user, reason=_("stopped by the coordinator"))
        elif action in ("skip", "fire"):
            ri = get_object_or_404(RunInject, pk=request.POST.get("inject"), run=run)
            if action == "skip":
                runs.inject_skip(ri=ri, actor=request.user)
            else:
                runs.inject_fire_now(ri=ri, actor=request.user)
        elif action == "add":
            form = AddInjectForm(request.POST)
            if not form.is_valid():
                raise ValidationError([e for errors in form.errors.values() for e in errors])
            group = form.cleaned_data["group"]
            runs.inject_add(
                run=run,
                actor=request.user,
                kind=form.cleaned_data["kind"],
                text=form.cleaned_data["text"],
                group_id=group.pk if group else None,
                minutes=form.cleaned_data["minutes"],
            )
        else:
            raise ValidationError(_("Unknown action."))
    except ValidationError as exc:
        flash.error(request, " ".join(exc.messages))
    return redirect("drills:run_control", run_id=run.pk)
