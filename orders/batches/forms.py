"""The batch upload form."""

from __future__ import annotations

from typing import cast

from django import forms

from catalog.selectors import catalog_accounts
from orders.batches.reading import MAX_BYTES, MAX_ROWS
from suppliers.models import SupplierAccount


class BatchUploadForm(forms.Form):
    account: forms.ModelChoiceField[SupplierAccount] = forms.ModelChoiceField(
        queryset=None, label="Supplier account", empty_label=None
    )
    name = forms.CharField(
        max_length=200, required=False, help_text="Optional: defaults to the file's name."
    )
    file = forms.FileField(
        label="File (CSV or XLSX)",
        help_text=f"Up to {MAX_ROWS:,} rows and {MAX_BYTES // 2**20} MB.",
    )
    check_players = forms.BooleanField(
        required=False,
        label="Check players with the supplier",
        help_text="One check per distinct player; slower for large files.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        #: The accounts offered: those with a catalog.
        self.accounts = catalog_accounts()
        cast(forms.ModelChoiceField, self.fields["account"]).queryset = self.accounts
        self.fields["file"].widget.attrs["accept"] = ".csv,.txt,.tsv,.xlsx,.xlsm"
