"""The test suite: whatever DATABASE_URL / REDIS_URL the environment names (CI names PostgreSQL and Redis)."""

import os
import uuid

from .base import *  # noqa: F403
from .base import DATABASES, VAR_DIR

DEBUG = False
SECRET_KEY = "test-only-secret-key"  # noqa: S105
FIELD_ENCRYPTION_KEYS = [
    "dGVzdC1lbmNyeXB0aW9uLWtleS1vbmUtMzItYnl0ZXM=",
]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = False
ALLOWED_HOSTS = ["*"]

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not the in-memory default, so a worker subprocess started by a test sees the same data;
    # named after the process, so two test runs on one machine never share it.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-db-{os.getpid()}.sqlite3")}

INSTALLED_APPS = [*INSTALLED_APPS, "tests.testapp"]  # noqa: F405

# Parallel test processes (pytest-xdist, or two people's runs) may share one Redis and one broker:
# each process keeps its own cache keys and its own Celery queues. A worker or other subprocess
# that a test starts is handed both names (tests/conftest.py: subprocess_env) and so shares them.
_PROCESS = f"test-{os.getpid()}-{uuid.uuid4().hex[:6]}"
for _alias in CACHES.values():  # noqa: F405
    _alias["KEY_PREFIX"] = os.environ.get("RESELLER_TEST_CACHE_PREFIX") or _PROCESS
WORK_QUEUE_PREFIX = os.environ.get("RESELLER_TEST_QUEUE_PREFIX") or f"{_PROCESS}-"
CELERY_TASK_DEFAULT_QUEUE = WORK_QUEUE_PREFIX + "background"
