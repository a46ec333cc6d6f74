from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.models import Group
from django.contrib.auth.views import redirect_to_login
from django_otp.plugins.otp_totp.models import TOTPDevice

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

# django-otp's own admin page for its TOTP devices shows a secret and its QR code: no one but their
# owner may see those (the back-office's AuthenticatorApp and RecoveryCodes have no admin page).
# Admins reset a person's second factor from the Staff page.
if admin.site.is_registered(TOTPDevice):
    admin.site.unregister(TOTPDevice)


@login_not_required
def _sign_in_through_the_back_office(request, extra_context=None):
    """The Django admin's own sign-in form asks for the password only: everyone signs in through
    the back-office's, with its second factor, and comes back."""
    return redirect_to_login(request.GET.get("next") or request.path.removesuffix("login/"))


admin.site.login = _sign_in_through_the_back_office  # type: ignore[method-assign]
