"""The scenario editor (laptop pages for drill coordinators and administrators; players never
see them): a scenario and its injects, import and export of the MSEL spreadsheet, copy and
delete. Every write is a service in ``scenarios.py``."""

from __future__ import annotations

from typing import Any

from django.contrib import messages as flash
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from . import msel, runs, scenarios
from .forms_scenario import ImportForm, InjectForm, ScenarioForm, expectation_formset
from .models import Inject, Scenario

FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def _coordinator(request: HttpRequest) -> None:
    if not runs.user_runs_drills(user=request.user):
        raise PermissionDenied


def _messages(exc: ValidationError) -> dict[str | None, list[str]]:
    return exc.message_dict if hasattr(exc, "error_dict") else {None: exc.messages}


def _errors_into(form: Any, errors: dict[str | None, list[str]]) -> None:
    """A service's errors onto the form: by field where the form has it."""
    for name, messages in errors.items():
        form.add_error(name if name in form.fields else None, messages)


def scenario_new(request: HttpRequest) -> HttpResponse:
    _coordinator(request)
    form = ScenarioForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            scenario = scenarios.scenario_create(actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            _errors_into(form, _messages(exc))
        else:
            return redirect("drills:scenario_edit", scenario_id=scenario.pk)
    return render(request, "drills/scenario_new.html", {"form": form})


def scenario_edit(request: HttpRequest, scenario_id: int) -> HttpResponse:
    _coordinator(request)
    scenario = get_object_or_404(Scenario, pk=scenario_id)
    form = ScenarioForm(
        request.POST or None,
        initial={"title": scenario.title, "description": scenario.description},
    )
    if request.method == "POST" and form.is_valid():
        try:
            scenarios.scenario_update(actor=request.user, scenario=scenario, **form.cleaned_data)
        except ValidationError as exc:
            _errors_into(form, _messages(exc))
        else:
            flash.success(request, _("Saved."))
            return redirect("drills:scenario_edit", scenario_id=scenario.pk)
    injects = scenario.injects.select_related("from_post", "to_group", "contingency")
    return render(
        request,
        "drills/scenario_edit.html",
        {
            "scenario": scenario,
            "form": form,
            "injects": injects.prefetch_related("to_units"),
            "has_runs": scenario.runs.exists(),
            "english": not (get_language() or "ja").startswith("ja"),
        },
    )


def inject_edit(
    request: HttpRequest, scenario_id: int, inject_id: int | None = None
) -> HttpResponse:
    _coordinator(request)
    scenario = get_object_or_404(Scenario, pk=scenario_id)
    inject = get_object_or_404(Inject, pk=inject_id, scenario=scenario) if inject_id else None
    if scenario.runs.exists():
        flash.error(request, scenarios.ERR_HAS_RUNS)
        return redirect("drills:scenario_edit", scenario_id=scenario.pk)
    lookup = msel.Lookup.load()
    if inject is not None:
        initial = InjectForm.initial_for(inject)
    else:
        last = scenario.injects.order_by("-number").first()
        initial = {
            "number": (last.number + 1) if last else 1,
            "time": msel.offset_format(last.offset if last else 0),
        }
    data = request.POST if request.method == "POST" else None
    form = InjectForm(data, initial=initial, scenario=scenario, inject=inject, lookup=lookup)
    formset = expectation_formset(
        data, expectations=inject.expectations if inject else [], lookup=lookup
    )
    expectation_errors: list[str] = []
    if data is not None and form.is_valid() and formset.is_valid():
        values = form.cleaned_data
        try:
            saved = scenarios.inject_save(
                actor=request.user,
                scenario=scenario,
                inject=inject,
                number=values["number"],
                offset=values["time"],
                kind=values["kind"],
                from_post=values["from_post"],
                to_group=values["to_group"],
                to_units=values["to_units"],
                priority=values["priority"],
                text=values["text"],
                expectations=formset.specs(),
                objective=values["objective"],
                contingency=values["contingency"],
                only_as_contingency=values["only_as_contingency"],
            )
        except ValidationError as exc:
            errors = _messages(exc)
            expectation_errors = errors.pop("expectations", [])  # shown above their rows
            if "offset" in errors:
                errors["time"] = errors.pop("offset")
            _errors_into(form, errors)
        else:
            flash.success(request, _("Inject #%(n)s saved.") % {"n": saved.number})
            url = reverse("drills:scenario_edit", args=[scenario.pk])
            return redirect(f"{url}#inject-{saved.number}")
    return render(
        request,
        "drills/scenario_inject.html",
        {
            "scenario": scenario,
            "inject": inject,
            "form": form,
            "formset": formset,
            "expectation_errors": expectation_errors,
            "post_names": lookup.post_names(),
        },
    )


@require_POST
def inject_delete(request: HttpRequest, scenario_id: int, inject_id: int) -> HttpResponse:
    _coordinator(request)
    inject = get_object_or_404(Inject, pk=inject_id, scenario_id=scenario_id)
    try:
        scenarios.inject_delete(actor=request.user, inject=inject)
    except ValidationError as exc:
        flash.error(request, " ".join(exc.messages))
    else:
        flash.success(request, _("Inject #%(n)s deleted.") % {"n": inject.number})
    return redirect("drills:scenario_edit", scenario_id=scenario_id)


@require_POST
def scenario_copy(request: HttpRequest, scenario_id: int) -> HttpResponse:
    _coordinator(request)
    scenario = get_object_or_404(Scenario, pk=scenario_id)
    copy = scenarios.scenario_copy(actor=request.user, scenario=scenario)
    flash.success(request, _("Copied. This is the copy; its injects can be changed."))
    return redirect("drills:scenario_edit", scenario_id=copy.pk)


@require_POST
def scenario_delete(request: HttpRequest, scenario_id: int) -> HttpResponse:
    _coordinator(request)
    scenario = get_object_or_404(Scenario, pk=scenario_id)
    try:
        scenarios.scenario_delete(actor=request.user, scenario=scenario)
    except ValidationError as exc:
        flash.error(request, " ".join(exc.messages))
        return redirect("drills:scenario_edit", scenario_id=scenario.pk)
    flash.success(request, _("Scenario “%(title)s” deleted.") % {"title": scenario.title})
    return redirect("drills:scenario_list")


def scenario_import(request: HttpRequest, scenario_id: int | None = None) -> HttpResponse:
    """Upload a MSEL file: a new scenario, or (``scenario_id``) the injects of one replaced."""
    _coordinator(request)
    scenario = get_object_or_404(Scenario, pk=scenario_id) if scenario_id else None
    form = ImportForm(request.POST or None, request.FILES or None)
    if scenario is not None:
        del form.fields["title"]
    errors = []
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            imported = scenarios.scenario_import(
                actor=request.user,
                filename=upload.name,
                content=upload.read(scenarios.MAX_IMPORT_BYTES + 1),
                title=form.cleaned_data.get("title", ""),
                scenario=scenario,
            )
        except scenarios.ScenarioImportError as exc:
            errors = exc.errors
        except ValidationError as exc:
            _errors_into(form, _messages(exc))
        else:
            count = imported.injects.count()
            flash.success(request, _("Imported %(n)s injects.") % {"n": count})
            return redirect("drills:scenario_edit", scenario_id=imported.pk)
    return render(
        request,
        "drills/scenario_import.html",
        {
            "scenario": scenario,
            "form": form,
            "errors": errors,
            "columns": zip(msel.COLUMNS, msel.COLUMN_EXAMPLES, strict=True),
            "example": msel.EXAMPLE,
        },
        status=400 if errors else 200,
    )


def scenario_export(request: HttpRequest, scenario_id: int, fmt: str) -> HttpResponse:
    """``?headers=en`` for English headers and words; Japanese otherwise."""
    _coordinator(request)
    scenario = get_object_or_404(Scenario, pk=scenario_id)
    if fmt not in FORMATS:
        raise Http404
    english = request.GET.get("headers") == "en"
    write = msel.export_xlsx if fmt == "xlsx" else msel.export_csv
    response = HttpResponse(write(scenario=scenario, english=english), content_type=FORMATS[fmt])
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=True, filename=f"{scenario.title}.{fmt}"
    )
    return response
