"""Gunicorn settings read from the environment, so the Procfile and docker-compose share one command."""

import os

bind = os.environ.get("WEB_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("WEB_THREADS", "4"))
timeout = int(os.environ.get("WEB_TIMEOUT", "60"))
accesslog = "-"
errorlog = "-"
# The request line is logged; query strings never carry secrets in this project.
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms'
