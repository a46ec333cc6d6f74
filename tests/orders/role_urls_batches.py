"""Rows of the role x URL table (tests/core/test_role_url_table.py) for the batch pages."""

from tests.core.role_table import SIGN_IN, expect  # noqa: F401

# url name -> (function making reverse() kwargs from the fixtures, expected status per role)
ROWS: dict = {}


def fixtures(make_staff) -> dict:
    """Objects the orders URLs name (an order, a batch ...), created for the table test."""
    return {}
