"""Ids that people type (a search box, a batch file's cell, a query string): read one way
everywhere, by the services and selectors as much as by the pages."""

#: The largest id any table here can hold (64-bit signed integers).
MAX_ID = 2**63 - 1


def typed_id(text) -> int | None:
    """The id that typed text names: ASCII digits only, and no larger than MAX_ID; else None.
    ("²".isdigit() is True but int("²") raises; 20 digits overflow the database's integers.)"""
    text = str(text).strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 19:
        return None
    value = int(text)
    return value if value <= MAX_ID else None
