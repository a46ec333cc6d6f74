"""Pages of the catalog browser."""

from __future__ import annotations

from django.core.paginator import Page, Paginator
from django.db.models import Count, QuerySet, Window


def offer_page(queryset: QuerySet, number, *, per_page: int, counted_with_rows: bool) -> Page:
    """The page `number` of `queryset`, out-of-range and bad numbers handled as Paginator.get_page
    does.

    With `counted_with_rows`, the page's rows and the total come from one query (COUNT(*) OVER ()).
    That pays when the database must visit every match anyway to find one page, as for a text
    search sorted by any column: the separate COUNT would repeat that whole visit. Without a search
    an index often hands the rows over in order and stops at the page; counting in the same query
    would then read every row, so the separate COUNT (often index-only) is kept.
    """
    paginator = Paginator(queryset, per_page)
    try:
        wanted = int(number)
    except (TypeError, ValueError):
        wanted = 1
    if not counted_with_rows or wanted < 1:
        return paginator.get_page(number)
    start = (wanted - 1) * per_page
    rows = list(queryset.annotate(total_matches=Window(Count("pk")))[start : start + per_page])
    if not rows:
        # Nothing matches, or past the last page: Paginator counts and picks the page as usual.
        return paginator.get_page(number)
    paginator.count = rows[0].total_matches  # fills the cached property: no second COUNT
    return Page(rows, wanted, paginator)
