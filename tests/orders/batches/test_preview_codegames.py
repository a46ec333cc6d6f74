"""A batch preview of offers from a supplier without a catalog feed (CodeGames), added by id,
against the sandbox: priced from the catalog like any other, player ids required where find-one
said so, and no balance endpoint called."""

import pytest

from catalog.models import OfferLookupJob
from catalog.offer_lookup import offer_lookup_run
from orders.batches.preview import batch_preview_create
from orders.models import BatchPreviewRow

pytestmark = pytest.mark.django_db

HEADER = "offer_id,quantity,player_id,telegram_username,customer_reference"


def test_a_codegames_batch_previews_like_any_other(sandbox_account, sandbox):
    account = sandbox_account(kind="codegames")
    query = {"settlement": "MIXED", "in_stock": "true", "listed": "true", "limit": 1}
    key = sandbox.admin("GET", "/sandbox/offers", params={**query, "kind": "key"})["offers"][0]
    top_up = sandbox.admin(
        "GET", "/sandbox/offers", params={**query, "kind": "topup", "req_server": "false"}
    )["offers"][0]
    job = OfferLookupJob.objects.create(
        account=account, offer_ids=[key["offerId"], top_up["offerId"]]
    )
    offer_lookup_run(job.pk)

    content = "\n".join(
        [
            HEADER,
            f"{key['offerId']},2,,,K",
            f"{top_up['offerId']},1,51234567,,T",
            f"{top_up['offerId']},1,,,NO-PLAYER",
        ]
    ).encode()
    batch = batch_preview_create(account=account, uploaded_file=content, filename="cg.csv")
    key_row, top_up_row, missing = BatchPreviewRow.objects.filter(batch=batch).order_by(
        "row_number"
    )
    assert not key_row.has_problems and key_row.unit_price is not None
    assert key_row.currency == key["currency"]
    assert not top_up_row.has_problems and top_up_row.game_user_id == "51234567"
    assert missing.has_problems and any("player" in problem for problem in missing.problems)
    assert batch.preview_summary["balance_usd"] is None
    assert "no balance endpoint" in batch.preview_summary["balance_note"]
