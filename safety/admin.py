"""Django admin for disaster mode and safety confirmation. Writes go through the services
(configuration.py, contacts.py), audited; incidents and rounds are public records, shown read
only with links to their pages; private contacts are for administrators only, with a bulk
import page (all or nothing, every bad row named). The JMA feed's rule, codes and reports live
in safety/jma/admin.py (imported at the end)."""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from directory import importing
from messaging.models import CommandGroup

from . import configuration, contacts, selectors
from .models import (
    AssemblyPlace,
    Incident,
    IncidentLevel,
    SafetyContact,
    SafetyRound,
    SafetySettings,
)
from .questions import DEFAULT_QUESTIONS, questions_check


class _ReadOnly(admin.ModelAdmin):
    """A public record: listed and shown, never added, changed or deleted here."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(IncidentLevel)
class IncidentLevelAdmin(admin.ModelAdmin):
    list_display = ("name", "code", "order")
    ordering = ("order", "code")

    def has_delete_permission(self, request, obj=None):
        return False  # incidents keep their level for good

    def save_model(self, request, obj, form, change):
        configuration.level_save(level=obj, actor=request.user)


@admin.register(Incident)
class IncidentAdmin(_ReadOnly):
    list_display = ("title", "kind", "level", "started_at", "ended_at", "drill", "page")
    list_filter = ("kind", "level", "is_drill")
    search_fields = ("title",)
    date_hierarchy = "started_at"
    fields = ("title", "kind", "level", "started_at", "ended_at", "drill", "origin", "page")
    readonly_fields = fields

    @admin.display(boolean=True, description=_("exercise"))
    def drill(self, obj: Incident) -> bool:
        return obj.is_drill

    @admin.display(description=_("source"))
    def origin(self, obj: Incident) -> str:
        return f"{obj.source} {obj.jma_event_id}".strip()

    @admin.display(description=_("page"))
    def page(self, obj: Incident) -> str:
        return format_html(
            '<a href="{}">{}</a>', reverse("safety:incident_detail", args=[obj.pk]), gettext("Open")
        )


class SafetySettingsForm(forms.ModelForm):
    resend_minutes = forms.JSONField(
        label=_("re-send to unanswered after (minutes)"),
        required=False,
        help_text=_("A list of minutes after the start, e.g. [15, 30, 60]. Empty: 15, 30, 60."),
    )
    questions = forms.JSONField(
        label=_("questions"),
        required=False,
        help_text=_("Empty: the standard questions. The attendance question (attend) is required."),
    )

    class Meta:
        model = SafetySettings
        fields = ("hq_group", "commander_post", "announcer", "resend_minutes", "questions")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["hq_group"].queryset = CommandGroup.objects.filter(
            is_active=True, kind=CommandGroup.Kind.HEADQUARTERS
        ).order_by("name")

    def clean_resend_minutes(self):
        value = self.cleaned_data.get("resend_minutes") or []
        try:
            return configuration.resend_minutes_check(value)
        except ValidationError as exc:
            raise ValidationError(exc.message_dict["resend_minutes"]) from None

    def clean_questions(self):
        value = self.cleaned_data.get("questions") or {}
        if value:
            questions_check(value)
        return value


@admin.register(SafetySettings)
class SafetySettingsAdmin(admin.ModelAdmin):
    """One row: the list opens it."""

    form = SafetySettingsForm
    raw_id_fields = ("commander_post", "announcer")
    readonly_fields = ("standard_questions",)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        row = selectors.safety_settings()
        return HttpResponseRedirect(reverse("admin:safety_safetysettings_change", args=[row.pk]))

    @admin.display(description=_("standard questions"))
    def standard_questions(self, obj) -> str:
        return format_html(
            "<pre class='honbu-json'>{}</pre>",
            json.dumps(DEFAULT_QUESTIONS, ensure_ascii=False, indent=1),
        )

    def save_model(self, request, obj, form, change):
        configuration.settings_update(
            actor=request.user, **{f: form.cleaned_data[f] for f in form.changed_data}
        )

    def response_change(self, request, obj):
        obj.refresh_from_db()
        return super().response_change(request, obj)


class AssemblyPlaceForm(forms.ModelForm):
    class Meta:
        model = AssemblyPlace
        fields = ("name", "unit", "is_ward_office", "is_active", "coordinators")
        labels = {"unit": _("unit (its staff assemble here when they answer “my own office”)")}


@admin.register(AssemblyPlace)
class AssemblyPlaceAdmin(admin.ModelAdmin):
    form = AssemblyPlaceForm
    list_display = ("name", "unit_name", "is_ward_office", "is_active", "coordinator_names")
    list_filter = ("is_ward_office", "is_active")
    search_fields = ("name", "unit__name")
    autocomplete_fields = ("unit", "coordinators")

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("unit")
            .prefetch_related("coordinators__staff")
        )

    @admin.display(description=_("unit"), ordering="unit__name")
    def unit_name(self, obj: AssemblyPlace) -> str:
        return obj.unit.name if obj.unit_id else "—"

    @admin.display(description=_("coordinators"))
    def coordinator_names(self, obj: AssemblyPlace) -> str:
        return "、".join(u.display_name() for u in obj.coordinators.all()) or "—"

    def has_delete_permission(self, request, obj=None):
        return False  # answers name places: deactivate instead

    def save_model(self, request, obj, form, change):
        configuration.place_save(
            place=obj, actor=request.user, coordinators=form.cleaned_data.get("coordinators") or []
        )

    def save_related(self, request, form, formsets, change):
        pass  # the coordinators were written with the place (one audit entry)


@admin.register(SafetyRound)
class SafetyRoundAdmin(_ReadOnly):
    list_display = ("title", "incident", "status", "started_at", "closed_at", "total", "pages")
    list_filter = ("status", "is_drill")
    search_fields = ("title",)
    date_hierarchy = "started_at"
    list_select_related = ("incident",)
    fields = ("title", "incident", "status", "started_at", "closed_at", "total", "pages")
    readonly_fields = fields

    @admin.display(description=_("pages"))
    def pages(self, obj: SafetyRound) -> str:
        links = [
            (reverse("safety:round_detail", args=[obj.pk]), gettext("Totals")),
            (reverse("safety:assembly_board", args=[obj.pk]), gettext("Assembly")),
            (reverse("safety:round_export", args=[obj.pk, "csv"]), "CSV"),
            (reverse("safety:round_export", args=[obj.pk, "xlsx"]), "Excel"),
        ]
        return format_html_join(" · ", '<a href="{}">{}</a>', links)


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


from .jma import admin as jma_admin  # noqa: E402,F401  (registers the JMA models)
