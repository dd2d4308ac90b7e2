"""Admin pages for bulk import of the HR roster and the unit list (owned by the import work)."""

from django.contrib import admin

from .models import ImportJob


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = ("created_at", "kind", "filename", "status", "uploaded_by", "applied_at")
    list_filter = ("kind", "status")
    readonly_fields = ("kind", "filename", "encoding", "deactivate_missing", "status", "summary",
                       "errors", "uploaded_by", "created_at", "applied_at")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
