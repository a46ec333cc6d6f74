from django.db.models import QuerySet

from suppliers.models import SupplierAccount


def supplier_account_list() -> QuerySet[SupplierAccount]:
    return SupplierAccount.objects.all()


def supplier_accounts_enabled() -> QuerySet[SupplierAccount]:
    return SupplierAccount.objects.filter(enabled=True)


def account_chosen(accounts, wanted: str | None):
    """The account a page shows: the one named by its `?account=` (404 if it is not among
    `accounts`), else the first. Returns (account or None, accounts as a list)."""
    from django.http import Http404

    accounts = list(accounts)
    if wanted:
        for account in accounts:
            if str(account.pk) == wanted:
                return account, accounts
        raise Http404("No such supplier account.")
    return (accounts[0] if accounts else None), accounts


def account_required(accounts, wanted: str | None):
    """Like `account_chosen`, for actions that need an account: 404 when there is none."""
    from django.http import Http404

    account, _ = account_chosen(accounts, wanted)
    if account is None:
        raise Http404("No supplier account.")
    return account
