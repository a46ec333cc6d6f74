from django import forms
from django.contrib.auth import get_user_model
from django.db import models

from reseller.core.ids import ascii_digits_only
from reseller.core.roles import ROLES

# --- numbers typed into forms: the digits 0-9 only (reseller.core.ids.ascii_digits_only) ----------

ASCII_DIGITS_MESSAGE = "Write the number with the digits 0-9."


class _AsciiDigits:
    def to_python(self, value):
        if isinstance(value, str) and not ascii_digits_only(value):
            raise forms.ValidationError(ASCII_DIGITS_MESSAGE, code="invalid")
        return super().to_python(value)  # type: ignore[misc]


class IntegerField(_AsciiDigits, forms.IntegerField):
    """A whole number typed with the digits 0-9 ("١٢" is refused, not read as 12)."""


class DecimalField(_AsciiDigits, forms.DecimalField):
    """A decimal typed with the digits 0-9."""


def number_formfield(model_field, **kwargs):
    """A ModelForm's `formfield_callback`: the model's number columns as the fields above."""
    if isinstance(model_field, models.DecimalField):
        kwargs.setdefault("form_class", DecimalField)
    elif isinstance(model_field, models.IntegerField) and not model_field.choices:
        kwargs.setdefault("form_class", IntegerField)
    return model_field.formfield(**kwargs)


ROLE_CHOICES = [(role.name, role.label) for role in ROLES.values()]


class StaffCreateForm(forms.Form):
    username = forms.RegexField(
        regex=r"^[\w.@+-]+$",
        max_length=150,
        error_messages={"invalid": "Letters, digits and @/./+/-/_ only."},
    )
    email = forms.EmailField(required=False)
    role = forms.ChoiceField(choices=ROLE_CHOICES)

    def clean_username(self):
        username = self.cleaned_data["username"]
        if get_user_model().objects.filter(username__iexact=username).exists():
            raise forms.ValidationError("A user with this name already exists.")
        return username


class StaffUpdateForm(forms.Form):
    role = forms.ChoiceField(choices=ROLE_CHOICES)
    is_active = forms.BooleanField(required=False, label="Active (may sign in)")
    may_change_pricing = forms.BooleanField(
        required=False,
        label="May change pricing rules and currency rates",
        help_text="Admins may by their role; give it to someone else who sets prices.",
    )
    may_approve_spending = forms.BooleanField(
        required=False,
        label="May approve spending above the approval threshold",
        help_text="Admins may by their role; nobody approves their own order or batch.",
    )


class CodeForm(forms.Form):
    """A code from the authenticator app, or one of the recovery codes."""

    code = forms.CharField(
        label="Code",
        max_length=32,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "text", "autofocus": True}
        ),
    )


class PasswordConfirmForm(forms.Form):
    password = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password", "autofocus": True}),
    )
