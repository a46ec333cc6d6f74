"""The batch state machine: the table of allowed moves and the functions that apply it.

```
READING ──file read──> PREVIEW      READING ──file cannot be read──> REFUSED
PREVIEW ──Confirm──> CONFIRMING ──orders created──> CONFIRMED ──first order claimed──> RUNNING
   ^                     │                              │                                 │
   └── not orderable ────┘                              └───────── no open order ─────────┴─> DONE
       as previewed                                                                            │
                                                        RUNNING <── an order open again ───────┘
CONFIRMED / RUNNING ──Pause──> PAUSED ──Resume──> the status it was paused in
PREVIEW ──> CONFIRMED: a batch the engine built with its orders is confirmed directly
PREVIEW ──Confirm, above the approval threshold──> AWAITING ──approved──> CONFIRMING
                                                      └──rejected──> REJECTED
```

An order open again in a DONE batch is a retry or a late purchase. A batch discarded (reading,
refused or in preview) is deleted, not moved.

`batch_transition` moves one batch the caller has read (normally under its row lock);
`batches_transition` moves every batch of a queryset that is in a status the move may start from,
in one UPDATE. Both write only a row whose status is still one the move starts from (compare and
set, as `orders.states.order_transition` does), and both refuse a move the table does not have:
they are the only writers of `Batch.status`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from orders.errors import InvalidTransition
from orders.models import Batch
from orders.signals import batch_finished
from orders.states import refuse_move

B = Batch.Status

#: The allowed moves. Anything else raises InvalidTransition.
TRANSITIONS: dict[str, frozenset[str]] = {
    # Uploaded: a worker reads the stored file into the preview, or refuses it saying why.
    B.READING: frozenset({B.PREVIEW, B.REFUSED}),
    B.REFUSED: frozenset(),
    # Confirmed by an operator: a worker creates the file's orders. A batch built by the engine
    # (its orders created with it) is confirmed directly.
    B.PREVIEW: frozenset({B.CONFIRMING, B.CONFIRMED, B.AWAITING}),
    # Above the approval threshold: a second person approves (its orders are then created) or
    # rejects it (nothing is ordered).
    B.AWAITING: frozenset({B.CONFIRMING, B.REJECTED}),
    B.REJECTED: frozenset(),
    # Its orders exist; or they could not be created as previewed (nothing was ordered).
    B.CONFIRMING: frozenset({B.CONFIRMED, B.PREVIEW}),
    # A worker claimed its first order; an operator paused it; it had no open order.
    B.CONFIRMED: frozenset({B.RUNNING, B.PAUSED, B.DONE}),
    B.RUNNING: frozenset({B.PAUSED, B.DONE}),
    # Resumed: back to where it was.
    B.PAUSED: frozenset({B.CONFIRMED, B.RUNNING}),
    # One of its orders is open again (a retry, a late purchase, an order added).
    B.DONE: frozenset({B.RUNNING}),
}


def batch_can_move(from_status: str, to_status: str) -> bool:
    return to_status in TRANSITIONS.get(from_status, frozenset())


def batch_sources(to_status: str) -> frozenset[str]:
    """The statuses the table lets a batch move to `to_status` from."""
    return frozenset(status for status, targets in TRANSITIONS.items() if to_status in targets)


def batch_transition(
    batch: Batch, to: str, *, changes: dict | None = None, now: datetime | None = None
) -> Batch:
    """Move `batch` from the status it has (`batch.status`, as the caller read it) to `to`; raise
    InvalidTransition if the table does not allow it, or if the row's status is no longer the one
    the caller read. `changes` are other columns written in the same UPDATE. Updates `batch` in
    place and returns it."""
    to = B(to)
    current = batch.status
    fields = {**(changes or {}), "status": to, "updated_at": now or timezone.now()}
    moved = 0
    if batch_can_move(current, to):
        moved = Batch.objects.filter(pk=batch.pk, status=current).update(**fields)
    if not moved:
        refuse_move(Batch, batch.pk, to, B)
    for name, value in fields.items():
        setattr(batch, name, value)
    return batch


def batches_transition(
    batches: QuerySet[Batch],
    to: str,
    *,
    from_statuses: Iterable[str] | None = None,
    changes: dict | None = None,
    now: datetime | None = None,
) -> int:
    """Move to `to` every batch of `batches` whose status is one of `from_statuses` (by default,
    every status the table lets move to `to`), in one UPDATE; return how many moved. A batch in
    another status is left as it is: this is the compare and set of moves that may have been
    made already by someone else (the first of a batch's orders claimed by two workers at once).
    A from-status the table does not allow is refused before anything is written."""
    to = B(to)
    sources = batch_sources(to)
    if from_statuses is not None:
        wanted: frozenset[str] = frozenset(B(status) for status in from_statuses)
        if not wanted <= sources:
            refused = ", ".join(sorted(B(status).label for status in wanted - sources))
            raise InvalidTransition(
                f"A batch cannot move from {refused} to {to.label}.",
                extra={"from": sorted(wanted - sources), "to": str(to)},
            )
        sources = wanted
    stamp = now or timezone.now()
    fields = {**(changes or {}), "status": to, "updated_at": stamp}
    moved = batches.filter(status__in=sorted(sources)).update(**fields)
    if moved and to == B.DONE:
        # The batches this call finished (a query only when some did): once it commits, finance
        # takes a balance snapshot of each account they spent from.
        finished = batches.filter(status=to, updated_at=stamp)
        accounts = list(finished.values_list("account_id", flat=True).distinct())
        transaction.on_commit(lambda: batch_finished.send(sender=Batch, account_ids=accounts))
    return moved
