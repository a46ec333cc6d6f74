import os

from django.core.management.base import BaseCommand

from suppliers.models import SupplierAccount
from suppliers.services import supplier_account_save

DEMO_NAME = "Sandbox supplier (demo)"


class Command(BaseCommand):
    help = (
        "Create or refresh the demo supplier account pointing at the sandbox that `make run` starts "
        "(SANDBOX_URL or SANDBOX_HOST and SANDBOX_PORT, SANDBOX_DEMO_TOKEN, SANDBOX_DEMO_MANAGEMENT_TOKEN)."
    )

    def handle(self, *args, **options):
        token = os.environ.get("SANDBOX_DEMO_TOKEN", "")
        if not token:
            self.stdout.write("SANDBOX_DEMO_TOKEN is not set: no demo supplier account.")
            return
        host = os.environ.get("SANDBOX_HOST", "127.0.0.1")
        port = os.environ.get("SANDBOX_PORT", "8100")
        local_url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port}"  # noqa: S104
        account = SupplierAccount.objects.filter(name=DEMO_NAME).first() or SupplierAccount(
            name=DEMO_NAME, rate_limit_per_second=50
        )
        account.base_url = os.environ.get("SANDBOX_URL") or local_url
        supplier_account_save(
            account=account,
            shop_token=token,
            management_token=os.environ.get("SANDBOX_DEMO_MANAGEMENT_TOKEN", ""),
        )
        self.stdout.write(f"Demo supplier account {DEMO_NAME!r} points at {account.base_url}.")
