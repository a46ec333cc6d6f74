from django.apps import AppConfig


class SuppliersConfig(AppConfig):
    """Supplier accounts and the API clients (GamesDrop, CodeGames, Telegram) behind them."""

    name = "suppliers"
    verbose_name = "Suppliers"
