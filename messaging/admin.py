"""Admin for command groups. Memberships are edited inline; every change is audited.
Messages are public records: the admin shows them (with every version) and cannot change them."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from directory.services import audit_record

from .models import CommandGroup, GroupMembership, Message, MessageVersion


class MembershipInline(admin.TabularInline):
    model = GroupMembership
    raw_id_fields = ("post", "staff")
    extra = 1


@admin.register(CommandGroup)
class CommandGroupAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "unit", "last_seq", "is_active")
    list_filter = ("kind", "is_active")
    search_fields = ("name",)
    raw_id_fields = ("unit",)
    readonly_fields = ("last_seq", "created_by", "created_at")
    exclude = ("direct_key",)
    inlines = [MembershipInline]

    def get_queryset(self, request):
        return super().get_queryset(request).exclude(kind=CommandGroup.Kind.DIRECT)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)
        audit_record(
            actor=request.user,
            action="group.update" if change else "group.create",
            target=obj,
            data={"changed": form.changed_data},
        )

    def save_formset(self, request, form, formset, change):
        instances = formset.save(commit=False)
        for membership in formset.deleted_objects:
            audit_record(
                actor=request.user,
                action="group.member_remove",
                target=form.instance,
                data={
                    "post": membership.post_id,
                    "staff": membership.staff_id,
                    "role": membership.role,
                },
            )
            membership.delete()
        for membership in instances:
            created = membership.pk is None
            membership.save()
            audit_record(
                actor=request.user,
                action="group.member_add" if created else "group.member_role",
                target=form.instance,
                data={
                    "post": membership.post_id,
                    "staff": membership.staff_id,
                    "role": membership.role,
                },
            )
        formset.save_m2m()


class VersionInline(admin.TabularInline):
    model = MessageVersion
    fields = ("version", "action", "body", "by", "at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "group",
        "seq",
        "sender_name",
        "kind",
        "priority",
        "short",
        "edited_at",
        "deleted_at",
    )
    list_filter = ("kind", "priority", "group__kind")
    search_fields = ("body", "sender_name")
    list_select_related = ("group",)
    show_full_result_count = False
    inlines = [VersionInline]
    readonly_fields = [f.name for f in Message._meta.fields]

    @admin.display(description=_("text"))
    def short(self, obj: Message) -> str:
        return obj.body[:60]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
