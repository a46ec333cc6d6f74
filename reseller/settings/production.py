"""Production: PostgreSQL, Redis, gunicorn behind a TLS proxy, mail through SMTP. Refuses to start
without its secrets."""

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import DATABASES, EMAIL_CONFIG, FIELD_ENCRYPTION_KEYS, SECRET_KEY, env

DEBUG = False

_missing = [
    name
    for name, value in [
        ("SECRET_KEY", SECRET_KEY),
        ("FIELD_ENCRYPTION_KEYS", FIELD_ENCRYPTION_KEYS),
        ("DATABASE_URL", env.str("DATABASE_URL", default="")),
        ("ALLOWED_HOSTS", env.str("ALLOWED_HOSTS", default="")),
        ("EMAIL_URL", env.str("EMAIL_URL", default="")),
    ]
    if not value
]
if _missing:
    raise ImproperlyConfigured(
        "Production settings need these environment variables: " + ", ".join(_missing)
    )
if len(SECRET_KEY) < 40:
    raise ImproperlyConfigured("SECRET_KEY must be at least 40 characters long.")
# Customers' keys and top-up confirmations go out by mail: the console would print the keys to
# the log in clear, and memory, dummy or files would drop them while the orders look delivered.
if EMAIL_CONFIG["EMAIL_BACKEND"] != "django.core.mail.backends.smtp.EmailBackend":
    raise ImproperlyConfigured(
        "Production mails customers their keys: EMAIL_URL must name an SMTP server "
        "(smtp://, smtp+tls:// or smtp+ssl://user:password@host:port), not "
        f"{env.str('EMAIL_URL').split(':', 1)[0]}://, which would print, keep or drop the mail "
        "instead of sending it."
    )
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3" and not env.bool(
    "ALLOW_SQLITE_IN_PRODUCTION", default=False
):
    raise ImproperlyConfigured(
        "Production runs on PostgreSQL: set DATABASE_URL to a postgres:// URL."
    )

if env.bool("DEMO_ONE_STEP_SIGN_IN", default=False):
    raise ImproperlyConfigured(
        "DEMO_ONE_STEP_SIGN_IN is for a developer's machine only: production requires the second "
        "factor and replaces handed-over passwords."
    )

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# TLS ends at the proxy in front of gunicorn.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 30)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SESSION_COOKIE_SAMESITE = "Lax"
# Behind the proxy the client address is the first X-Forwarded-For entry; axes throttles on it.
AXES_IPWARE_PROXY_COUNT = env.int("AXES_PROXY_COUNT", default=1)
AXES_IPWARE_META_PRECEDENCE_ORDER = ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"]

ADMINS = [("Admin", addr) for addr in env.list("ADMIN_EMAILS", default=[])]
