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


def _sync_roles_after_migrate(sender, apps=None, **kwargs) -> None:
    # post_migrate is sent once per app that has models, in INSTALLED_APPS order; permissions
    # of every app exist only once the last one has been sent.
    from django.apps import apps as installed

    with_models = [config for config in installed.get_app_configs() if config.models_module]
    if sender.label != with_models[-1].label:
        return
    from reseller.core.roles import sync_role_groups

    sync_role_groups(using=kwargs.get("using", "default"))
