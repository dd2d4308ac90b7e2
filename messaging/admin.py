"""Admin for command groups. Memberships are edited inline; every change is audited.
Messages are public records: the admin shows them (with every version) and cannot change them."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from . import services
from .models import CommandGroup, GroupMembership, Message, MessageVersion
from .services.groups import GROUP_FIELDS


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

    # Every write goes through the services, so the admin's changes are audited like any
    # other and open websockets follow them at once (a member removed here stops receiving
    # the group's messages immediately).
    def save_model(self, request, obj, form, change):
        fields = {
            name: form.cleaned_data[name] for name in form.changed_data if name in GROUP_FIELDS
        }
        if change:
            services.group_update(group=obj, actor=request.user, **fields)
        else:
            created = services.group_create(
                name=obj.name,
                kind=obj.kind,
                unit=obj.unit,
                description=obj.description,
                actor=request.user,
            )
            if not obj.is_active:
                services.group_update(group=created, actor=request.user, is_active=False)
            obj.pk = created.pk
        obj.refresh_from_db()

    def save_formset(self, request, form, formset, change):
        group = form.instance
        # What the admin's change message lists (ModelFormSet.save() would set these).
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for inline in formset.deleted_forms:
            if inline.instance.pk is not None:
                services.group_remove_member(membership=inline.instance, actor=request.user)
                formset.deleted_objects.append(inline.instance)
        for inline in formset.forms:
            if inline in formset.deleted_forms or not inline.has_changed():
                continue
            if not inline.cleaned_data:
                continue
            row = inline.instance
            if row.pk is not None:
                before = GroupMembership.objects.get(pk=row.pk)
                if (before.post_id, before.staff_id) != (row.post_id, row.staff_id):
                    # Another seat on the same row: the old one leaves, the new one joins.
                    services.group_remove_member(membership=before, actor=request.user)
            saved = services.group_add_member(
                group=group,
                actor=request.user,
                post=inline.cleaned_data.get("post"),
                staff=inline.cleaned_data.get("staff"),
                role=inline.cleaned_data["role"],
            )
            if row.pk is None:
                formset.new_objects.append(saved)
            else:
                formset.changed_objects.append((saved, inline.changed_data))


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
