"""Benchmarks print figures (`make bench`); they assert only that the work was really done.

Each prints one block headed `BENCH <name>` so the figures can be copied into an issue note.
"""

import pytest

from tests.conftest import SANDBOX_ADMIN_KEY


def report(name: str, figures: dict[str, object]) -> None:
    width = max(len(key) for key in figures)
    lines = [f"BENCH {name}"] + [f"  {key:<{width}}  {value}" for key, value in figures.items()]
    print("\n" + "\n".join(lines))


@pytest.fixture(scope="session")
def big_sandbox(tmp_path_factory):
    """A sandbox with 50,000 offers (the size the catalog benchmarks compare against)."""
    from sandbox.testing import running_sandbox

    with running_sandbox(
        tmp_path_factory.mktemp("bench-sandbox"),
        offers=50_000,
        seed=1,
        admin_key=SANDBOX_ADMIN_KEY,
        timeout=180,
    ) as running:
        yield running
