"""Account issuance from the admin: options page → accounts → onboarding sheets or CSV.

The initial passwords exist only in this one response (they are hashed in the database), so
the sheet says so and the admin prints or saves it right away.
"""

from __future__ import annotations

import segno
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from . import accounts, selectors
from .exports import csv_lines
from .forms import IssueAccountsForm
from .links import public_base_url


def qr_svg(data: str) -> str:
    return segno.make(data, error="m").svg_inline(scale=4, border=2)


def issue_accounts_action(
    model_admin: admin.ModelAdmin, request: HttpRequest, queryset
) -> HttpResponse | None:
    if not selectors.user_can_manage_directory(user=request.user):
        model_admin.message_user(
            request, _("Only administrators can issue accounts."), messages.ERROR
        )
        return None
    staff = list(queryset.select_related("unit").order_by("unit__path", "kana_sort"))
    form = IssueAccountsForm(request.POST if "apply" in request.POST else None)
    if "apply" in request.POST and form.is_valid():
        base_url = public_base_url(request)
        results = accounts.account_issue(
            staff=staff,
            method=form.cleaned_data["method"],
            role=form.cleaned_data["role"],
            actor=request.user,
            base_url=base_url,
            send_invitation_email=form.cleaned_data["send_email"],
        )
        if form.cleaned_data["output"] == IssueAccountsForm.OUTPUT_CSV:
            return onboarding_csv(results, base_url)
        return onboarding_sheet(request, results, base_url)
    return TemplateResponse(
        request,
        "admin/directory/staff/issue_accounts.html",
        {
            **model_admin.admin_site.each_context(request),
            "title": _("Issue sign-in accounts"),
            "form": form,
            "staff": staff,
            "opts": model_admin.model._meta,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            "without_account": sum(1 for s in staff if s.user_id is None),
        },
    )


def onboarding_sheet(
    request: HttpRequest, results: list[accounts.IssuedAccount], base_url: str
) -> HttpResponse:
    sign_in_url = base_url.rstrip("/") + reverse("account_login")
    sheets = [
        {"item": r, "qr": qr_svg(r.invitation_url or sign_in_url)}
        for r in results
        if not r.skipped_reason
    ]
    return TemplateResponse(
        request,
        "account/onboarding_sheet.html",
        {
            "sheets": sheets,
            "skipped": [r for r in results if r.skipped_reason],
            "sign_in_url": sign_in_url,
            "issued_at": timezone.localtime(),
        },
    )


def onboarding_csv(results: list[accounts.IssuedAccount], base_url: str) -> HttpResponse:
    sign_in_url = base_url.rstrip("/") + reverse("account_login")
    header = [
        _("Employee number"),
        _("Name"),
        _("Unit"),
        _("E-mail"),
        _("Sign-in address"),
        _("Initial password"),
        _("Invitation link"),
        _("Result"),
    ]
    rows = [
        [
            r.staff.employee_number,
            r.staff.full_name,
            r.staff.unit.name,
            r.staff.email,
            sign_in_url,
            r.password,
            r.invitation_url,
            r.skipped_reason or _("issued"),
        ]
        for r in results
    ]
    # UTF-8 with BOM so Excel in Japan opens it; cells a spreadsheet would run are made literal.
    response = HttpResponse(
        "".join(csv_lines([header, *rows])), content_type="text/csv; charset=utf-8"
    )
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="honbu-accounts-{stamp}.csv"'
    response["Cache-Control"] = "no-store"
    return response
