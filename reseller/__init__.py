"""The reseller back-office project package: settings, URLs, the Celery app, WSGI."""

from reseller.celery import app as celery_app

__all__ = ["celery_app"]
