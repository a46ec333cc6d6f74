"""Money is written one way on every page: the template filters are registered once, in the
core's `money` library, and every app's templates load that one."""

from django.template import engines


def test_each_money_filter_is_registered_by_one_library_only():
    libraries = engines["django"].engine.template_libraries
    for name in ("money",):
        owners = sorted(label for label, library in libraries.items() if name in library.filters)
        assert owners == ["money"], (name, owners)
