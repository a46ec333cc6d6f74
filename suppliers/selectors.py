from django.db.models import QuerySet

from suppliers.models import SupplierAccount, TelegramMarketplace


def supplier_account_list() -> QuerySet[SupplierAccount]:
    return SupplierAccount.objects.all()


def telegram_marketplace_list() -> QuerySet[TelegramMarketplace]:
    return TelegramMarketplace.objects.all()


def supplier_accounts_enabled() -> QuerySet[SupplierAccount]:
    return SupplierAccount.objects.filter(enabled=True)
