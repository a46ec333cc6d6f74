from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from reseller.core.models import AuditEvent, Heartbeat

# Staff and their roles are managed on the Staff pages, which keep the audit trail (who changed
# whom, the role before and after). Editing them here would leave no trace there.
admin.site.unregister(get_user_model())
admin.site.unregister(Group)


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: the audit trail is written by services, never edited by hand."""

    list_display = ["created_at", "actor_name", "action", "target_type", "target_id", "ip_address"]
    list_filter = ["action"]
    search_fields = ["actor_name", "action", "target_id"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


admin.site.register(Heartbeat)
admin.site.site_header = "Reseller back-office administration"
