"""Query strings for list pages: the address a filtered view is shared by, and the ids people type
into them."""

from django.http import QueryDict


def without_empty(query: QueryDict, *, drop: tuple[str, ...] = ()) -> str:
    """The query string with empty values (and `drop`ped names) left out."""
    cleaned = QueryDict(mutable=True)
    for name, values in query.lists():
        kept = [value for value in values if value != ""]
        if kept and name not in drop:
            cleaned.setlist(name, kept)
    return cleaned.urlencode()


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
