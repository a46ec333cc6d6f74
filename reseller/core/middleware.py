"""Response headers every signed-in page carries."""

from django.utils.cache import add_never_cache_headers


def no_store_when_signed_in(get_response):
    """A signed-in page is never kept by the browser or a proxy (`Cache-Control: no-store`):
    balances, customers and orders must not come back from a cache after sign-out, nor on a
    shared computer through the Back button."""

    def middleware(request):
        response = get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            add_never_cache_headers(response)
        return response

    return middleware
