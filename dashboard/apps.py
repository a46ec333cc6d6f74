from django.apps import AppConfig


class DashboardConfig(AppConfig):
    """The top floor: the dashboard and the base layout's alerts banner, which read every app
    below (orders, finance); nothing imports it."""

    name = "dashboard"
    verbose_name = "Dashboard"
