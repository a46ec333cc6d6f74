from django.apps import AppConfig


class OrdersConfig(AppConfig):
    """Manual orders and CSV batches, exactly-once submission, polling and the key vault."""

    name = "orders"
    verbose_name = "Orders"
