from django import forms
from django.db import models

from reseller.core.forms import number_formfield
from suppliers.models import SupplierAccount


def _form_field(model_field, **kwargs):
    # An address typed without a scheme means https (Django 6's default, taken now).
    if isinstance(model_field, models.URLField):
        kwargs["assume_scheme"] = "https"
    return number_formfield(model_field, **kwargs)


class SupplierAccountForm(forms.ModelForm):
    """Tokens are write-only: the inputs start empty, and an empty input keeps the stored token."""

    shop_token_input = forms.CharField(
        label="Shop token",
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
    )
    management_token_input = forms.CharField(
        label="Management credential (transaction history)",
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
    )
    clear_management_token = forms.BooleanField(
        label="Remove the stored management credential", required=False
    )

    class Meta:
        model = SupplierAccount
        formfield_callback = _form_field
        fields = [
            "name",
            "kind",
            "base_url",
            "user_info_url",
            "rate_limit_per_second",
            "connect_timeout_seconds",
            "call_deadline_seconds",
            "check_offer_id",
            "enabled",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk is None:
            return
        # An account's page asks only for what its supplier's API uses.
        offers = self.instance.capabilities
        if not offers.ledger:
            for name in ("management_token_input", "clear_management_token"):
                del self.fields[name]
        if not offers.telegram_user:
            del self.fields["user_info_url"]
        if offers.balance:
            del self.fields["check_offer_id"]

    def clean(self):
        super().clean()
        data = self.cleaned_data
        if self.instance.pk is None and not data.get("shop_token_input"):
            self.add_error("shop_token_input", "A new account needs its shop token.")
        return data
