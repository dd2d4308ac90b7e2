"""Django admin for the directory. Large tables (30,000 staff) use indexed search, raw-id
pickers and no full-count queries. Writes that must be audited go through services."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.core.exceptions import ValidationError
from django.db import models
from django.forms.models import BaseInlineFormSet
from django.utils.translation import gettext_lazy as _

from . import services
from .models import AuditEntry, OrgUnit, Post, PostDeputy, Staff, User
from .onboarding import issue_accounts_action
from .text import normalize


def _copy_saved(saved: models.Model, obj: models.Model) -> None:
    """The admin goes on with its own instance (change message, redirect, related objects):
    give it what the service wrote."""
    for field in saved._meta.concrete_fields:
        setattr(obj, field.attname, getattr(saved, field.attname))


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ("username", "email", "role", "is_active", "last_login")
    list_filter = ("role", "is_active")
    search_fields = ("username", "email", "staff__family_name", "staff__family_kana")
    show_full_result_count = False
    fieldsets = BaseUserAdmin.fieldsets + (
        (_("Honbu"), {"fields": ("role", "language", "must_change_password")}),
    )

    def save_model(self, request, obj, form, change):
        role = form.cleaned_data.get("role", obj.role)
        closing = change and "is_active" in form.changed_data and not obj.is_active
        if closing:
            obj.is_active = True  # the service below deactivates, audits and closes websockets
        super().save_model(request, obj, form, change)
        services.user_set_role(user=obj, role=role, actor=request.user)
        if closing:
            services.user_accounts_close(user_ids=[obj.pk], actor=request.user, reason="admin")


@admin.register(OrgUnit)
class OrgUnitAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "kana", "kind", "parent", "is_active")
    list_filter = ("kind", "is_active", "depth")
    search_fields = ("code", "name", "kana")
    raw_id_fields = ("parent",)
    show_full_result_count = False
    ordering = ("path",)

    def save_model(self, request, obj, form, change):
        fields = {f: form.cleaned_data[f] for f in form.changed_data}
        if change:
            services.unit_update(unit=obj, actor=request.user, **fields)
        else:
            created = services.unit_create(
                code=obj.code,
                name=obj.name,
                kana=obj.kana,
                kind=obj.kind,
                parent=obj.parent,
                sort_order=obj.sort_order,
            )
            obj.pk, obj.path, obj.depth = created.pk, created.path, created.depth


@admin.register(Staff)
class StaffAdmin(admin.ModelAdmin):
    list_display = (
        "employee_number",
        "family_name",
        "given_name",
        "family_kana",
        "given_kana",
        "unit",
        "job_title",
        "is_active",
        "has_account",
    )
    list_filter = ("is_active", "unit__kind", ("user", admin.EmptyFieldListFilter))
    search_fields = ("=employee_number", "search_key", "email")
    raw_id_fields = ("unit", "user")
    list_select_related = ("unit",)
    show_full_result_count = False
    list_per_page = 100
    actions = ["issue_accounts"]

    @admin.action(description=_("Issue sign-in accounts to the selected staff"))
    def issue_accounts(self, request, queryset):
        """Two steps: this action shows the options; posting them issues and returns the sheet."""
        return issue_accounts_action(self, request, queryset)

    @admin.display(boolean=True, description=_("account"))
    def has_account(self, obj: Staff) -> bool:
        return obj.user_id is not None

    def get_search_results(self, request, queryset, search_term):
        # Search the normalised key so kana/width/spaces behave as on the directory page.
        if not search_term:
            return queryset, False
        q = normalize(search_term)
        return queryset.filter(search_key__contains=q) | queryset.filter(
            employee_number=search_term
        ), False

    def save_model(self, request, obj, form, change):
        # Through the services, so search keys and validation are done in one place.
        if change:
            fields = {f: form.cleaned_data[f] for f in form.changed_data}
            saved = services.staff_update(staff=obj, **fields)
        else:
            saved = services.staff_create(**{f: form.cleaned_data[f] for f in form.fields})
        _copy_saved(saved, obj)


class PostDeputyFormSet(BaseInlineFormSet):
    """The deputy list obeys the same rules as services.post_set_deputies: no one twice, not
    the (new) holder, no inactive staff — shown as form errors, nothing saved."""

    def deputies(self) -> list[Staff]:
        rows = [
            f.cleaned_data
            for f in self.forms
            if f.cleaned_data and not f.cleaned_data.get("DELETE") and f.cleaned_data.get("staff")
        ]
        return [r["staff"] for r in sorted(rows, key=lambda r: r.get("rank") or 0)]

    def clean(self):
        super().clean()
        try:
            services.post_deputies_check(
                holder_id=self.instance.holder_id, deputies=self.deputies()
            )
        except ValidationError as exc:
            raise ValidationError(exc.message_dict["deputies"]) from None


class PostDeputyInline(admin.TabularInline):
    model = PostDeputy
    formset = PostDeputyFormSet
    raw_id_fields = ("staff",)
    extra = 2
    ordering = ("rank",)


class PostAdminForm(forms.ModelForm):
    class Meta:
        model = Post
        fields = ("code", "name", "kana", "unit", "holder", "sort_order")

    def clean_holder(self):
        holder = self.cleaned_data.get("holder")
        if holder is not None and not holder.is_active and "holder" in self.changed_data:
            raise ValidationError(services.ERR_INACTIVE_STAFF % {"name": holder.full_name})
        return holder


@admin.register(Post)
class PostAdmin(admin.ModelAdmin):
    """The holder and the deputies are written together by services.post_set_seats (audited),
    never by the form or the inline themselves."""

    form = PostAdminForm
    list_display = ("code", "name", "unit", "holder", "sort_order")
    search_fields = ("code", "name", "kana")
    raw_id_fields = ("unit", "holder")
    list_select_related = ("unit", "holder")
    inlines = [PostDeputyInline]

    def save_model(self, request, obj, form, change):
        # The other fields now; the holder in save_related, together with the deputies.
        fields = {f: form.cleaned_data[f] for f in form.fields if f != "holder"}
        if change:
            changed = {f: v for f, v in fields.items() if f in form.changed_data}
            saved = services.post_update(post=obj, **changed)
        else:
            saved = services.post_create(**fields, actor=request.user)
        _copy_saved(saved, obj)

    def save_formset(self, request, form, formset, change):
        if isinstance(formset, PostDeputyFormSet):
            formset.save(commit=False)  # the admin's change message only; nothing written
        else:
            super().save_formset(request, form, formset, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        deputies = next((f.deputies() for f in formsets if isinstance(f, PostDeputyFormSet)), None)
        if deputies is None:  # no inline on this page: keep the deputies as they are
            deputies = [
                d.staff for d in form.instance.deputies.select_related("staff").order_by("rank")
            ]
        services.post_set_seats(
            post=form.instance,
            holder=form.cleaned_data.get("holder"),
            deputies=deputies,
            actor=request.user,
            reason=str(_("changed in admin")) if change else "",
        )


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ("at", "actor", "action", "target_type", "target_id")
    list_filter = ("action",)
    search_fields = ("action", "target_id")
    date_hierarchy = "at"
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


from . import admin_import  # noqa: E402,F401  (registers ImportJob admin and the import pages)
