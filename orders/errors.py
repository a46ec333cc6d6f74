"""The orders app's refusals: each an ApplicationError whose message is safe to show to staff."""

from reseller.core.errors import ApplicationError


class OrderError(ApplicationError):
    """An order rule refused the request."""


class InvalidTransition(OrderError):
    """A status move that is not in the table of allowed moves (orders.states.TRANSITIONS)."""


class PriceAboveLimit(OrderError):
    """The supplier's current unit price is above the highest price the operator accepts."""


class OrderActionRefused(OrderError):
    """An operator action that does not apply to the order (or batch, or queue) as it is now."""


class AlreadyPlaced(OrderError):
    """The same order form was sent again: its orders exist (`order_ids`), nothing more is
    ordered."""

    def __init__(self, order_ids: list[int]):
        super().__init__("This order form was sent already: its orders were placed once.")
        self.order_ids = order_ids


class SpendRefused(OrderError):
    """A spending limit refused the order or batch: its message gives the limit, what is used
    today and what the request needs. Nothing was ordered."""
