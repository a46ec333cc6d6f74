"""Money is written one way on every page: the template filters are registered once, in the
core's `money` library, and every app's templates load that one."""

from django.template import engines


def test_each_money_filter_is_registered_by_one_library_only():
    libraries = engines["django"].engine.template_libraries
    for name in ("money", "usd"):
        owners = sorted(label for label, library in libraries.items() if name in library.filters)
        assert owners == ["money"], (name, owners)


def test_no_page_writes_a_money_figure_with_floatformat():
    """Balances, totals, costs, prices and amounts go through `money` or `usd`: floatformat
    rounds a price of a fraction of a cent away and writes none as an empty cell."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    money_name = re.compile(
        r"\{\{\s*[\w.]*(balance|owed|total|cost|amount|price)[\w.]*\|floatformat"
    )
    found = [
        f"{path.relative_to(root)}: {match.group(0)}"
        for path in root.glob("*/**/templates/**/*.html")
        if ".venv" not in path.parts
        for match in money_name.finditer(path.read_text())
    ]
    assert found == []
