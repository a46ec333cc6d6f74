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

# The demo users `make run` creates (operator, finance, admin) sign in with the printed password
# alone: no second factor is required and the printed password need not be replaced. Anyone may
# still enrol a second factor under "My account"; set DEMO_ONE_STEP_SIGN_IN=false to try the
# sign-in a real back-office has (admins and finance must enrol, handed-over passwords are replaced).
# On unless switched off (unset or empty, as in `.env.example`, counts as on).
DEMO_ONE_STEP_SIGN_IN = env.str("DEMO_ONE_STEP_SIGN_IN", default="").strip().lower() not in {
    "false",
    "0",
    "no",
    "off",
}
if DEMO_ONE_STEP_SIGN_IN:
    TWO_FACTOR_REQUIRED_ROLES = []
