"""Settings shared by every environment, read from the environment through one `env` object.

Every value that differs between a developer's machine and production comes from an environment
variable (or the `.env` file beside manage.py); `.env.example` lists them all.
"""

from datetime import timedelta
from pathlib import Path

import environ
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# Runtime files of a machine without servers (SQLite database, file broker, beat schedule, static
# files): var/ of the checkout unless VAR_DIR names another folder (`make chaos` runs in its own).
VAR_DIR = Path(env.str("VAR_DIR", default="") or BASE_DIR / "var")

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# Fernet keys for secrets at rest (supplier tokens, product keys and PINs). The first key encrypts;
# every key decrypts. Rotate by putting a new key first, running `manage.py rotate_encryption_keys`,
# then dropping the old key.
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    "django_filters",
    "axes",
    "csp",
    # Before reseller.core, whose admin.py takes the TOTP device out of the Django admin. The
    # back-office's own devices (reseller.core.models) check codes with otp_totp's TOTPDevice
    # methods; otp_totp's own table stays empty.
    "django_otp",
    "django_otp.plugins.otp_totp",
    "reseller.core",
    "suppliers",
    "catalog",
    "orders",
    "finance",
    "dashboard",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Every page needs a signed-in user unless its view says otherwise (@login_not_required).
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "reseller.core.middleware.no_store_when_signed_in",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Ends a signed-in session that was idle too long or has outlived its lifetime (after
    # MessageMiddleware and HtmxMiddleware: it leaves a message and answers htmx in kind).
    "reseller.core.sessions.SessionLifetimeMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "reseller.urls"
WSGI_APPLICATION = "reseller.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "reseller.core.context_processors.navigation",
                "dashboard.context_processors.alerts",
            ],
            "builtins": ["template_partials.templatetags.partials"],
        },
    },
]

# SQLite (the default on a fresh machine) runs in WAL mode with IMMEDIATE transactions, so the web
# server, the worker and beat can share one file without "database is locked" errors. Readers never
# wait; a writer waits up to 45 s for another's transaction (a large batch confirmation holds one for
# a minute or less), which stays inside gunicorn's 60 s request timeout.
# An empty variable counts as unset, as in `.env.example`.
DATABASE_URL = env.str("DATABASE_URL", default="") or f"sqlite:///{VAR_DIR / 'db.sqlite3'}"
DATABASES = {"default": env.db_url_config(DATABASE_URL)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "init_command": (
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=45000;"
            ),
            "transaction_mode": "IMMEDIATE",
        }
    )
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# One Redis server serves the broker and the cache when REDIS_URL is set. Without it the cache is
# a database table, which every process shares, so rate limits and throttles hold across processes.
#
# Redis is a helper, not the truth: with it away, the "default" cache (django-redis) turns every
# error into a miss (IGNORE_EXCEPTIONS) after a short timeout and logs it
# (DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS), so pages answer, only slower. The "ratelimit" alias is the
# same server without IGNORE_EXCEPTIONS: the shared rate limiter must see an outage as an outage
# (an ignored `add` returns None, which would read as "slot taken"); suppliers/ratelimit.py catches
# it in one place and refuses to send rather than guess.
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    _REDIS_OPTIONS = {
        "SOCKET_CONNECT_TIMEOUT": env.float("REDIS_CONNECT_TIMEOUT_SECONDS", default=0.5),
        "SOCKET_TIMEOUT": env.float("REDIS_TIMEOUT_SECONDS", default=0.5),
    }
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="reseller"),
            "OPTIONS": {**_REDIS_OPTIONS, "IGNORE_EXCEPTIONS": True},
        },
        "ratelimit": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="reseller"),
            "OPTIONS": {**_REDIS_OPTIONS, "IGNORE_EXCEPTIONS": False},
        },
    }
    DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "reseller_cache",
        },
        # The same table: the limiter's keys live beside the rest, as before.
        "ratelimit": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "reseller_cache",
        },
    }

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": env.int("PASSWORD_MIN_LENGTH", default=12)},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard:dashboard"
LOGOUT_REDIRECT_URL = "login"

# Login throttling: five failures for one username from one address lock that pair out for 15 minutes.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# A wrong second-factor code counts as a failed sign-in too; the count is reset only when someone
# is signed in, after both steps, so re-entering the password does not buy more guesses.
AXES_RESET_ON_SUCCESS = True
AXES_IPWARE_META_PRECEDENCE_ORDER = ["REMOTE_ADDR"]
# What axes masks in the failed attempts it keeps: a password, and a second-factor or recovery code.
AXES_SENSITIVE_PARAMETERS = ["password", "code"]
AXES_VERBOSE = False

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# No inline script anywhere: htmx is configured through a <meta> tag and its inline indicator
# styles are switched off there, so the policy needs no 'unsafe-inline'.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        "base-uri": [SELF],
        "object-src": [NONE],
    },
}
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True

# Signing in (reseller/core/signin.py). After the password, people with a second factor give its
# code; people of these roles must have one (they are sent to enrol before anything else).
TWO_FACTOR_REQUIRED_ROLES = env.list("TWO_FACTOR_REQUIRED_ROLES", default=["admin", "finance"])
# The role names of reseller/core/roles.py: a misspelt one would quietly require nothing.
if set(TWO_FACTOR_REQUIRED_ROLES) - {"operator", "finance", "admin"}:
    raise ImproperlyConfigured(
        "TWO_FACTOR_REQUIRED_ROLES takes role names: operator, finance, admin (comma-separated)."
    )
# Revealing or exporting keys, changing a supplier account or staff asks for the code (or, for
# someone without a second factor, the password) again when the last proof is older than this.
FRESH_PROOF_MAX_AGE = timedelta(minutes=env.int("FRESH_PROOF_MINUTES", default=5))
# A signed-in session ends after this long without a request, and this long after signing in
# whatever happens (reseller/core/sessions.py).
SESSION_IDLE_TIMEOUT = timedelta(minutes=env.int("SESSION_IDLE_MINUTES", default=30))
SESSION_ABSOLUTE_LIFETIME = timedelta(hours=env.int("SESSION_LIFETIME_HOURS", default=12))
SESSION_COOKIE_AGE = int(SESSION_ABSOLUTE_LIFETIME.total_seconds())
# Sessions live in the database: a person's sessions are ended by deleting their rows (an admin
# deactivating them or resetting their second factor, "Sign out everywhere").
SESSION_ENGINE = "django.contrib.sessions.backends.db"
# `make run`'s demo users sign in with their password alone (reseller/settings/local.py).
DEMO_ONE_STEP_SIGN_IN = False
OTP_TOTP_ISSUER = "Reseller back-office"

EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="back-office@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# Celery. The broker defaults to kombu's filesystem transport under var/, so a fresh machine needs
# no server; production names Redis. No result backend: long jobs report through their own rows.
BROKER_DIR = VAR_DIR / "broker"
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="") or REDIS_URL or "filesystem://"
if CELERY_BROKER_URL.startswith("filesystem://"):
    # kombu's transport, with each message written whole before a worker can see it.
    CELERY_BROKER_TRANSPORT = "reseller.core.filebroker:Transport"
    # The transport expects its folders to exist; every process (web, worker, beat) may be first.
    for folder in ("queue", "control"):
        (BROKER_DIR / folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
        # How long a worker with a free slot waits before it looks for a message again (kombu's
        # default is 1 s, which held a batch to about 2 orders a second per worker).
        "polling_interval": env.float("FILE_BROKER_POLLING_SECONDS", default=0.05),
    }
else:
    # A task is redelivered if its worker dies; the visibility timeout must outlast the longest task.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Queues by who is waiting (reseller/core/queues.py): people, batches, background, mail.
WORK_QUEUE_PREFIX = ""
CELERY_TASK_DEFAULT_QUEUE = "background"
CELERY_TASK_ROUTES = ("reseller.core.queues.route_task",)
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=300)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=360)
CELERY_WORKER_CONCURRENCY = env.int("CELERY_WORKER_CONCURRENCY", default=2)
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_TIMEZONE = TIME_ZONE

# The one place every periodic job is declared. Exactly one beat process runs it.
CELERY_BEAT_SCHEDULE = {
    "heartbeat": {
        "task": "reseller.core.tasks.record_heartbeat",
        "schedule": 30.0,
        "options": {"expires": 25},
    },
    # Claims due polls, recovers lost submissions and expired leases, resumes funded accounts.
    "orders-sweep": {
        "task": "orders.tasks.sweep_orders",
        "schedule": 5.0,
        "options": {"expires": 5},
    },
    # Telegram reports of completed sales whose message was lost or whose retry is due.
    "orders-gift-reports-sweep": {
        "task": "orders.tasks.sweep_gift_reports",
        "schedule": 30.0,
        "options": {"expires": 25},
    },
    # Supplier webhooks received whose processing task was lost.
    "orders-webhook-events-sweep": {
        "task": "orders.tasks.sweep_webhook_events",
        "schedule": 30.0,
        "options": {"expires": 25},
    },
    "catalog-sync": {
        "task": "catalog.tasks.sync_all_catalogs",
        "schedule": 60.0 * env.int("CATALOG_SYNC_MINUTES", default=60),
        "options": {"expires": 600},
    },
    # Finance: a balance snapshot of every account (alerts are judged on each), the ledger sync.
    "finance-balance-snapshots": {
        "task": "finance.tasks.snapshot_all_balances",
        "schedule": 60.0 * env.int("BALANCE_SNAPSHOT_MINUTES", default=5),
        "options": {"expires": 120},
    },
    "finance-ledger-sync": {
        "task": "finance.tasks.sync_all_ledgers",
        "schedule": 60.0
        * env.int("LEDGER_SYNC_MINUTES", default=15),  # FINANCE_LEDGER_SYNC_MINUTES
        "options": {"expires": 600},
    },
    # Job rows (catalog sync, ledger sync, reconciliation): fails the ones whose worker died,
    # re-sends the ones whose message was lost (reseller/core/jobs.py).
    "jobs-rescue": {
        "task": "reseller.core.tasks.rescue_jobs",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
}
# A running job silent (no heartbeat) for this long has lost its worker and is failed. A queued
# job unclaimed this long after it was created is sent once more, and failed when that message
# is unclaimed as long too (reseller/core/jobs.py).
JOB_HEARTBEAT_TIMEOUT = timedelta(minutes=env.int("JOB_HEARTBEAT_TIMEOUT_MINUTES", default=10))
JOB_CLAIM_TIMEOUT = timedelta(minutes=env.int("JOB_CLAIM_TIMEOUT_MINUTES", default=10))
# Orders (orders/schedule.py). A QUEUED order no worker claimed this long after it was queued
# (its message was lost, e.g. with Redis) is sent again by the sweep.
ORDERS_QUEUED_RESCUE_AFTER = timedelta(seconds=env.int("ORDER_QUEUED_RESCUE_SECONDS", default=300))
# The status-call back-off of an order pending at the supplier: the wait after its 1st, 2nd ...
# status call since it was last sent, then ORDER_POLL_DELAY_CAP_SECONDS between calls.
ORDERS_POLL_DELAYS = tuple(
    env.list("ORDER_POLL_DELAYS_SECONDS", cast=int, default=[5, 10, 20, 30, 60, 120, 180])
)
ORDERS_POLL_DELAY_CAP = env.int("ORDER_POLL_DELAY_CAP_SECONDS", default=300)
if (
    ORDERS_QUEUED_RESCUE_AFTER.total_seconds() <= 0
    or ORDERS_POLL_DELAY_CAP <= 0
    or any(delay <= 0 for delay in ORDERS_POLL_DELAYS)
):
    raise ImproperlyConfigured(
        "ORDER_QUEUED_RESCUE_SECONDS, ORDER_POLL_DELAYS_SECONDS and ORDER_POLL_DELAY_CAP_SECONDS "
        "take whole seconds above zero."
    )
# Reading an uploaded batch file (orders/batches/uploads.py). Its task is sent again when no
# worker took it this long after it was sent; a reading worker stamps its heartbeat this often,
# and one silent this long has died (or was stopped): the file is read again by another, at most
# ORDERS_BATCH_READ_ATTEMPTS times in all, then refused saying so.
ORDERS_BATCH_READ_RESEND_AFTER = timedelta(seconds=env.int("BATCH_READ_RESEND_SECONDS", default=60))
ORDERS_BATCH_READ_HEARTBEAT_EVERY = timedelta(
    seconds=env.int("BATCH_READ_HEARTBEAT_SECONDS", default=5)
)
ORDERS_BATCH_READ_SILENT_AFTER = timedelta(
    seconds=env.int("BATCH_READ_SILENT_SECONDS", default=120)
)
ORDERS_BATCH_READ_ATTEMPTS = env.int("BATCH_READ_ATTEMPTS", default=3)
if (
    min(ORDERS_BATCH_READ_RESEND_AFTER, ORDERS_BATCH_READ_HEARTBEAT_EVERY).total_seconds() <= 0
    or ORDERS_BATCH_READ_ATTEMPTS <= 0
    # A reader that beats less often than it is deemed dead would be read again while alive.
    or ORDERS_BATCH_READ_HEARTBEAT_EVERY >= ORDERS_BATCH_READ_SILENT_AFTER
):
    raise ImproperlyConfigured(
        "BATCH_READ_RESEND_SECONDS, BATCH_READ_HEARTBEAT_SECONDS, BATCH_READ_SILENT_SECONDS and "
        "BATCH_READ_ATTEMPTS take whole numbers above zero, the heartbeat shorter than the silence."
    )
FINANCE_BALANCE_SNAPSHOT_MINUTES = env.int("BALANCE_SNAPSHOT_MINUTES", default=5)
# A page showing a balance older than this asks a worker for a fresh one (in the background).
FINANCE_BALANCE_FRESH_MINUTES = env.int("BALANCE_FRESH_MINUTES", default=3)
# How often beat syncs each ledger: a ledger that ends less than this before a period's end is
# as fresh as the schedule keeps it, not out of date.
FINANCE_LEDGER_SYNC_MINUTES = env.int("LEDGER_SYNC_MINUTES", default=15)
# A low-balance alert is emailed when raised and at most once per this period while it lasts.
FINANCE_ALERT_PERIOD_HOURS = env.int("LOW_BALANCE_ALERT_PERIOD_HOURS", default=24)
# The runway divides the balance by the average daily spend over this many days.
FINANCE_SPEND_WINDOW_DAYS = env.int("SPEND_WINDOW_DAYS", default=7)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact_secrets": {"()": "reseller.core.redaction.RedactSecretsFilter"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["redact_secrets"],
        },
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # urllib3 logs request lines at DEBUG; a Telegram bot token travels in the URL path.
        "urllib3": {"level": "WARNING"},
        "django.db.backends": {"level": "INFO"},
    },
}
