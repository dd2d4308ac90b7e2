"""Django admin for disaster mode and safety confirmation: private contacts are for
administrators only, with a bulk import page (all or nothing, every bad row named)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from directory import importing

from . import contacts, selectors
from .models import SafetyContact


class ContactImportForm(forms.Form):
    file = forms.FileField(
        label=_("File"),
        help_text=_(
            "CSV (UTF-8 or Shift_JIS) or Excel (.xlsx): employee number and private e-mail, one "
            "person per row; a header row (職員番号, 私用メール) is optional."
        ),
    )


@admin.register(SafetyContact)
class SafetyContactAdmin(admin.ModelAdmin):
    """Administrators only (the people's private addresses)."""

    list_display = ("employee_number", "staff_name", "email", "source", "updated_at")
    list_filter = ("source",)
    search_fields = ("=staff__employee_number", "email")
    raw_id_fields = ("staff",)
    list_select_related = ("staff",)
    fields = ("staff", "email")
    show_full_result_count = False
    change_list_template = "admin/safety/safetycontact/change_list.html"

    def _allowed(self, request) -> bool:
        return selectors.user_sees_private_contacts(user=request.user)

    def has_module_permission(self, request):
        return self._allowed(request)

    def has_view_permission(self, request, obj=None):
        return self._allowed(request)

    def has_add_permission(self, request):
        return self._allowed(request)

    def has_change_permission(self, request, obj=None):
        return self._allowed(request)

    def has_delete_permission(self, request, obj=None):
        return self._allowed(request)

    @admin.display(description=_("employee number"), ordering="staff__employee_number")
    def employee_number(self, obj: SafetyContact) -> str:
        return obj.staff.employee_number

    @admin.display(description=_("name"))
    def staff_name(self, obj: SafetyContact) -> str:
        return obj.staff.full_name

    def save_model(self, request, obj, form, change):
        contacts.contact_set(
            staff=form.cleaned_data["staff"],
            email=form.cleaned_data["email"],
            actor=request.user,
            source="admin",
        )
        saved = SafetyContact.objects.get(staff=form.cleaned_data["staff"])
        obj.pk, obj.updated_at, obj.source = saved.pk, saved.updated_at, saved.source

    def delete_model(self, request, obj):
        contacts.contact_set(staff=obj.staff, email="", actor=request.user, source="admin")

    def delete_queryset(self, request, queryset):
        for contact in queryset.select_related("staff"):
            self.delete_model(request, contact)

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("import/", wrap(self.import_view), name="safety_safetycontact_import"),
            *super().get_urls(),
        ]

    def import_view(self, request: HttpRequest) -> HttpResponse:
        if not self._allowed(request):
            raise PermissionDenied
        form = ContactImportForm(request.POST or None, request.FILES or None)
        errors: list[importing.RowError] = []
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                result = contacts.contacts_import(
                    filename=upload.name, content=upload.read(), actor=request.user
                )
            except contacts.ContactsImportInvalid as exc:
                errors = exc.errors
            except ValidationError as exc:
                form.add_error("file", exc)
            else:
                messages.success(
                    request,
                    gettext("Imported %(rows)d private contacts (%(new)d new, %(old)d replaced).")
                    % {"rows": result.rows, "new": result.created, "old": result.updated},
                )
                return redirect("admin:safety_safetycontact_changelist")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Import private contacts"),
            "form": form,
            "errors": errors,
        }
        return TemplateResponse(
            request,
            "admin/safety/safetycontact/import.html",
            context,
            status=400 if errors else 200,
        )
