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
                username=role.name, email=f"{role.name}@example.com", role=role.name
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
