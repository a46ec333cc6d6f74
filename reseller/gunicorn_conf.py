"""Gunicorn settings, so the Procfile and docker-compose share one command.

They are read like every other setting (reseller/settings/base.py): from the environment, or the
`.env` file beside manage.py, where a variable already set in the environment wins.
"""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)
VAR_DIR = Path(env.str("VAR_DIR", default="") or BASE_DIR / "var")  # as in the settings

bind = env.str("WEB_BIND", default="127.0.0.1:8000")
workers = env.int("WEB_CONCURRENCY", default=2)
threads = env.int("WEB_THREADS", default=4)
timeout = env.int("WEB_TIMEOUT", default=60)
accesslog = "-"
errorlog = "-"
# The request line is logged; query strings never carry secrets in this project.
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms'
# gunicornc's control socket lives with this checkout's other runtime files, not in the user's
# home (gunicorn's default), where every checkout on the machine would share one.
control_socket = str(VAR_DIR / "gunicorn.ctl")
