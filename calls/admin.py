"""Calls in the Django admin: read only. A call is a public record; nothing here changes one
(the services write them; the chronology at /calls/records/ exports them)."""

from __future__ import annotations

from django.contrib import admin

from .models import Call, MissedCallRoute, Participant


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ParticipantInline(admin.TabularInline):
    model = Participant
    fields = ("name", "post_name", "role", "joined_at", "left_at", "left_reason", "muted")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Call)
class CallAdmin(ReadOnly):
    list_display = (
        "started_at",
        "kind",
        "caller_name",
        "callee_name",
        "group",
        "state",
        "outcome",
        "answered_at",
        "ended_at",
    )
    list_filter = ("kind", "state", "outcome")
    search_fields = ("caller_name", "callee_name", "group__name")
    date_hierarchy = "started_at"
    inlines = [ParticipantInline]
    list_select_related = ("group",)


@admin.register(MissedCallRoute)
class MissedCallRouteAdmin(ReadOnly):
    list_display = ("key", "group", "created_at")
