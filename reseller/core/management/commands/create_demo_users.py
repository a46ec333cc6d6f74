from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from reseller.core.roles import ROLES
from reseller.core.services import staff_create


class Command(BaseCommand):
    help = (
        "Create one demo staff user per role (operator, finance, admin) with a random password, "
        "printed once. Users that already exist are left as they are."
    )

    def handle(self, *args, **options):
        User = get_user_model()
        created = []
        for role in ROLES.values():
            if User.objects.filter(username=role.name).exists():
                continue
            user, password = staff_create(
                username=role.name,
                email=f"{role.name}@example.com",
                role=role.name,
                handed_over=not settings.DEMO_ONE_STEP_SIGN_IN,
            )
            created.append((role.label, user.username, password))
        if not created:
            self.stdout.write(
                "Demo users operator, finance and admin exist already "
                "(their passwords were printed when they were created; an admin can reset them)."
            )
            return
        self.stdout.write(self.style.SUCCESS("Demo staff users (passwords shown this once):"))
        for label, username, password in created:
            self.stdout.write(f"  {label:<9} user: {username:<9} password: {password}")
        if settings.DEMO_ONE_STEP_SIGN_IN:
            self.stdout.write(
                "They sign in with the password alone (DEMO_ONE_STEP_SIGN_IN). Anyone may add an "
                "authenticator app under My account."
            )
        else:
            self.stdout.write(
                "At the first sign-in each chooses a password of their own; then the roles that "
                f"must have a second factor ({', '.join(settings.TWO_FACTOR_REQUIRED_ROLES)}) scan "
                "a QR code with an authenticator app (any TOTP app) and keep their recovery codes."
            )
