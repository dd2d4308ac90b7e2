"""Admin pages for bulk import of the HR roster and the unit list.

upload (kind, file, deactivate-missing) → preview (counts and samples, or every error with row,
column and reason) → Apply (POST) → the same page showing the result. Only administrators
(``selectors.user_can_manage_directory``) may use them; the work is done by
the ``directory/importing/`` package.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import FieldDoesNotExist, PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from . import importing, selectors
from .exports import csv_lines
from .models import ImportJob, OrgUnit, Staff

ERRORS_SHOWN = 1000  # the page lists this many errors; the CSV download has them all
MSG_APPLIED = _("The import was applied.")
MSG_NOW_INVALID = _(
    "The directory has changed since the preview and the file no longer fits it. Nothing was "
    "imported; the errors are listed below."
)


class ImportUploadForm(forms.Form):
    kind = forms.ChoiceField(label=_("What to import"), choices=ImportJob.Kind.choices)
    file = forms.FileField(
        label=_("File"), help_text=_("CSV (UTF-8 or Shift_JIS) or Excel workbook (.xlsx).")
    )
    deactivate_missing = forms.BooleanField(
        label=_("Deactivate staff missing from the roster"),
        required=False,
        help_text=_("Staff roster only. Without this, staff not in the file are left as they are."),
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        importing.import_check_size(size=upload.size)
        return upload


def _require_admin(request: HttpRequest) -> None:
    if not selectors.user_can_manage_directory(user=request.user):
        raise PermissionDenied


def _field_label(kind: str, name: str) -> str:
    if name == "unit_code":
        return gettext("unit")
    if name == "parent_code":
        return gettext("parent unit")
    model = OrgUnit if kind == ImportJob.Kind.UNITS else Staff
    try:
        return str(model._meta.get_field(name).verbose_name)
    except FieldDoesNotExist:
        return name


def _sample_rows(job: ImportJob) -> list[dict[str, Any]]:
    """The preview's samples as rows of display text, one section per outcome."""
    titles = {
        "created": _("To create"),
        "updated": _("To update"),
        "unchanged": _("Unchanged"),
        "deactivated": _("To deactivate"),
    }
    sections = []
    for bucket, title in titles.items():
        items = job.summary.get("samples", {}).get(bucket, [])
        rows = []
        for item in items:
            changes = item.get("changes", {})
            details = "; ".join(
                f"{_field_label(job.kind, k)}: {old if old != '' else '—'}"
                f" → {new if new != '' else '—'}"
                for k, (old, new) in changes.items()
            )
            if not details and item.get("unit_code"):
                details = f"{gettext('unit')}: {item['unit_code']}"
            if not details and item.get("parent_code"):
                details = f"{gettext('parent unit')}: {item['parent_code']}"
            rows.append(
                {
                    "row": item.get("row"),
                    "key": item.get("employee_number") or item.get("code"),
                    "name": item.get("name", ""),
                    "details": details,
                }
            )
        count = job.summary.get("counts", {}).get(bucket, 0)
        sections.append({"title": title, "count": count, "rows": rows})
    return sections


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "kind",
        "filename",
        "status",
        "uploaded_by",
        "applied_at",
        "preview_link",
    )
    list_filter = ("kind", "status")
    readonly_fields = (
        "kind",
        "filename",
        "encoding",
        "deactivate_missing",
        "status",
        "summary",
        "errors",
        "uploaded_by",
        "created_at",
        "applied_at",
    )
    change_list_template = "admin/directory/importjob/change_list.html"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        return selectors.user_can_manage_directory(user=request.user)

    def has_module_permission(self, request):
        return selectors.user_can_manage_directory(user=request.user)

    @admin.display(description=_("details"))
    def preview_link(self, obj: ImportJob) -> str:
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:directory_importjob_preview", args=[obj.pk]),
            gettext("Open"),
        )

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("upload/", wrap(self.upload_view), name="directory_importjob_upload"),
            path("<int:pk>/preview/", wrap(self.preview_view), name="directory_importjob_preview"),
            path("<int:pk>/apply/", wrap(self.apply_view), name="directory_importjob_apply"),
            path(
                "<int:pk>/errors.csv", wrap(self.errors_csv_view), name="directory_importjob_errors"
            ),
            *super().get_urls(),
        ]

    def _context(self, request: HttpRequest, title: str, **extra: Any) -> dict[str, Any]:
        return {**self.admin_site.each_context(request), "opts": self.opts, "title": title, **extra}

    def upload_view(self, request: HttpRequest) -> HttpResponse:
        _require_admin(request)
        form = ImportUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                job = importing.import_preview(
                    kind=form.cleaned_data["kind"],
                    filename=upload.name,
                    content=upload.read(),
                    deactivate_missing=form.cleaned_data["deactivate_missing"],
                    uploaded_by=request.user,
                )
            except ValidationError as exc:
                form.add_error("file", exc)
            else:
                return redirect("admin:directory_importjob_preview", pk=job.pk)
        return TemplateResponse(
            request,
            "admin/directory/importjob/upload.html",
            self._context(request, gettext("Import a file"), form=form),
        )

    def preview_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        _require_admin(request)
        job = get_object_or_404(ImportJob.objects.defer("content"), pk=pk)
        context = self._context(
            request,
            gettext("Import: %(name)s") % {"name": job.filename},
            job=job,
            sections=_sample_rows(job) if job.summary else [],
            errors=job.errors[:ERRORS_SHOWN],
            errors_hidden=max(0, len(job.errors) - ERRORS_SHOWN),
            can_apply=job.status == ImportJob.Status.PREVIEWED,
            is_staff_import=job.kind == ImportJob.Kind.STAFF,
        )
        return TemplateResponse(request, "admin/directory/importjob/preview.html", context)

    def apply_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        _require_admin(request)
        return self._apply(request, pk)

    @staticmethod
    @require_POST
    def _apply(request: HttpRequest, pk: int) -> HttpResponse:
        job = get_object_or_404(ImportJob.objects.defer("content"), pk=pk)
        try:
            job = importing.import_apply(job=job, actor=request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            if job.status == ImportJob.Status.APPLIED:
                messages.success(request, MSG_APPLIED)
            else:
                messages.error(request, MSG_NOW_INVALID)
        return redirect("admin:directory_importjob_preview", pk=pk)

    def errors_csv_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        _require_admin(request)
        job = get_object_or_404(ImportJob.objects.defer("content"), pk=pk)
        rows = [[gettext("Row"), gettext("Column"), gettext("Reason")]] + [
            [error["row"] or "", error["column"], error["message"]] for error in job.errors
        ]
        # A cell of the uploaded file quoted in a reason must not run as a formula.
        response = HttpResponse(
            "".join(csv_lines(rows)).encode("utf-8"), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = f'attachment; filename="import-{job.pk}-errors.csv"'
        return response
