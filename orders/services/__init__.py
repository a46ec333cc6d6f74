"""Writes of the orders app: creating orders, sending them exactly once, following them, the
sweep, operator actions, the key vault and delivery.

How one order is bought exactly once (architecture.md, "Exactly-once rules"):

1. `order_create` commits each order with its own `transactionId` before anything is sent.
2. `order_submit` claims the order in a short transaction (row lock with SKIP LOCKED, status
   SUBMITTING, a lease longer than the call can take), commits, and only then calls
   create-order. It records the answer in a second short transaction. No supplier call is ever
   made inside a transaction.
3. Anything that may have created the order (timeout, reset, 5xx, unreadable answer, a lease
   that expired because the worker died) is UNKNOWN, resolved by order-status with the same
   `transactionId`: found → follow it; ORDER_NOT_FOUND → QUEUED, sent again with the same id.
   TRANSACTION_DUPLICATE proves an earlier send landed: it is followed up the same way.
   A supplier without order-status by transactionId (CodeGames) cannot resolve it and promises
   no TRANSACTION_DUPLICATE: the order is never sent again; it needs a person (`lost_answers`).
4. A new `transactionId` is issued only by `order_retry`, for a REJECTED order, once
   order-status confirms that no order exists under the old one (a refusal proves only that
   the refused call created nothing); the old one stays in `OrderTransactionId`. A late answer
   or status showing a purchase under a refused or withdrawn order's `transactionId` is never
   dropped: the order needs attention and is followed.
5. Refusals are final answers: WRONG_PRICE is re-quoted with find-one and re-sent (same id) only
   within the operator's `max_unit_price`; INSUFFICIENT_BALANCE holds the account's queue.
6. Keys are stored, encrypted, in the transaction that moves the order to COMPLETED.

No supplier call is made inside a transaction: in the worker's path every call happens in a
`_*_send` / `*_fetch` step between two short transactions, separate functions so tests can stop a
worker between any two of them; operator actions (retry, re-check, withdraw) and the account
queue's balance check call the supplier before they open theirs.

One module per concern; everything the views, tasks and other apps use is imported here:

- `limits`: the numbers the services work by; `records`: prices as the supplier wrote them,
  transaction ids, claim tokens, what staff may read about a failure; `moving`: the locked
  re-read of an order and moving it;
- `creating`: orders from the manual form and from batch rows;
- `submitting`: claim, create-order, record (rules 2 to 5);
- `following`: an answer read into the order, keys stored, polling and UNKNOWN resolved;
- `account_queue`: the hold on INSUFFICIENT_BALANCE and its release;
- `sweep`: the beat-driven rebuild of all pending work from the rows;
- `lost_answers`: a lost create-order answer on a supplier that cannot look an order up by
  transactionId (CodeGames): never sent again, a person finds out and records it (`actions`);
- `actions`, `vault`, `delivery`: what operators do with orders.

Also exported here, from their own modules: sending tasks after commit (`orders.dispatch`) and the
writes of batches (`orders.batches.services`).
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from orders.batches.services import (  # noqa: F401
    batch_confirm,
    batch_create,
    batch_pause,
    batch_refresh_done,
    batch_resume,
    batch_send,
)
from orders.dispatch import (  # noqa: F401
    BATCH_SUBMIT_CHUNK,
    enqueue_after_commit,
    enqueue_poll_after_commit,
    enqueue_submit_after_commit,
    send_batch_orders,
    send_tasks,
)
from orders.services.account_queue import (  # noqa: F401
    account_queue_check,
    account_queue_hold,
    account_queue_resume,
    release_held_orders,
)
from orders.services.actions import (  # noqa: F401
    order_mark_resolved,
    order_recheck,
    order_record_found,
    order_record_not_bought,
    order_retry,
    order_withdraw,
)
from orders.services.creating import (  # noqa: F401
    OrderLine,
    batch_orders_create,
    order_again_refusal,
    order_create,
)
from orders.services.delivery import order_deliver  # noqa: F401
from orders.services.following import (  # noqa: F401
    PollClaim,
    SupplierAnswer,
    apply_answer,
    complete_keys,
    order_poll,
    order_resolve_unknown,
    poll_claim,
    poll_fetch,
    poll_record,
)
from orders.services.limits import (  # noqa: F401
    DELIVERY_CLAIM,
    ERROR_TEXT_LIMIT,
    MAX_QUANTITY,
    MAX_SENDS_PER_TASK,
    MAX_SUBMIT_ATTEMPTS,
    MIN_POLL_GAP,
    RATE_LIMITED_RETRY,
    RELEASE_CHUNK,
    REQUOTE_FAILED_RETRY,
    SWEEP_LIMIT,
    TRANSACTION_ID_PREFIX,
)
from orders.services.moving import (  # noqa: F401
    order_lock,
    order_move,
)
from orders.services.records import (  # noqa: F401
    error_data,
    error_text,
    money,
    new_claim_token,
    new_transaction_id,
)
from orders.services.submitting import Next, SubmitClaim, order_submit  # noqa: F401
from orders.services.sweep import SweepReport, orders_sweep  # noqa: F401
from orders.services.vault import batch_keys_export, order_key_reveal  # noqa: F401


@dataclass(frozen=True)
class OperatorAction:
    label: str
    permission: str
    service: Callable[..., Any]


#: The operator actions a view may call by name, each with the permission it needs.
ORDER_ACTIONS = {
    "retry": OperatorAction("Retry", "orders.change_order", order_retry),
    "recheck": OperatorAction("Re-check status", "orders.change_order", order_recheck),
    "withdraw": OperatorAction("Cancel (withdraw)", "orders.change_order", order_withdraw),
    "mark_resolved": OperatorAction("Mark resolved", "orders.change_order", order_mark_resolved),
    "resend": OperatorAction("Re-send to the customer", "orders.change_order", order_deliver),
    # After a lost create-order answer on a supplier without status by transactionId.
    "record_found": OperatorAction(
        "Found at the supplier", "orders.change_order", order_record_found
    ),
    "record_not_bought": OperatorAction(
        "Not bought", "orders.change_order", order_record_not_bought
    ),
}


#: A batch's "confirm" is the preview's (orders.batches.preview.PREVIEW_ACTIONS): it creates the
#: orders of the uploaded file's good rows before confirming.
BATCH_ACTIONS = {
    "pause": OperatorAction("Pause", "orders.change_batch", batch_pause),
    "resume": OperatorAction("Resume", "orders.change_batch", batch_resume),
}


ACCOUNT_QUEUE_ACTIONS = {
    "resume": OperatorAction(
        "Resume the queue", "orders.change_accountqueue", account_queue_resume
    ),
}
