"""The supplier-account chooser of the pages that show one account at a time: the catalog and its
pricing rules, the finance overview, the ledger and reconciliation. A page shows the account its
request names (`?account=`, or `account` in the form it posts) among those the page offers, else
the first of them. Its template half, the select that switches between them, is
suppliers/account_chooser.html."""

from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import QuerySet
from django.http import Http404

from suppliers.models import SupplierAccount


@dataclass(frozen=True)
class AccountChooser:
    """Chooses among the accounts `offered()` gives: each app offers its own."""

    offered: Callable[[], QuerySet[SupplierAccount]]

    def chosen(self, request) -> tuple[SupplierAccount | None, list[SupplierAccount]]:
        """The account the page shows (None when none is offered; 404 when the request names
        one that is not offered) and the accounts offered, as a list for the chooser."""
        accounts = list(self.offered())
        wanted = request.GET.get("account") or request.POST.get("account")
        if wanted:
            for account in accounts:
                if str(account.pk) == wanted:
                    return account, accounts
            raise Http404("No such supplier account.")
        return (accounts[0] if accounts else None), accounts

    def required(self, request) -> SupplierAccount:
        """The chosen account, for an action that needs one: 404 when there is none."""
        account, _ = self.chosen(request)
        if account is None:
            raise Http404("No supplier account.")
        return account
