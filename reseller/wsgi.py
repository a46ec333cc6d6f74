"""WSGI entry point, served by gunicorn (see Procfile and reseller/gunicorn_conf.py)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reseller.settings.production")

application = get_wsgi_application()
