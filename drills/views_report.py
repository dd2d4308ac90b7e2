"""The after-action report of a run (page, PDF, raw CSV), the evaluator's ratings, and the
comparison of runs of one scenario. Coordinators and administrators only, like every drill
page; exports carry names and are audited."""

from __future__ import annotations

from django.contrib import messages as flash
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext as _

from directory.exports import csv_lines
from directory.services import audit_record

from . import charts, evaluation, pdf, report, runs
from .forms_report import CompareForm, EvaluationForm
from .models import Run, RunInject, Scenario


def _coordinator(request: HttpRequest) -> None:
    if not runs.user_runs_drills(user=request.user):
        raise PermissionDenied


def _run(run_id: int) -> Run:
    return get_object_or_404(Run.objects.select_related("scenario", "started_by__staff"), pk=run_id)


def _filename(run: Run, ext: str) -> str:
    return f"drill-{run.pk}-{timezone.localtime(run.start_at):%Y%m%d-%H%M}.{ext}"


def run_report(request: HttpRequest, run_id: int) -> HttpResponse:
    """GET: the report (``?inject=<id>``: everyone one inject reached). POST: the
    evaluator's ratings, then back to the report."""
    _coordinator(request)
    run = _run(run_id)
    if request.method == "GET" and request.GET.get("inject"):
        return _inject_people(request, run, request.GET["inject"])
    objectives = evaluation.run_objectives(run=run)
    form = EvaluationForm(request.POST or None, objectives=objectives, saved=run.evaluation)
    if request.method == "POST":
        if form.is_valid():
            try:
                evaluation.run_evaluate(run=run, actor=request.user, ratings=form.ratings())
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                flash.success(request, _("The evaluation has been saved."))
                return redirect(f"{request.path}#evaluation")
        run.refresh_from_db()
    data = report.run_report(run=run)
    return render(
        request,
        "drills/report.html",
        {"run": run, "report": data, "charts": charts.report_charts(data), "form": form},
        status=400 if request.method == "POST" else 200,
    )


def _inject_people(request: HttpRequest, run: Run, inject_id: str) -> HttpResponse:
    if not inject_id.isdigit():
        raise Http404
    ri = get_object_or_404(
        RunInject.objects.select_related("message", "inject"),
        pk=int(inject_id),
        run=run,
        status=RunInject.Status.FIRED,
    )
    people, read, acked, replied = report.inject_people(ri=ri)
    return render(
        request,
        "drills/report_inject.html",
        {"run": run, "ri": ri, "people": people, "read": read, "acked": acked, "replied": replied},
    )


def run_report_pdf(request: HttpRequest, run_id: int) -> HttpResponse:
    _coordinator(request)
    run = _run(run_id)
    data = report.run_report(run=run)
    html = render_to_string(
        "drills/report_pdf.html",
        {"run": run, "report": data, "charts": charts.report_charts(data, paged=True), "pdf": True},
        request=request,
    )
    document = pdf.html_to_pdf(html)
    audit_record(
        actor=request.user, action="drill.report_export", target=run, data={"format": "pdf"}
    )
    response = HttpResponse(document, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{_filename(run, "pdf")}"'
    return response


def run_report_csv(request: HttpRequest, run_id: int) -> HttpResponse:
    """The raw measurements, one row per inject × person, every cell formula-safe."""
    _coordinator(request)
    run = _run(run_id)
    audit_record(
        actor=request.user, action="drill.report_export", target=run, data={"format": "csv"}
    )
    response = StreamingHttpResponse(
        csv_lines(report.measurement_rows(run=run)), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{_filename(run, "csv")}"'
    return response


def scenario_compare(request: HttpRequest, scenario_id: int) -> HttpResponse:
    """Runs of one scenario side by side (?runs=1,2): did the city get faster?"""
    _coordinator(request)
    scenario = get_object_or_404(Scenario, pk=scenario_id)
    available = list(scenario.runs.order_by("-start_at"))
    form = CompareForm(request.GET, choices=[r.pk for r in available])
    chosen = form.cleaned_data["ids"] if form.is_valid() else []
    if not chosen:  # the two latest runs
        chosen = [r.pk for r in available[:2]]
    picked = [r for r in available if r.pk in chosen]
    comparison = report.runs_compare(scenario=scenario, runs=picked)
    return render(
        request,
        "drills/compare.html",
        {
            "scenario": scenario,
            "available": available,
            "chosen": {r.pk for r in picked},
            "comparison": comparison,
            "chart": charts.comparison_chart(comparison),
        },
    )
