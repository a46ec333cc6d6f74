"""Query strings for list pages: the address a filtered view is shared by."""

from django.http import QueryDict
from django_htmx.http import push_url


def without_empty(query: QueryDict, *, drop: tuple[str, ...] = ()) -> str:
    """The query string with empty values (and `drop`ped names) left out."""
    cleaned = QueryDict(mutable=True)
    for name, values in query.lists():
        kept = [value for value in values if value != ""]
        if kept and name not in drop:
            cleaned.setlist(name, kept)
    return cleaned.urlencode()


def push_clean_url(request, response):
    """For an htmx request, put the tidy address of the filtered view in the address bar."""
    if request.htmx:
        query = without_empty(request.GET)
        push_url(response, f"{request.path}?{query}" if query else request.path)
    return response
