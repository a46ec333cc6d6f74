"""Ids and numbers that people type (a search box, a form, a batch file's cell, a query string):
read one way everywhere, by the services and selectors as much as by the pages."""

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


def ascii_digits_only(text) -> bool:
    """Whether every digit in `text` is one of 0-9.

    Python reads other scripts' digits as numbers: int("١٢") is 12 (Arabic-Indic), Decimal("２００１")
    is 2001 (full-width), and a regular expression's \\d matches both. A quantity or an id written
    so is refused rather than guessed: the person may not have meant what the number says.
    """
    return not any(char.isnumeric() and not char.isascii() for char in str(text))
