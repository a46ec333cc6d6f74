from django.db.models import QuerySet

from suppliers.models import SupplierAccount


def supplier_account_list() -> QuerySet[SupplierAccount]:
    return SupplierAccount.objects.all()


def supplier_accounts_enabled() -> QuerySet[SupplierAccount]:
    return SupplierAccount.objects.filter(enabled=True)
