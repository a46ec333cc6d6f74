import pytest

from tests.conftest import SANDBOX_ADMIN_KEY


@pytest.fixture
def private_sandbox(tmp_path):
    """A sandbox of the test's own (600 offers), for tests that reprice or delist offers."""
    from sandbox.testing import running_sandbox

    with running_sandbox(tmp_path, offers=600, seed=5, admin_key=SANDBOX_ADMIN_KEY) as running:
        yield running


@pytest.fixture
def private_account(private_sandbox, db):
    from suppliers.models import SupplierAccount
    from suppliers.services import supplier_account_save

    def make(profile="MIXED", name="private"):
        remote = private_sandbox.create_account(balance="1000", balance_profile=profile)
        account = supplier_account_save(
            account=SupplierAccount(
                name=f"{name}-{remote['partnerId']}",
                base_url=private_sandbox.url,
                rate_limit_per_second=1000,
            ),
            shop_token=remote["token"],
        )
        account.remote = remote
        return account

    return make
