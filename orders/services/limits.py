"""The numbers the order services work by: how many, how often, how long."""

from datetime import timedelta

TRANSACTION_ID_PREFIX = "rb-"


MAX_QUANTITY = 500


# create-order calls one submit task may make for one order (re-sends after WRONG_PRICE).
MAX_SENDS_PER_TASK = 3


# Beyond this many create-order calls an order whose price keeps moving is rejected.
MAX_SUBMIT_ATTEMPTS = 10


# A second poll of one order within this gap is skipped (a duplicated task), unless forced.
MIN_POLL_GAP = timedelta(seconds=2)


SWEEP_LIMIT = 500


RELEASE_CHUNK = 500


RATE_LIMITED_RETRY = timedelta(seconds=30)


REQUOTE_FAILED_RETRY = timedelta(seconds=60)


DELIVERY_CLAIM = timedelta(minutes=5)


ERROR_TEXT_LIMIT = 1000
