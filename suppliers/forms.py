from django import forms
from django.db import models
from standardwebhooks import Webhook

from reseller.core.forms import number_formfield
from suppliers.models import SupplierAccount, TelegramMarketplace


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
    webhook_secret_input = forms.CharField(
        label="Webhook signing secret",
        required=False,
        strip=True,
        help_text="The secret the supplier signs its webhooks with (whsec_…). A new one replaces "
        "the current one, which stays valid as the previous secret while the supplier switches.",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
    )
    retire_previous_webhook_secret = forms.BooleanField(
        label="Stop accepting the previous webhook secret", required=False
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

    def clean_webhook_secret_input(self) -> str:
        secret = self.cleaned_data.get("webhook_secret_input", "")
        if secret:
            try:
                Webhook(secret)
            except Exception:
                raise forms.ValidationError(
                    "Not a webhook signing secret: it is base64, usually starting with whsec_."
                ) from None
        return secret

    def clean(self):
        super().clean()
        data = self.cleaned_data
        if self.instance.pk is None and not data.get("shop_token_input"):
            self.add_error("shop_token_input", "A new account needs its shop token.")
        return data


class TelegramMarketplaceForm(forms.ModelForm):
    """The bot token is write-only: the input starts empty, and an empty input keeps it."""

    bot_token_input = forms.CharField(
        label="Bot token",
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
    )

    class Meta:
        model = TelegramMarketplace
        formfield_callback = _form_field
        fields = ["name", "bot_api_url", "report_currency", "enabled"]

    def clean(self):
        super().clean()
        data = self.cleaned_data
        token = data.get("bot_token_input", "")
        if self.instance.pk is None and not token:
            self.add_error("bot_token_input", "A new marketplace needs its bot token.")
        elif token and ("/" in token or any(ch.isspace() for ch in token)):
            self.add_error("bot_token_input", "A bot token has no spaces or slashes.")
        return data
