from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CoreConfig(AppConfig):
    """Cross-cutting pieces: roles, audit events, encrypted fields, the worker heartbeat."""

    name = "reseller.core"
    label = "core"
    verbose_name = "Back-office core"

    def ready(self) -> None:
        from reseller.core import signals  # noqa: F401  (connects the login audit receivers)

        # Groups follow roles.py after every migrate, so permissions added by later apps reach them.
        post_migrate.connect(_sync_roles_after_migrate, dispatch_uid="core.sync_role_groups")


def _sync_roles_after_migrate(sender, **kwargs) -> None:
    if sender.label != "core":
        return
    from reseller.core.roles import sync_role_groups

    sync_role_groups(using=kwargs.get("using", "default"))
