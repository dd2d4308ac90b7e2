"""Admin for the JMA feed: the rule with its codes (written through services, audited), and the
reports the feed saw with what each one did (read-only: a record)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from directory.models import OrgUnit

from . import services
from .models import JmaArea, JmaReport, JmaRule, JmaStep


class JmaAreaInline(admin.TabularInline):
    model = JmaArea
    fields = ("kind", "code", "name", "unit")
    raw_id_fields = ("unit",)
    extra = 1


@admin.action(description=_("Fill in 大阪市's 24 wards, 大阪府北部 and the 大阪府 tsunami area"))
def fill_osaka(modeladmin, request, queryset):
    city = OrgUnit.objects.filter(depth=0, kind=OrgUnit.Kind.CITY).order_by("pk").first()
    if city is None:
        modeladmin.message_user(request, _("There is no city unit."), messages.ERROR)
        return
    added = sum(
        services.jma_areas_fill_osaka(rule=rule, city=city, actor=request.user) for rule in queryset
    )
    modeladmin.message_user(request, _("%(n)s codes added.") % {"n": added})


@admin.register(JmaRule)
class JmaRuleAdmin(admin.ModelAdmin):
    list_display = ("__str__", "enabled", "propose_at", "declare_at", "tsunami_declares")
    inlines = [JmaAreaInline]
    actions = [fill_osaka]

    def has_add_permission(self, request):
        return super().has_add_permission(request) and not JmaRule.objects.exists()

    def save_model(self, request, obj, form, change):
        services.jma_rule_save(rule=obj, actor=request.user, changed=list(form.changed_data))

    def save_formset(self, request, form, formset, change):
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for inline in formset.deleted_forms:
            if inline.instance.pk is not None:
                services.jma_area_delete(area=inline.instance, actor=request.user)
                formset.deleted_objects.append(inline.instance)
        for inline in formset.forms:
            if inline in formset.deleted_forms or not inline.has_changed():
                continue
            area = inline.save(commit=False)
            area.rule = form.instance
            is_new = area.pk is None
            services.jma_area_save(area=area, actor=request.user)
            if is_new:
                formset.new_objects.append(area)
            else:
                formset.changed_objects.append((area, inline.changed_data))


class JmaStepInline(admin.TabularInline):
    model = JmaStep
    fields = ("step", "event_id", "is_drill", "strength", "incident", "round", "cancelled_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(JmaReport)
class JmaReportAdmin(admin.ModelAdmin):
    list_display = (
        "seen_at",
        "kind",
        "event_id",
        "status",
        "info_type",
        "intensity",
        "outcome",
        "state",
    )
    list_filter = ("state", "outcome", "kind", "status")
    search_fields = ("event_id", "entry_id")
    inlines = [JmaStepInline]

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in JmaReport._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
