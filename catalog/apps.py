from django.apps import AppConfig


class CatalogConfig(AppConfig):
    """Synced supplier offers, price history, settlement compatibility and retail pricing."""

    name = "catalog"
    verbose_name = "Catalog"
