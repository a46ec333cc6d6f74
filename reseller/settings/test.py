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

# Parallel test processes (pytest-xdist) may share one Redis: keep their cache keys apart. A
# subprocess started by a test inherits the variable and so shares its parent's keys.
CACHES["default"]["KEY_PREFIX"] = f"test-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"  # noqa: F405

# Each test run sends its tasks to a queue of its own; a worker that a test starts (it inherits
# the variable) consumes that queue, so parallel test runs never take each other's tasks.
CELERY_TASK_DEFAULT_QUEUE = os.environ.setdefault(
    "RESELLER_TEST_QUEUE", f"test-{uuid.uuid4().hex[:10]}"
)
