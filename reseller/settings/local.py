"""A developer's machine: `make run`. SQLite and the filesystem broker unless the environment names servers.

`make run` writes a `.env` with freshly generated secrets on first start; the fallbacks below only
serve a bare `manage.py` call before that and are never used by production settings.
"""

from .base import *  # noqa: F403
from .base import FIELD_ENCRYPTION_KEYS, SECRET_KEY, env

DEBUG = env.bool("DJANGO_DEBUG", default=True)
SECRET_KEY = SECRET_KEY or "insecure-local-only-key-run-make-run-to-generate-a-real-one"  # noqa: S105
if not FIELD_ENCRYPTION_KEYS:
    # A fixed key for a developer's throwaway data only; production refuses to start without its own.
    FIELD_ENCRYPTION_KEYS = ["bG9jYWwtZGV2ZWxvcG1lbnQta2V5LW5vdC1zZWNyZXQ="]
