"""What orders tells the apps above it, without importing them (finance reads orders, never
the other way round)."""

from django.dispatch import Signal

#: Sent after the commit that moved batches to DONE, with `account_ids`: the supplier accounts
#: they spent from (finance takes a fresh balance snapshot of each).
batch_finished = Signal()

#: Sent when a page's look-up read an account's balance from the supplier (the batch preview),
#: with `account` and `balance` (the client's result): finance keeps it as a snapshot, so every
#: page shows the same balance.
balance_seen = Signal()
