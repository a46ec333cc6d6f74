"""Query strings for list pages: the address a filtered view is shared by."""

from django.http import QueryDict


def without_empty(query: QueryDict, *, drop: tuple[str, ...] = ()) -> str:
    """The query string with empty values (and `drop`ped names) left out."""
    cleaned = QueryDict(mutable=True)
    for name, values in query.lists():
        kept = [value for value in values if value != ""]
        if kept and name not in drop:
            cleaned.setlist(name, kept)
    return cleaned.urlencode()
